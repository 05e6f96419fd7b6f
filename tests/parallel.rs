//! Sequence parallel solving (`rnnc::parallel`) in one process: ranks as
//! threads, their neighbours as channels. One sequence cut over 2 and 3 ranks
//! gives the whole sequence's outputs and gradients within the solver's
//! tolerance, correcting only a prefix and a suffix of each slice; a cell whose
//! states are not outputs is refused.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier, Mutex};

use rnnc::parallel::{Corrections, Neighbours, SliceData};
use rnnc::runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc::{Backend, Engine, Method, RunOptions, Tensor};

type Link = Option<(Sender<Vec<Vec<f32>>>, Receiver<Vec<Vec<f32>>>)>;

struct Channels {
    rank: usize,
    world: usize,
    /// To and from the previous rank, and the next.
    prev: Link,
    next: Link,
    total: Arc<(Mutex<Vec<f32>>, Barrier)>,
}

impl Neighbours for Channels {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn send_next(&mut self, states: &[Vec<f32>]) -> Result<(), String> {
        self.next.as_ref().ok_or("no next rank")?.0.send(states.to_vec()).map_err(|e| e.to_string())
    }
    fn recv_prev(&mut self, _lens: &[usize]) -> Result<Vec<Vec<f32>>, String> {
        self.prev.as_ref().ok_or("no previous rank")?.1.recv().map_err(|e| e.to_string())
    }
    fn send_prev(&mut self, cotangents: &[Vec<f32>]) -> Result<(), String> {
        self.prev.as_ref().ok_or("no previous rank")?.0.send(cotangents.to_vec()).map_err(|e| e.to_string())
    }
    fn recv_next(&mut self, _lens: &[usize]) -> Result<Vec<Vec<f32>>, String> {
        self.next.as_ref().ok_or("no next rank")?.1.recv().map_err(|e| e.to_string())
    }
    fn sum(&mut self, values: &mut [f32]) -> Result<(), String> {
        let (total, barrier) = &*self.total;
        if barrier.wait().is_leader() {
            *total.lock().map_err(|e| e.to_string())? = vec![0.0; values.len()];
        }
        barrier.wait();
        for (t, v) in total.lock().map_err(|e| e.to_string())?.iter_mut().zip(values.iter()) {
            *t += v;
        }
        barrier.wait();
        values.copy_from_slice(&total.lock().map_err(|e| e.to_string())?);
        barrier.wait();
        Ok(())
    }
}

/// The neighbours of `world` ranks, in rank order.
fn channels(world: usize) -> Vec<Channels> {
    let total = Arc::new((Mutex::new(Vec::new()), Barrier::new(world)));
    let mut ranks: Vec<Channels> =
        (0..world).map(|rank| Channels { rank, world, prev: None, next: None, total: total.clone() }).collect();
    for r in 0..world.saturating_sub(1) {
        let (forward_send, forward_recv) = channel();
        let (back_send, back_recv) = channel();
        ranks[r].next = Some((forward_send, back_recv));
        ranks[r + 1].prev = Some((back_send, forward_recv));
    }
    ranks
}

fn steps(tensor: &Tensor, start: usize, stop: usize) -> Tensor {
    let shape = tensor.shape();
    let per: usize = shape[2..].iter().product();
    let mut data = Vec::new();
    for b in 0..shape[0] {
        data.extend_from_slice(&tensor.data()[(b * shape[1] + start) * per..(b * shape[1] + stop) * per]);
    }
    let mut cut = shape.to_vec();
    cut[1] = stop - start;
    Tensor::new(cut, data).expect("a slice")
}

fn largest_error(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / scale).fold(0.0, f32::max)
}

