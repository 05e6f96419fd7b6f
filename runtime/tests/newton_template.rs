//! The fused Newton template, driven by a hand-written ParaGRU lane program, against
//! a float64 sequential reference. (Scaffolding until the WGSL backend generates the
//! lane programs.)

use rnnc_runtime::gpu::{Binding, Gpu};

const PRELUDE: &str = "
const K: u32 = 1u;
const C: u32 = 16u;
const S: u32 = 16u;
const N: u32 = 16u;
@group(0) @binding(2) var<storage, read> projections: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read> init: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
struct Pre { v: array<f32, 3> }
fn load_pre(b: u32, t: u32, lane: u32) -> Pre {
    let H = settings.lanes;
    let base = (b * settings.steps + t) * 3u * H;
    var p: Pre;
    p.v[0] = projections[base + lane] + params[H + lane];
    p.v[1] = projections[base + H + lane] + params[3u * H + lane];
    p.v[2] = projections[base + 2u * H + lane] + params[5u * H + lane];
    return p;
}
fn load_init(b: u32, lane: u32) -> array<f32, K> { return array<f32, K>(init[b * settings.lanes + lane]); }
fn sig(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn step(lane: u32, p: Pre, prev: array<f32, K>) -> array<f32, K> {
    let H = settings.lanes;
    let h = prev[0];
    let z = sig(params[lane] * h + p.v[0]);
    let r = sig(params[2u * H + lane] * h + p.v[1]);
    let hc = tanh(params[4u * H + lane] * (h * r) + p.v[2]);
    return array<f32, K>(z * hc + (1.0 - z) * h);
}
fn step_jacobian(lane: u32, p: Pre, prev: array<f32, K>, f: ptr<function, array<f32, K>>, jac: ptr<function, array<f32, K * K>>) {
    let H = settings.lanes;
    let h = prev[0];
    let az = params[lane]; let ar = params[2u * H + lane]; let ah = params[4u * H + lane];
    let z = sig(az * h + p.v[0]);
    let r = sig(ar * h + p.v[1]);
    let hc = tanh(ah * (h * r) + p.v[2]);
    (*f)[0] = z * hc + (1.0 - z) * h;
    let dz = z * (1.0 - z) * az;
    let dr = r * (1.0 - r) * ar;
    let dhc = (1.0 - hc * hc) * ah * (r + h * dr);
    (*jac)[0] = dz * hc + z * dhc - dz * h + (1.0 - z);
}
fn store(b: u32, t: u32, lane: u32, p: Pre, prev: array<f32, K>, next: array<f32, K>) {
    out[(b * settings.steps + t) * settings.lanes + lane] = next[0];
}
";

fn lcg(seed: &mut u64) -> f64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 11) as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn fused_newton_and_sequential_match_the_float64_reference() {
    let gpu = Gpu::open(None).expect("a GPU adapter");
    let template = include_str!("../../compiler/src/backend/wgsl/newton.wgsl");
    let source = format!("{PRELUDE}\n{template}");
    let (b, t, h) = (3usize, 1000usize, 37usize);
    let mut seed = 7u64;
    let proj: Vec<f32> = (0..b * t * 3 * h).map(|_| (lcg(&mut seed) * 1.5) as f32).collect();
    let params: Vec<f32> = (0..6 * h).map(|_| (lcg(&mut seed) * 0.9) as f32).collect();
    let init: Vec<f32> = (0..b * h).map(|_| (lcg(&mut seed) * 0.5) as f32).collect();
    let mut reference = vec![0f64; b * t * h];
    for bi in 0..b {
        for lane in 0..h {
            let mut hv = init[bi * h + lane] as f64;
            for ti in 0..t {
                let base = (bi * t + ti) * 3 * h;
                let p = |k: usize| proj[base + k * h + lane] as f64 + params[(2 * k + 1) * h + lane] as f64;
                let z = sig(params[lane] as f64 * hv + p(0));
                let r = sig(params[2 * h + lane] as f64 * hv + p(1));
                let hc = (params[4 * h + lane] as f64 * (hv * r) + p(2)).tanh();
                hv = z * hc + (1.0 - z) * hv;
                reference[(bi * t + ti) * h + lane] = hv;
            }
        }
    }
    let settings: Vec<u32> = vec![b as u32, t as u32, h as u32, 64, 1e-6f32.to_bits(), 1e-5f32.to_bits(), 0, 0];
    let groups = h.div_ceil(16);
    for entry in ["newton", "sequential"] {
        let kernel = gpu.kernel(entry, &source, entry).expect("compiles");
        let buffers = [
            gpu.upload("settings", &settings).unwrap(),
            gpu.zeroed("stats", groups * b * 4).unwrap(),
            gpu.upload("proj", &proj).unwrap(),
            gpu.upload("params", &params).unwrap(),
            gpu.upload("init", &init).unwrap(),
            gpu.zeroed("out", b * t * h).unwrap(),
        ];
        let bindings: Vec<Binding<'_>> = buffers.iter().map(Binding).collect();
        let grid = if entry == "newton" { [groups as u32, b as u32, 1] } else { [h.div_ceil(64) as u32, b as u32, 1] };
        gpu.dispatch(&kernel, &bindings, grid).unwrap();
        let out: Vec<f32> = gpu.read(&buffers[5]).unwrap();
        let stats: Vec<u32> = gpu.read(&buffers[1]).unwrap();
        let err = out.iter().zip(&reference).map(|(a, r)| (*a as f64 - r).abs()).fold(0.0, f64::max);
        println!("{entry}: max error {err:.3e}, stats {:?}", &stats[..8]);
        assert!(err < 2e-4, "{entry}: {err}");
    }
}
