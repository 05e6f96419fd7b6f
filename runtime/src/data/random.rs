//! Random data for a cell, for benchmarks and examples: parameters initialised as
//! PyTorch initialises its layers, inputs uniform in [-1, 1), all from a small
//! hand-written generator ([`SplitMix64`]) so a seed gives the same numbers on every
//! machine. Each tensor draws from its own stream, derived from the seed and its name,
//! so adding a parameter to a cell does not change the values of the others.

use std::collections::BTreeMap;

use rnnc_compiler::check::{Cell, DimSizes, ParamShape};

use super::error::DataError;
use super::layout::{input_axes, shape_of, stored_axes};
use super::tensor::{Tensor, element_count, shape_text};

/// Sebastiano Vigna's SplitMix64: a 64-bit state, one multiply-xorshift output
/// function; fast, small, and good enough for test data (not for cryptography).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float uniform in [0, 1), with 24 random bits (every float32 of the form k/2^24).
    pub fn next_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// A float uniform in [low, high).
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.next_unit()
    }
}

/// The bound `k` of the uniform initialisation U(-k, k) of a parameter, as PyTorch's
/// `nn.Linear` and `nn.RNN` use it: `k = 1/sqrt(fan_in)`, where the fan-in of a dense
/// `[H, D]` matrix is `D`, of a `block[H, K]` matrix is `K`, and of a vector `[H]` is
/// `H` (PyTorch's recurrent layers scale their biases by the hidden size).
pub fn init_bound(shape: ParamShape, dims: &DimSizes) -> f32 {
    let fan_in = match shape {
        ParamShape::Vector(size) => dims.of(size),
        ParamShape::Matrix { cols, .. } => dims.of(cols),
        ParamShape::Block { block, .. } => block,
    };
    1.0 / (fan_in.max(1) as f32).sqrt()
}

/// Random parameters for `cell` with `dims`, by name: each U(-k, k) with `k` from
/// [`init_bound`], and a `scalar` parameter U(0, 1).
pub fn random_params(cell: &Cell, dims: &DimSizes, seed: u64) -> Result<BTreeMap<String, Tensor>, DataError> {
    let mut params = BTreeMap::new();
    for param in cell.params.values() {
        let shape = shape_of(&stored_axes(param), cell, dims, 1, 1)?;
        // A scalar parameter (a step size, a rate, a temperature) is positive.
        let (low, high) = if param.scalar {
            (0.0, 1.0)
        } else {
            let bound = init_bound(param.shape, dims);
            (-bound, bound)
        };
        let tensor = random_tensor(shape, low, high, stream_seed(seed, "param", &param.name))?;
        params.insert(param.name.clone(), tensor);
    }
    Ok(params)
}

/// Random inputs for `cell` with `dims`, `[batch, seq_len, D]` each, uniform in [-1, 1),
/// in declaration order.
pub fn random_inputs(
    cell: &Cell,
    dims: &DimSizes,
    batch: usize,
    seq_len: usize,
    seed: u64,
) -> Result<Vec<(String, Tensor)>, DataError> {
    let mut inputs = Vec::with_capacity(cell.inputs.len());
    for input in cell.inputs.values() {
        let shape = shape_of(&input_axes(input.size), cell, dims, batch, seq_len)?;
        inputs.push((input.name.clone(), random_tensor(shape, -1.0, 1.0, stream_seed(seed, "input", &input.name))?));
    }
    Ok(inputs)
}

/// A tensor of `shape` with values uniform in [low, high) from the stream `seed`.
pub fn random_tensor(shape: Vec<usize>, low: f32, high: f32, seed: u64) -> Result<Tensor, DataError> {
    let count = element_count(&shape).ok_or_else(|| DataError::SizeOverflow { shape: shape_text(&shape) })?;
    let mut rng = SplitMix64::new(seed);
    let values: Vec<f32> = (0..count).map(|_| rng.uniform(low, high)).collect();
    Tensor::new(shape, values)
}

/// The seed of the stream of the tensor `name` of kind `kind`: FNV-1a of both, mixed
/// with `seed` through one SplitMix64 step.
fn stream_seed(seed: u64, kind: &str, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in kind.bytes().chain([0]).chain(name.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    SplitMix64::new(seed ^ hash).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs of Vigna's splitmix64.c from seed 1234567.
        let mut rng = SplitMix64::new(1234567);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(first, [6457827717110365317, 3203168211198807973, 9817491932198370423]);
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(7);
        let values: Vec<f32> = (0..10_000).map(|_| rng.uniform(-0.5, 0.25)).collect();
        assert!(values.iter().all(|v| (-0.5..0.25).contains(v)));
        let (min, max) = values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(min < -0.49 && max > 0.24, "{min} {max}");
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
        assert!((mean - (-0.125)).abs() < 0.01, "{mean}");
    }

    #[test]
    fn params_follow_pytorch_bounds_and_seeds_are_reproducible() {
        let source = block_cell_source();
        let cell = &rnnc_compiler::check_source(&source).expect("valid")[0];
        let dims = cell.bind_dims(|name| if name == "H" { Some(16) } else { Some(9) }).expect("bound");
        let params = random_params(cell, &dims, 42).expect("small");
        assert_eq!(params["W"].shape(), &[16, 9]);
        assert_eq!(params["U"].shape(), &[4, 4, 4]);
        assert_eq!(params["b"].shape(), &[16]);
        for (name, bound) in [("W", 1.0 / 3.0), ("U", 0.5), ("b", 0.25)] {
            let tensor = &params[name];
            assert!(tensor.data().iter().all(|v| v.abs() <= bound), "{name}");
            assert!(tensor.data().iter().any(|v| v.abs() > bound * 0.8), "{name} uses its range");
        }
        assert_eq!(random_params(cell, &dims, 42).expect("small"), params);
        assert_ne!(random_params(cell, &dims, 43).expect("small")["W"], params["W"]);
        let inputs = random_inputs(cell, &dims, 2, 5, 42).expect("small");
        assert_eq!(inputs.len(), 1);
        assert_eq!((inputs[0].0.as_str(), inputs[0].1.shape()), ("x", &[2, 5, 9][..]));
        assert!(inputs[0].1.data().iter().all(|v| (-1.0..1.0).contains(v)));
        assert_ne!(inputs[0].1.data()[..9], params["W"].data()[..9], "streams differ by tensor");
        let error = random_inputs(cell, &dims, usize::MAX, 2, 0).expect_err("too large");
        assert_eq!(error.to_string(), format!("a tensor of shape [{}, 2, 9] is too large", usize::MAX));
    }

    fn block_cell_source() -> String {
        "cell c { dim H; dim D; input x: [D]; state h: [H]; param W: [H, D]; param U: block[H, 4]; \
         param b: [H]; h' = tanh(W @ x + U @ h + b); output h; }"
            .to_owned()
    }
}
