//! The JIT-compiled recurrence against the same recurrence written by hand in
//! Rust and compiled by rustc, in one run: ParaGRU and ParaLSTM at H = D = 1024,
//! one sequence of T = 1000 steps, by the sequential method on one thread. The
//! input projections are computed once beforehand and excluded from every
//! timing: each iteration runs the recurrence from the pre-activations.
//!
//! Three contenders per cell:
//! - `jit`: the cranelift kernel (`CpuCell::run_sequential`);
//! - `rustc_std`: the step by hand with the standard library's `exp` and `tanh`;
//! - `rustc_poly`: the step by hand with the same inlined approximations as the
//!   kernel (branch-free, so rustc can vectorise the loop over channels).
//!
//! A second group, `auto_rule`, measures what `Method::Auto` decides on: a whole
//! forward pass (ParaGRU, H = 64, D = 4, B = 1, T = 100,000) by the sequential
//! method and by Newton on 1 and on 2 threads.
//!
//! Run: `cargo bench -p rnnc-runtime --bench jit_step` (release profile).

use std::sync::OnceLock;

use rnnc_compiler::{Derived, check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::{random_inputs, random_params};
use rnnc_runtime::{Method, NewtonSettings};

const SIZE: u64 = 1024;
const STEPS: usize = 1000;

fn main() {
    divan::main();
}

/// One cell, compiled, with its data, pre-activations for both versions, and
/// the parameter vectors the hand-written steps read.
struct Setup {
    cell: CpuCell,
    params: Vec<f32>,
    pre: Vec<f32>,
    init: Vec<f32>,
    /// The hand-written step's pre-activations, `[T][gates][H]`.
    gates: Vec<f32>,
    vectors: Vec<Vec<f32>>,
}

fn derive(name: &str) -> Derived {
    let source = rnnc_stdlib::CELLS.iter().find(|c| c.name == name).expect("stdlib cell").source;
    derive_cell(&check_source(source).expect("checks")[0]).expect("derives")
}

fn param<'a>(derived: &Derived, data: &'a BoundData, name: &str) -> &'a [f32] {
    let handle = derived.cell.find_param(name).expect("parameter");
    data.params()[handle.index()].data()
}

/// `W x + b` for one row, to find which hoisted slot holds which gate.
fn projection(w: &[f32], x: &[f32], b: &[f32]) -> Vec<f32> {
    w.chunks_exact(x.len())
        .zip(b)
        .map(|(row, &bias)| row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + bias)
        .collect()
}

fn setup(name: &str, gates: [(&str, &str); 3], vectors: &[&str]) -> Setup {
    let derived = derive(name);
    let dims = derived.cell.bind_dims(|_| Some(SIZE)).expect("binds");
    let params = random_params(&derived.cell, &dims, 1).expect("params");
    let inputs = random_inputs(&derived.cell, &dims, 1, STEPS, 2).expect("inputs");
    let data = BoundData::bind(&derived.cell, params, inputs, Vec::new()).expect("binds");
    let mut cell = CpuCell::compile(&derived, &dims).expect("compiles");
    cell.set_threads(1);
    let packed = cell.pack_params(&data).expect("packs");
    let pre = cell.hoist(&data, &packed).expect("hoists");
    let layout = cell.layout();
    let (h, width) = (SIZE as usize, layout.pre_width);
    // Which hoisted slot is which gate's `W x + b`: compare row 0.
    let x0 = &data.inputs()[0].data()[..h];
    let mut order = Vec::new();
    for (w, b) in gates {
        let want = projection(param(&derived, &data, w), x0, param(&derived, &data, b));
        let slot = layout
            .pre
            .iter()
            .find(|p| p.slot.len == h && pre[p.slot.offset..][..h].iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-3))
            .expect("a hoisted slot holds the gate's projection");
        order.push(slot.slot.offset);
    }
    let mut gate_rows = Vec::with_capacity(STEPS * 3 * h);
    for t in 0..STEPS {
        for &offset in &order {
            gate_rows.extend_from_slice(&pre[t * width + offset..][..h]);
        }
    }
    let init = vec![0.0; layout.state_width];
    let vectors = vectors.iter().map(|v| param(&derived, &data, v).to_vec()).collect();
    Setup { cell, params: packed, pre, init, gates: gate_rows, vectors }
}

fn para_gru() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let setup = setup("para_gru", [("Bz", "bz"), ("Br", "br"), ("Bh", "bh")], &["az", "ar", "ah"]);
        check_agreement(&setup, gru_std);
        setup
    })
}

