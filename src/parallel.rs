//! Sequence parallel solving: one long sequence cut along T into slices, one
//! per rank of a group the caller runs (threads, processes, machines), in rank
//! order; the caller's [`Neighbours`] carry the only exchange: the states
//! between slices, their cotangents, and the parameters' gradient sum.
//!
//! Forward: each rank solves its slice at once from a guessed entry state
//! (zero; rank 0 from the sequence's initial state), then receives the true
//! entry state from the previous rank and solves again only a prefix of its
//! slice from it, doubling the prefix until the state at its end agrees with
//! the guessed trajectory's (a contracting recurrence forgets its entry
//! state), and sends its exit state on. Backward: each rank's gradients from a
//! zero cotangent at its exit, then the true cotangent from the next rank,
//! whose effect (linear in it) is computed on a suffix of the slice, doubling
//! until it has faded at the suffix's start; the entry's cotangent goes back.
//! A cell that never forgets corrects its whole slice: right, but no faster.
//!
//! Every state must be an output of the same name (its value after each step,
//! as `output h;` gives): a slice's exit state and the cotangent on it are
//! that output's last step.

use std::collections::BTreeMap;

use rnnc_runtime::ForwardReport;
use rnnc_runtime::data::{BoundData, Tensor};

use crate::engine::{CompiledCell, Engine, RunError, RunOptions};

/// The transport between the ranks of one sequence's group. Vectors are one
/// per state of the cell, `[B, size]` each, in declaration order.
pub trait Neighbours {
    /// This rank's place in the sequence (0: its first slice).
    fn rank(&self) -> usize;
    /// How many ranks (slices) the sequence has.
    fn world(&self) -> usize;
    /// Sends this slice's exit states to the next rank.
    fn send_next(&mut self, states: &[Vec<f32>]) -> Result<(), String>;
    /// Receives the previous rank's exit states (`lens` words each).
    fn recv_prev(&mut self, lens: &[usize]) -> Result<Vec<Vec<f32>>, String>;
    /// Sends the cotangents of this slice's entry states to the previous rank.
    fn send_prev(&mut self, cotangents: &[Vec<f32>]) -> Result<(), String>;
    /// Receives the cotangents of this slice's exit states from the next rank.
    fn recv_next(&mut self, lens: &[usize]) -> Result<Vec<Vec<f32>>, String>;
    /// Sums `values` over every rank, in place (an all-reduce).
    fn sum(&mut self, values: &mut [f32]) -> Result<(), String>;
}

/// How far the corrections go before they are taken as exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Corrections {
    /// Steps of the first prefix (forward) and suffix (backward); doubled until
    /// they agree.
    pub steps: usize,
    /// States agree when `|a - b| <= atol + rtol |b|` for every element.
    pub atol: f32,
    /// See `atol`.
    pub rtol: f32,
    /// A cotangent has faded when every element is below `fade` times the
    /// largest incoming one (plus `atol / 10`).
    pub fade: f32,
}

impl Default for Corrections {
    fn default() -> Self {
        Corrections { steps: 64, atol: 1e-5, rtol: 1e-4, fade: 1e-4 }
    }
}

/// One rank's data: the parameters, its slice of the inputs (`[B, T_r, ...]`),
/// and the sequence's initial states (read on rank 0 only; zero where absent).
#[derive(Clone, Debug, Default)]
pub struct SliceData {
    /// Every parameter, by name.
    pub params: BTreeMap<String, Tensor>,
    /// This rank's slice of every input.
    pub inputs: Vec<(String, Tensor)>,
    /// The sequence's initial states.
    pub init: Vec<(String, Tensor)>,
}

/// One rank's forward: its slice's outputs, what the backward needs.
#[derive(Debug)]
pub struct SliceForward {
    /// The data it solved.
    pub data: SliceData,
    /// The slice's outputs, `[B, T_r, ...]`, in the cell's order.
    pub outputs: Vec<(String, Tensor)>,
    /// The true entry states, `[B, ...]`.
    pub entry: Vec<(String, Tensor)>,
    /// The steps solved again from the true entry state (0 on rank 0).
    pub prefix_steps: usize,
    /// The steps of the backward's correction (after `backward_slice`).
    pub suffix_steps: usize,
    /// Every solve's report, forward and backward.
    pub reports: Vec<ForwardReport>,
}