#[test]
fn slices_over_ranks_give_the_whole_sequences_results() {
    let engine = Engine::new(Backend::Cpu, None).expect("the CPU");
    let compiled = engine.compile(rnnc_stdlib::get("para_gru").expect("shipped").source, None).expect("compiles");
    let cell = &compiled.derived().cell;
    let dims = cell.bind_dims(|n| Some(if n == "H" { 8 } else { 3 })).expect("binds");
    let (batch, total) = (2, 600);
    let params: BTreeMap<String, Tensor> = random_params(cell, &dims, 3).expect("params");
    let inputs = random_inputs(cell, &dims, batch, total, 4).expect("inputs");
    let init = vec![("h".to_owned(), random_tensor(vec![batch, 8], -0.5, 0.5, 5).expect("init"))];
    let douts = vec![("h".to_owned(), random_tensor(vec![batch, total, 8], -1.0, 1.0, 6).expect("douts"))];
    let options = RunOptions { method: Method::Newton, ..RunOptions::default() };
    let data = compiled.bind(params.clone(), inputs.clone(), init.clone()).expect("binds");
    let whole = compiled.backward(&engine, &data, douts.clone(), &options).expect("runs");

    for world in [2usize, 3] {
        let cut: Vec<usize> = (0..=world).map(|r| r * total / world).collect();
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = channels(world)
                .into_iter()
                .map(|mut neighbours| {
                    let (compiled, engine, params, options) = (&compiled, &engine, &params, &options);
                    let (start, stop) = (cut[neighbours.rank], cut[neighbours.rank + 1]);
                    let x: Vec<(String, Tensor)> =
                        inputs.iter().map(|(n, t)| (n.clone(), steps(t, start, stop))).collect();
                    let d: Vec<(String, Tensor)> =
                        douts.iter().map(|(n, t)| (n.clone(), steps(t, start, stop))).collect();
                    let init = init.clone();
                    scope.spawn(move || {
                        let corrections = Corrections::default();
                        let slice = SliceData { params: params.clone(), inputs: x, init };
                        let mut forward = compiled
                            .forward_slice(engine, slice, options, &corrections, &mut neighbours)
                            .expect("forward");
                        let grads = compiled
                            .backward_slice(engine, &d, &mut forward, options, &corrections, &mut neighbours)
                            .expect("backward");
                        (forward, grads)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a rank")).collect::<Vec<_>>()
        });
        let slice_steps = total / world;
        for (rank, (forward, grads)) in results.iter().enumerate() {
            let (start, stop) = (cut[rank], cut[rank + 1]);
            let want = steps(&whole.outputs[0].1, start, stop);
            let error = largest_error(forward.outputs[0].1.data(), want.data());
            assert!(error <= 1e-4, "{world} ranks, rank {rank}: outputs off by {error:e}");
            if rank > 0 {
                assert!(0 < forward.prefix_steps && forward.prefix_steps < slice_steps, "{}", forward.prefix_steps);
            }
            if rank + 1 < world {
                assert!(0 < forward.suffix_steps && forward.suffix_steps < slice_steps, "{}", forward.suffix_steps);
            }
            for (key, tensor) in grads {
                let want: Vec<f32> = match key.split_once('.') {
                    Some(("param", name)) => whole.gradients.param(name).expect("a parameter").data().to_vec(),
                    Some(("input", _)) => steps(&whole.gradients.inputs[0].1, start, stop).data().to_vec(),
                    _ if rank == 0 => whole.gradients.inits[0].1.data().to_vec(),
                    _ => vec![0.0; tensor.len()],
                };
                let error = largest_error(tensor.data(), &want);
                assert!(error <= 1e-3, "{world} ranks, rank {rank}: gradient {key} off by {error:e}");
            }
        }
    }
}

#[test]
fn a_cell_whose_states_are_not_outputs_is_refused() {
    let engine = Engine::new(Backend::Cpu, None).expect("the CPU");
    let compiled = engine
        .compile("cell c { dim H; input x: [H]; state s: [H]; s' = tanh(s + x); output y = 2 * s'; }", None)
        .expect("compiles");
    let x = vec![("x".to_owned(), Tensor::new(vec![1, 4, 2], vec![0.0; 8]).expect("x"))];
    let mut one = channels(1).pop().expect("a rank");
    let slice = SliceData { inputs: x, ..SliceData::default() };
    let error = compiled
        .forward_slice(&engine, slice, &RunOptions::default(), &Corrections::default(), &mut one)
        .expect_err("refused");
    assert!(error.to_string().contains("every state as an output of the same name; s is not"), "{error}");
}