fn para_lstm() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let setup = setup("para_lstm", [("Bf", "bf"), ("Bc", "bc"), ("Bo", "bo")], &["af", "pf", "ac", "ao", "po"]);
        check_agreement(&setup, lstm_std);
        setup
    })
}

fn jit_states(setup: &Setup) -> Vec<f32> {
    let mut states = vec![0.0; STEPS * setup.cell.layout().state_width];
    setup.cell.run_sequential(&setup.params, &setup.pre, &setup.init, &mut states, STEPS).expect("runs");
    states
}

/// The hand-written step must compute what the kernel computes.
fn check_agreement(setup: &Setup, by_hand: fn(&Setup, &mut [f32])) {
    let jit = jit_states(setup);
    let mut hand = vec![0.0; jit.len()];
    by_hand(setup, &mut hand);
    let worst = jit.iter().zip(&hand).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-3, "the hand-written step differs from the kernel by {worst}");
}

mod math {
    //! The kernel's approximations in plain Rust (see `backend::clif::math`).

    #[inline(always)]
    pub fn exp(x: f32) -> f32 {
        let c = x.clamp(-104.0, 88.722_84);
        let shifted = c * std::f32::consts::LOG2_E + 12_582_912.0;
        let n = shifted - 12_582_912.0;
        let n_int = shifted.to_bits() as i32 - 12_582_912.0f32.to_bits() as i32;
        let r = c - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let p = 1.0
            + r * (1.0
                + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
        let half = n_int >> 1;
        let scale_a = f32::from_bits(((half + 127) << 23) as u32);
        let scale_b = f32::from_bits(((n_int - half + 127) << 23) as u32);
        let value = p * scale_a * scale_b;
        if x > 88.722_84 { f32::INFINITY } else { value }
    }

    #[inline(always)]
    pub fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp(-x))
    }

    #[inline(always)]
    pub fn tanh(x: f32) -> f32 {
        let a = x.abs();
        let z = a * a;
        let series =
            -1.0 / 3.0 + z * (2.0 / 15.0 + z * (-17.0 / 315.0 + z * (62.0 / 2835.0 + z * (-1382.0 / 155_925.0))));
        let small = a + a * z * series;
        let e = exp(-2.0 * a);
        let large = (1.0 - e) / (1.0 + e);
        let magnitude = if a < 0.35 { small } else { large };
        f32::from_bits(magnitude.to_bits() | (x.to_bits() & 0x8000_0000))
    }
}

macro_rules! gru_step {
    ($name:ident, $sigmoid:path, $tanh:path) => {
        fn $name(setup: &Setup, states: &mut [f32]) {
            let h_len = SIZE as usize;
            let (az, ar, ah) = (&setup.vectors[0], &setup.vectors[1], &setup.vectors[2]);
            let mut h = setup.init.clone();
            for (gates, out) in setup.gates.chunks_exact(3 * h_len).zip(states.chunks_exact_mut(h_len)) {
                let (zp, rest) = gates.split_at(h_len);
                let (rp, hp) = rest.split_at(h_len);
                let channels = out.iter_mut().zip(&h).zip(zp.iter().zip(rp).zip(hp)).zip(az.iter().zip(ar).zip(ah));
                for (((o, &hv), ((&zp, &rp), &hp)), ((&az, &ar), &ah)) in channels {
                    let z = $sigmoid(zp + az * hv);
                    let r = $sigmoid(rp + ar * hv);
                    let hc = $tanh(hp + ah * (hv * r));
                    *o = z * hc + (1.0 - z) * hv;
                }
                h.copy_from_slice(out);
            }
        }
    };
}

macro_rules! lstm_step {
    ($name:ident, $sigmoid:path, $tanh:path) => {
        fn $name(setup: &Setup, states: &mut [f32]) {
            let h_len = SIZE as usize;
            let [af, pf, ac, ao, po] = [0, 1, 2, 3, 4].map(|i| &setup.vectors[i]);
            let mut state = setup.init.clone();
            for (gates, out) in setup.gates.chunks_exact(3 * h_len).zip(states.chunks_exact_mut(2 * h_len)) {
                let (fp, rest) = gates.split_at(h_len);
                let (cp, op) = rest.split_at(h_len);
                let (c_old, h_old) = state.split_at(h_len);
                let (c_new, h_new) = out.split_at_mut(h_len);
                let channels = c_new
                    .iter_mut()
                    .zip(h_new.iter_mut())
                    .zip(c_old.iter().zip(h_old))
                    .zip(fp.iter().zip(cp).zip(op))
                    .zip(af.iter().zip(pf).zip(ac).zip(ao).zip(po));
                for ((((cn_out, hn_out), (&cv, &hv)), ((&fp, &cp), &op)), ((((&af, &pf), &ac), &ao), &po)) in channels {
                    let f = $sigmoid(fp + af * hv + pf * cv);
                    let cc = $tanh(cp + ac * hv);
                    let cn = f * cv + (1.0 - f) * cc;
                    let o = $sigmoid(op + ao * hv + po * cn);
                    *cn_out = cn;
                    *hn_out = o * $tanh(cn);
                }
                state.copy_from_slice(out);
            }
        }
    };
}