fn transport(error: String) -> RunError {
    RunError::Transport(error)
}

/// Steps `start..stop` of a `[B, T, ...]` tensor.
fn steps_of(tensor: &Tensor, start: usize, stop: usize) -> Result<Tensor, RunError> {
    let shape = tensor.shape();
    let (batch, steps) = (shape[0], shape[1]);
    let per_step: usize = shape[2..].iter().product();
    let mut data = Vec::with_capacity(batch * (stop - start) * per_step);
    for b in 0..batch {
        data.extend_from_slice(&tensor.data()[(b * steps + start) * per_step..(b * steps + stop) * per_step]);
    }
    let mut sliced = shape.to_vec();
    sliced[1] = stop - start;
    Ok(Tensor::new(sliced, data)?)
}

/// Step `t` of a `[B, T, ...]` tensor, `[B, ...]`.
fn step_of(tensor: &Tensor, t: usize) -> Result<Tensor, RunError> {
    let stepped = steps_of(tensor, t, t + 1)?;
    let (mut shape, data) = stepped.into_parts();
    shape.remove(1);
    Ok(Tensor::new(shape, data)?)
}

fn agree(a: &Tensor, b: &Tensor, corrections: &Corrections) -> bool {
    a.data().iter().zip(b.data()).all(|(x, y)| (x - y).abs() <= corrections.atol + corrections.rtol * y.abs())
}

fn slice_inputs(inputs: &[(String, Tensor)], start: usize, stop: usize) -> Result<Vec<(String, Tensor)>, RunError> {
    inputs.iter().map(|(n, t)| Ok((n.clone(), steps_of(t, start, stop)?))).collect()
}

impl CompiledCell {
    /// The states' names, each also an output's, or why sequence parallel
    /// solving cannot run this cell.
    fn state_outputs(&self) -> Result<Vec<String>, RunError> {
        let cell = &self.derived().cell;
        let states: Vec<String> = cell.states.values().map(|s| s.name.clone()).collect();
        let missing: Vec<&str> =
            states.iter().filter(|s| !cell.outputs.values().any(|o| &o.name == *s)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(RunError::NotSliceable(format!(
                "cell `{}`: sequence parallel solving needs every state as an output of the same name; {} is not",
                cell.name,
                missing.join(", ")
            )));
        }
        Ok(states)
    }

