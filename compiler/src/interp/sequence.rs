//! Whole sequences: the sequential recurrence over T steps for a batch, and its
//! gradients by backpropagation through time. Slow and simple: the reference.

use super::eval::{Interpreter, check_vectors};
use super::values::{InterpError, param_len};
use crate::arena::Handle;
use crate::derive::{Derivatives, ResultDerivatives};

/// A batch of input sequences and initial states. Layouts are row-major: an
/// input is `[batch, steps, D]`, an initial state `[batch, H]`.
#[derive(Clone, Copy, Debug)]
pub struct Sequences<'a> {
    /// The number of sequences, B.
    pub batch: usize,
    /// The number of steps, T.
    pub steps: usize,
    /// One `[B, T, D]` array per input.
    pub inputs: &'a [&'a [f64]],
    /// One `[B, H]` array per state, `None` for zeros; an empty slice makes every
    /// initial state zero.
    pub initial: &'a [Option<&'a [f64]>],
}

/// The result of running a batch of sequences.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceRun {
    /// The new value of each state at every step: `[B, T, H]` per state.
    pub states: Vec<Vec<f64>>,
    /// Each output at every step: `[B, T, H]` per output.
    pub outputs: Vec<Vec<f64>>,
}

/// Gradients of `sum over outputs of sum(dout * output)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceGradients {
    /// With respect to each parameter, in its storage layout.
    pub params: Vec<Vec<f64>>,
    /// With respect to each input, `[B, T, D]`.
    pub inputs: Vec<Vec<f64>>,
    /// With respect to each initial state, `[B, H]`.
    pub initial: Vec<Vec<f64>>,
}