fn std_sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

gru_step!(gru_std, std_sigmoid, f32::tanh);
gru_step!(gru_poly, math::sigmoid, math::tanh);
lstm_step!(lstm_std, std_sigmoid, f32::tanh);
lstm_step!(lstm_poly, math::sigmoid, math::tanh);

fn bench_jit(bencher: divan::Bencher<'_, '_>, setup: &Setup) {
    let mut states = vec![0.0; STEPS * setup.cell.layout().state_width];
    bencher.bench_local(|| {
        setup.cell.run_sequential(&setup.params, &setup.pre, &setup.init, &mut states, STEPS).expect("runs");
        divan::black_box(&states);
    });
}

fn bench_by_hand(bencher: divan::Bencher<'_, '_>, setup: &Setup, step: fn(&Setup, &mut [f32])) {
    let mut states = vec![0.0; STEPS * setup.cell.layout().state_width];
    bencher.bench_local(|| {
        step(divan::black_box(setup), &mut states);
        divan::black_box(&states);
    });
}

mod para_gru {
    use super::*;

    #[divan::bench(sample_count = 30)]
    fn jit(bencher: divan::Bencher<'_, '_>) {
        bench_jit(bencher, para_gru());
    }

    #[divan::bench(sample_count = 30)]
    fn rustc_std(bencher: divan::Bencher<'_, '_>) {
        bench_by_hand(bencher, para_gru(), gru_std);
    }

    #[divan::bench(sample_count = 30)]
    fn rustc_poly(bencher: divan::Bencher<'_, '_>) {
        bench_by_hand(bencher, para_gru(), gru_poly);
    }
}

mod para_lstm {
    use super::*;

    #[divan::bench(sample_count = 30)]
    fn jit(bencher: divan::Bencher<'_, '_>) {
        bench_jit(bencher, para_lstm());
    }

    #[divan::bench(sample_count = 30)]
    fn rustc_std(bencher: divan::Bencher<'_, '_>) {
        bench_by_hand(bencher, para_lstm(), lstm_std);
    }

    #[divan::bench(sample_count = 30)]
    fn rustc_poly(bencher: divan::Bencher<'_, '_>) {
        bench_by_hand(bencher, para_lstm(), lstm_poly);
    }
}

mod auto_rule {
    use super::*;

    const LONG: usize = 100_000;

    fn long_gru() -> &'static BoundData {
        static DATA: OnceLock<BoundData> = OnceLock::new();
        DATA.get_or_init(|| {
            let derived = derive("para_gru");
            let dims = derived.cell.bind_dims(|name| Some(if name == "D" { 4 } else { 64 })).expect("binds");
            let params = random_params(&derived.cell, &dims, 3).expect("params");
            let inputs = random_inputs(&derived.cell, &dims, 1, LONG, 4).expect("inputs");
            BoundData::bind(&derived.cell, params, inputs, Vec::new()).expect("binds")
        })
    }

    fn run(bencher: divan::Bencher<'_, '_>, method: Method, threads: usize) {
        let data = long_gru();
        let mut cell = CpuCell::compile(&derive("para_gru"), data.dims()).expect("compiles");
        cell.set_threads(threads);
        bencher.bench_local(|| {
            let (outputs, report) = cell.forward(data, method, &NewtonSettings::default()).expect("runs");
            assert!(report.converged);
            divan::black_box(outputs);
        });
    }

    #[divan::bench(sample_count = 10)]
    fn sequential_1_thread(bencher: divan::Bencher<'_, '_>) {
        run(bencher, Method::Sequential, 1);
    }

    #[divan::bench(sample_count = 10)]
    fn newton_1_thread(bencher: divan::Bencher<'_, '_>) {
        run(bencher, Method::Newton, 1);
    }

    #[divan::bench(sample_count = 10)]
    fn newton_2_threads(bencher: divan::Bencher<'_, '_>) {
        run(bencher, Method::Newton, 2);
    }
}