    fn output<'a>(outputs: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
        &outputs.iter().find(|(n, _)| n == name).expect("every state is an output (state_outputs)").1
    }

    /// This rank's slice of one sequence solved across `neighbours`' group.
    pub fn forward_slice(
        &self,
        engine: &Engine,
        slice: SliceData,
        options: &RunOptions,
        corrections: &Corrections,
        neighbours: &mut dyn Neighbours,
    ) -> Result<SliceForward, RunError> {
        let states = self.state_outputs()?;
        let rank = neighbours.rank();
        let (params, inputs) = (&slice.params, &slice.inputs[..]);
        let guess = if rank == 0 { slice.init.clone() } else { Vec::new() };
        let data = self.bind(params.clone(), inputs.to_vec(), guess)?;
        let steps = data.seq_len();
        let forward = self.forward(engine, &data, options)?;
        let mut reports = vec![forward.report];
        let mut outputs = forward.outputs;
        let entry_of = |data: &BoundData| -> Vec<(String, Tensor)> {
            states.iter().cloned().zip(data.inits().iter().cloned()).collect()
        };
        let mut entry = entry_of(&data);
        let mut prefix_steps = 0;
        if rank > 0 {
            let lens: Vec<usize> = entry.iter().map(|(_, t)| t.len()).collect();
            let received = neighbours.recv_prev(&lens).map_err(transport)?;
            for ((_, tensor), values) in entry.iter_mut().zip(received) {
                *tensor = Tensor::new(tensor.shape().to_vec(), values)?;
            }
            let mut k = corrections.steps.max(1);
            loop {
                let stop = k.min(steps);
                let part = self.bind(params.clone(), slice_inputs(inputs, 0, stop)?, entry.clone())?;
                let solved = self.forward(engine, &part, options)?;
                reports.push(solved.report);
                let agrees = stop == steps
                    || states.iter().try_fold(true, |all, s| {
                        let new = step_of(Self::output(&solved.outputs, s), stop - 1)?;
                        let old = step_of(Self::output(&outputs, s), stop - 1)?;
                        Ok::<bool, RunError>(all && agree(&new, &old, corrections))
                    })?;
                if agrees {
                    splice(&mut outputs, &solved.outputs);
                    prefix_steps = stop;
                    break;
                }
                k *= 2;
            }
        }
        if rank + 1 < neighbours.world() {
            let exits = states
                .iter()
                .map(|s| Ok(step_of(Self::output(&outputs, s), steps - 1)?.into_parts().1))
                .collect::<Result<Vec<_>, RunError>>()?;
            neighbours.send_next(&exits).map_err(transport)?;
        }
        Ok(SliceForward { data: slice, outputs, entry, prefix_steps, suffix_steps: 0, reports })
    }

    /// The gradients of `sum over outputs of sum(douts * outputs)` for this
    /// rank's slice after [`CompiledCell::forward_slice`] (`forward`), keyed as
    /// `Gradients::keyed`: `param.*` summed over the group (every rank gets the
    /// whole sequence's), `input.*` this slice's, `init.*` the sequence's
    /// initial states' (rank 0; zero elsewhere).
    pub fn backward_slice(
        &self,
        engine: &Engine,
        douts: &[(String, Tensor)],
        forward: &mut SliceForward,
        options: &RunOptions,
        corrections: &Corrections,
        neighbours: &mut dyn Neighbours,
    ) -> Result<Vec<(String, Tensor)>, RunError> {
        let states = self.state_outputs()?;
        let (rank, world) = (neighbours.rank(), neighbours.world());
        // The forward's fields borrowed apart: its data read, its reports grown.
        let SliceForward { data: slice, outputs, entry, reports, suffix_steps, .. } = forward;
        let (params, inputs) = (&slice.params, &slice.inputs[..]);
        let data = self.bind(params.clone(), inputs.to_vec(), entry.clone())?;
        let steps = data.seq_len();
        let mut grads = self.keyed_backward(engine, &data, douts.to_vec(), options, reports)?;
        if rank + 1 < world {
            let lens: Vec<usize> = entry.iter().map(|(_, t)| t.len()).collect();
            let cotangents = neighbours.recv_next(&lens).map_err(transport)?;
            let scale = cotangents.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
            let mut k = corrections.steps.max(1);
            loop {
                let start = steps.saturating_sub(k);
                let init = if start == 0 {
                    entry.clone()
                } else {
                    states
                        .iter()
                        .map(|s| Ok((s.clone(), step_of(Self::output(outputs, s), start - 1)?)))
                        .collect::<Result<Vec<_>, RunError>>()?
                };
                let part = self.bind(params.clone(), slice_inputs(inputs, start, steps)?, init)?;
                let late = self.exit_cotangents(&part, &states, &cotangents)?;
                let delta = self.keyed_backward(engine, &part, late, options, reports)?;
                let faded = delta.iter().filter(|(k, _)| k.starts_with("init.")).all(|(_, t)| {
                    t.data().iter().all(|v| v.abs() <= corrections.atol / 10.0 + corrections.fade * scale)
                });
                if start == 0 || faded {
                    for ((key, total), (_, part)) in grads.iter_mut().zip(&delta) {
                        if key.starts_with("param.") {
                            add(total, part);
                        } else if key.starts_with("input.") {
                            add_steps(total, part, start);
                        } else if start == 0 {
                            add(total, part);
                        }
                    }
                    *suffix_steps = steps - start;
                    break;
                }
                k *= 2;
            }
        }
        if rank > 0 {
            let entry: Vec<Vec<f32>> =
                grads.iter().filter(|(k, _)| k.starts_with("init.")).map(|(_, t)| t.data().to_vec()).collect();
            neighbours.send_prev(&entry).map_err(transport)?;
            for (_, tensor) in grads.iter_mut().filter(|(k, _)| k.starts_with("init.")) {
                tensor.data_mut().fill(0.0);
            }
        }
        for (_, tensor) in grads.iter_mut().filter(|(k, _)| k.starts_with("param.")) {
            neighbours.sum(tensor.data_mut()).map_err(transport)?;
        }
        Ok(grads)
    }

    /// Zero cotangents but `cotangents` on the last step of each state's output.
    fn exit_cotangents(
        &self,
        data: &BoundData,
        states: &[String],
        cotangents: &[Vec<f32>],
    ) -> Result<Vec<(String, Tensor)>, RunError> {
        let cell = &self.derived().cell;
        let mut douts = Vec::new();
        for output in cell.outputs.values() {
            let size = output.size;
            let per_step = data.dims().of(size) as usize;
            let steps = data.seq_len();
            let mut values = vec![0f32; data.batch() * steps * per_step];
            if let Some(s) = states.iter().position(|s| s == &output.name) {
                for b in 0..data.batch() {
                    let at = (b * steps + steps - 1) * per_step;
                    values[at..at + per_step].copy_from_slice(&cotangents[s][b * per_step..(b + 1) * per_step]);
                }
            }
            let shape = crate::runtime::data::layout::shape_of(
                &crate::runtime::data::layout::output_axes(size),
                cell,
                data.dims(),
                data.batch(),
                steps,
            )?;
            douts.push((output.name.clone(), Tensor::new(shape, values)?));
        }
        Ok(douts)
    }

    /// A forward with its tape and the backward on it: the gradients keyed
    /// `param.*`, `input.*`, `init.*`; both reports kept.
    fn keyed_backward(
        &self,
        engine: &Engine,
        data: &BoundData,
        douts: Vec<(String, Tensor)>,
        options: &RunOptions,
        reports: &mut Vec<ForwardReport>,
    ) -> Result<Vec<(String, Tensor)>, RunError> {
        let (_, tape) = self.forward_tape(engine, data, options)?;
        let (gradients, report) = self.backward_tape(engine, data, tape, douts)?;
        reports.push(report);
        Ok(gradients.keyed().into_iter().map(|(k, t)| (k, t.clone())).collect())
    }
}