impl Interpreter<'_> {
    fn check_sequences(&self, sequences: &Sequences<'_>) -> Result<(), InterpError> {
        let (b, t) = (sequences.batch, sequences.steps);
        let input_lens: Vec<usize> = self.input_lens().iter().map(|d| b * t * d).collect();
        check_vectors("inputs", sequences.inputs, &input_lens, |i| format!("input number {i} [B, T, D]"))?;
        if !sequences.initial.is_empty() {
            let state_lens = self.state_lens();
            if sequences.initial.len() != state_lens.len() {
                return Err(InterpError::WrongCount {
                    what: "initial states",
                    expected: state_lens.len(),
                    found: sequences.initial.len(),
                });
            }
            for (i, (initial, h)) in sequences.initial.iter().zip(state_lens).enumerate() {
                if let Some(values) = initial
                    && values.len() != b * h
                {
                    return Err(InterpError::WrongLength {
                        what: format!("initial state number {i} [B, H]"),
                        expected: b * h,
                        found: values.len(),
                    });
                }
            }
        }
        Ok(())
    }

    fn initial_state(&self, sequences: &Sequences<'_>, batch: usize) -> Vec<Vec<f64>> {
        self.state_lens()
            .into_iter()
            .enumerate()
            .map(|(i, h)| match sequences.initial.get(i).copied().flatten() {
                Some(values) => values[batch * h..(batch + 1) * h].to_vec(),
                None => vec![0.0; h],
            })
            .collect()
    }

    fn step_inputs(&self, sequences: &Sequences<'_>, batch: usize, step: usize) -> Vec<Vec<f64>> {
        let t = sequences.steps;
        self.input_lens()
            .into_iter()
            .zip(sequences.inputs)
            .map(|(d, values)| values[(batch * t + step) * d..(batch * t + step + 1) * d].to_vec())
            .collect()
    }

    /// Runs the recurrence step by step over every sequence of the batch.
    pub fn run_sequence(&self, sequences: &Sequences<'_>) -> Result<SequenceRun, InterpError> {
        self.check_sequences(sequences)?;
        let (b, t) = (sequences.batch, sequences.steps);
        let mut states: Vec<Vec<f64>> = self.state_lens().iter().map(|h| vec![0.0; b * t * h]).collect();
        let mut outputs: Vec<Vec<f64>> = self.output_lens().iter().map(|h| vec![0.0; b * t * h]).collect();
        for batch in 0..b {
            let mut state = self.initial_state(sequences, batch);
            for step in 0..t {
                let inputs = self.step_inputs(sequences, batch, step);
                let evaluation = self.evaluate(&as_slices(&inputs), &as_slices(&state))?;
                state = self.updates(&evaluation);
                for (all, new) in states.iter_mut().zip(&state) {
                    let h = new.len();
                    all[(batch * t + step) * h..(batch * t + step + 1) * h].copy_from_slice(new);
                }
                for (all, new) in outputs.iter_mut().zip(self.outputs(&evaluation)) {
                    let h = new.len();
                    all[(batch * t + step) * h..(batch * t + step + 1) * h].copy_from_slice(&new);
                }
            }
        }
        Ok(SequenceRun { states, outputs })
    }

    /// The gradients of `sum over outputs o of sum(douts[o] * o)` (each `douts[o]`
    /// `[B, T, H]`) with respect to the parameters, the inputs and the initial
    /// states, by backpropagation through time with the derivatives
    /// `derivatives` of this interpreter's IR.
    pub fn backward_sequence(
        &self,
        derivatives: &Derivatives,
        sequences: &Sequences<'_>,
        douts: &[&[f64]],
    ) -> Result<SequenceGradients, InterpError> {
        let (b, t) = (sequences.batch, sequences.steps);
        let output_lens: Vec<usize> = self.output_lens().iter().map(|h| b * t * h).collect();
        check_vectors("output cotangents", douts, &output_lens, |i| format!("dout number {i} [B, T, H]"))?;
        let run = self.run_sequence(sequences)?;
        let (state_lens, input_lens) = (self.state_lens(), self.input_lens());
        let mut gradients = SequenceGradients {
            params: self.cell.params.values().map(|p| vec![0.0; param_len(p.shape, self.sizes)]).collect(),
            inputs: input_lens.iter().map(|d| vec![0.0; b * t * d]).collect(),
            initial: state_lens.iter().map(|h| vec![0.0; b * h]).collect(),
        };
        for batch in 0..b {
            let mut carry: Vec<Vec<f64>> = state_lens.iter().map(|&h| vec![0.0; h]).collect();
            for step in (0..t).rev() {
                let previous: Vec<Vec<f64>> = if step == 0 {
                    self.initial_state(sequences, batch)
                } else {
                    run.states
                        .iter()
                        .zip(&state_lens)
                        .map(|(s, &h)| s[(batch * t + step - 1) * h..][..h].to_vec())
                        .collect()
                };
                let inputs = self.step_inputs(sequences, batch, step);
                let evaluation = self.evaluate(&as_slices(&inputs), &as_slices(&previous))?;
                let mut results: Vec<(&ResultDerivatives, Vec<f64>)> =
                    derivatives.updates.iter().zip(carry.iter().cloned()).collect();
                for ((result, dout), &h) in derivatives.outputs.iter().zip(douts).zip(&self.output_lens()) {
                    results.push((result, dout[(batch * t + step) * h..][..h].to_vec()));
                }
                let mut next_carry: Vec<Vec<f64>> = state_lens.iter().map(|&h| vec![0.0; h]).collect();
                for (result, lambda) in &results {
                    let len = lambda.len();
                    for (j, carry_j) in next_carry.iter_mut().enumerate() {
                        let m = self.state_derivative(&evaluation, &derivatives.maps, result, len, j);
                        add(carry_j, &m.transpose_times(lambda));
                    }
                    for (i, gradient) in gradients.inputs.iter_mut().enumerate() {
                        let d = input_lens[i];
                        let m = self.input_jacobian(&evaluation, &derivatives.maps, result, len, i);
                        add(&mut gradient[(batch * t + step) * d..][..d], &m.transpose_times(lambda));
                    }
                    for (p, gradient) in gradients.params.iter_mut().enumerate() {
                        let vjp = self.param_vjp(&evaluation, &derivatives.maps, result, lambda, Handle::from_index(p));
                        add(gradient, &vjp);
                    }
                }
                carry = next_carry;
            }
            for ((gradient, c), &h) in gradients.initial.iter_mut().zip(&carry).zip(&state_lens) {
                gradient[batch * h..][..h].copy_from_slice(c);
            }
        }
        Ok(gradients)
    }
}

fn as_slices(vectors: &[Vec<f64>]) -> Vec<&[f64]> {
    vectors.iter().map(Vec::as_slice).collect()
}

fn add(into: &mut [f64], values: &[f64]) {
    for (a, b) in into.iter_mut().zip(values) {
        *a += b;
    }
}