/// `part`'s outputs (a prefix of the steps) written over the first steps of `outputs`.
fn splice(outputs: &mut [(String, Tensor)], part: &[(String, Tensor)]) {
    for ((_, total), (_, piece)) in outputs.iter_mut().zip(part) {
        let (shape, piece_shape) = (total.shape().to_vec(), piece.shape().to_vec());
        let per_step: usize = shape[2..].iter().product();
        let (steps, len) = (shape[1], piece_shape[1]);
        for b in 0..shape[0] {
            let (to, from) = (b * steps * per_step, b * len * per_step);
            total.data_mut()[to..to + len * per_step].copy_from_slice(&piece.data()[from..from + len * per_step]);
        }
    }
}

fn add(total: &mut Tensor, part: &Tensor) {
    for (t, p) in total.data_mut().iter_mut().zip(part.data()) {
        *t += p;
    }
}

/// `part` (`[B, T - start, ...]`) added to steps `start..` of `total`.
fn add_steps(total: &mut Tensor, part: &Tensor, start: usize) {
    let shape = total.shape().to_vec();
    let per_step: usize = shape[2..].iter().product();
    let (steps, len) = (shape[1], part.shape()[1]);
    for b in 0..shape[0] {
        let to = (b * steps + start) * per_step;
        let from = b * len * per_step;
        for (t, p) in
            total.data_mut()[to..to + len * per_step].iter_mut().zip(&part.data()[from..from + len * per_step])
        {
            *t += p;
        }
    }
}
