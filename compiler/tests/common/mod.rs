//! Shared by the integration tests: a small deterministic random generator, dim
//! binding, random points, and the finite-difference checks of every derivative.
#![allow(dead_code)]

use rnnc_compiler::Derived;
use rnnc_compiler::analyse::JacobianStructure;
use rnnc_compiler::arena::Handle;
use rnnc_compiler::check::{Cell, DimSizes, ParamShape};
use rnnc_compiler::derive::ResultDerivatives;
use rnnc_compiler::interp::{Interpreter, Matrix, ParamValues, param_len};

/// splitmix64: tiny, deterministic, good enough for test points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    pub fn vector(&mut self, len: usize, scale: f64) -> Vec<f64> {
        (0..len).map(|_| self.uniform(-scale, scale)).collect()
    }
}

/// Small sizes for every dim (4, 3, 5, 2, ...), rounded up to a multiple of the
/// block sizes of the block parameters on it.
pub fn small_sizes(cell: &Cell) -> DimSizes {
    let bases = [4u64, 3, 5, 2];
    let names: Vec<String> = cell.dims.values().map(|d| d.name.clone()).collect();
    let size_of = |name: &str| {
        let index = names.iter().position(|n| n == name)?;
        let multiple = cell.block_multiple(cell.find_dim(name)?);
        let base = bases[index % bases.len()];
        Some(base.div_ceil(multiple) * multiple)
    };
    cell.bind_dims(size_of).expect("small sizes bind")
}

/// Random parameters: entries uniform in [-0.6, 0.6] (matrices scaled by their
/// width).
pub fn random_params(cell: &Cell, sizes: &DimSizes, rng: &mut Rng) -> ParamValues {
    let mut params = ParamValues::zeros(cell, sizes);
    for (handle, param) in cell.params.iter() {
        let width = match param.shape {
            ParamShape::Vector(_) => 1.0,
            ParamShape::Matrix { cols, .. } => sizes.of(cols) as f64,
            ParamShape::Block { block, .. } => block as f64,
        };
        let values = rng.vector(param_len(param.shape, sizes), 1.2 / width.sqrt());
        params.set(handle, values).expect("right length");
    }
    params
}

/// A random point: one vector per input and per state, entries in [-1, 1].
pub fn random_point(interp: &Interpreter<'_>, rng: &mut Rng) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let inputs = interp.input_lens().into_iter().map(|d| rng.vector(d, 1.0)).collect();
    let states = interp.state_lens().into_iter().map(|h| rng.vector(h, 1.0)).collect();
    (inputs, states)
}

pub fn slices(vectors: &[Vec<f64>]) -> Vec<&[f64]> {
    vectors.iter().map(Vec::as_slice).collect()
}

/// Every result (updates, then outputs) at a point, concatenated per result.
fn results_at(interp: &Interpreter<'_>, inputs: &[Vec<f64>], states: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let evaluation = interp.evaluate(&slices(inputs), &slices(states)).expect("evaluates");
    let mut results = interp.updates(&evaluation);
    results.extend(interp.outputs(&evaluation));
    results
}

const STEP: f64 = 1e-5;
const TOLERANCE: f64 = 1e-6;

/// Compares an analytic matrix with central differences, column by column:
/// `column(j, +h)` and `column(j, -h)` give the results with variable `j` moved.
fn compare(what: &str, analytic: &Matrix, mut perturbed: impl FnMut(usize, f64) -> Vec<f64>) -> Result<(), String> {
    for col in 0..analytic.cols {
        let (plus, minus) = (perturbed(col, STEP), perturbed(col, -STEP));
        for row in 0..analytic.rows {
            let numeric = (plus[row] - minus[row]) / (2.0 * STEP);
            let exact = analytic.get(row, col);
            let error = (numeric - exact).abs();
            let scale = numeric.abs().max(exact.abs());
            if error > TOLERANCE * scale + 1e-8 || !exact.is_finite() {
                return Err(format!("{what}: entry ({row}, {col}) is {exact:e}, finite differences give {numeric:e}"));
            }
        }
    }
    Ok(())
}

/// Checks every derivative of `derived` against central differences of the
/// interpreted step at `points` random points: state blocks, input and
/// parameter derivatives of every result, the structure (zero outside it),
/// the structured form, and parameter vector-Jacobian products.
pub fn check_derivatives(derived: &Derived, seed: u64, points: usize) -> Result<(), String> {
    let cell = &derived.cell;
    let sizes = small_sizes(cell);
    let mut rng = Rng::new(seed);
    let params = random_params(cell, &sizes, &mut rng);
    let interp = Interpreter::new(cell, &derived.ir, &sizes, &params).map_err(|e| e.to_string())?;
    let results: Vec<(String, &ResultDerivatives)> = cell
        .states
        .values()
        .map(|s| format!("{}'", s.name))
        .zip(&derived.derivatives.updates)
        .chain(cell.outputs.values().map(|o| format!("output {}", o.name)).zip(&derived.derivatives.outputs))
        .collect();
    let maps = &derived.derivatives.maps;
    for point in 0..points {
        let (inputs, states) = random_point(&interp, &mut rng);
        let evaluation = interp.evaluate(&slices(&inputs), &slices(&states)).map_err(|e| e.to_string())?;
        let base = results_at(&interp, &inputs, &states);
        for (r, (name, result)) in results.iter().enumerate() {
            let len = base[r].len();
            for (j, state) in cell.states.values().enumerate() {
                let analytic = interp.state_derivative(&evaluation, maps, result, len, j);
                compare(&format!("point {point}: d {name}/d {}", state.name), &analytic, |col, h| {
                    let mut moved = states.clone();
                    moved[j][col] += h;
                    results_at(&interp, &inputs, &moved)[r].clone()
                })?;
            }
            for (i, input) in cell.inputs.values().enumerate() {
                let analytic = interp.input_jacobian(&evaluation, maps, result, len, i);
                compare(&format!("point {point}: d {name}/d {}", input.name), &analytic, |col, h| {
                    let mut moved = inputs.clone();
                    moved[i][col] += h;
                    results_at(&interp, &moved, &states)[r].clone()
                })?;
            }
            for (p, param) in cell.params.iter() {
                let analytic = interp.param_jacobian(&evaluation, maps, result, len, p);
                compare(&format!("point {point}: d {name}/d {}", param.name), &analytic, |col, h| {
                    let mut moved = params.clone();
                    moved.get_mut(p)[col] += h;
                    let interp = Interpreter::new(cell, &derived.ir, &sizes, &moved).expect("same shapes");
                    results_at(&interp, &inputs, &states)[r].clone()
                })?;
                let lambda = rng.vector(len, 1.0);
                let vjp = interp.param_vjp(&evaluation, maps, result, &lambda, p);
                let expected = analytic.transpose_times(&lambda);
                for (k, (a, b)) in vjp.iter().zip(&expected).enumerate() {
                    if (a - b).abs() > 1e-12 * (1.0 + b.abs()) {
                        return Err(format!("lambda^T d {name}/d {} entry {k}: {a} vs {b}", param.name));
                    }
                }
            }
        }
        check_structure(derived, &interp, &inputs, &states, point)?;
    }
    Ok(())
}

/// The state Jacobian, from the derivatives and from finite differences, is
/// zero outside the claimed structure, and the structured form holds all of it.
fn check_structure(
    derived: &Derived,
    interp: &Interpreter<'_>,
    inputs: &[Vec<f64>],
    states: &[Vec<f64>],
    point: usize,
) -> Result<(), String> {
    let jacobian = &derived.jacobian;
    let evaluation = interp.evaluate(&slices(inputs), &slices(states)).map_err(|e| e.to_string())?;
    let full = interp.state_jacobian(&evaluation, &derived.derivatives, jacobian.interleaved);
    let n = full.rows;
    let lens = interp.state_lens();
    let mut numeric = Matrix::zeros(n, n);
    for (j, &h) in lens.iter().enumerate() {
        for c in 0..h {
            let moved = |delta: f64| {
                let mut moved = states.to_vec();
                moved[j][c] += delta;
                results_at(interp, inputs, &moved)
            };
            let (plus, minus) = (moved(STEP), moved(-STEP));
            for (i, &rows) in lens.iter().enumerate() {
                for r in 0..rows {
                    let value = (plus[i][r] - minus[i][r]) / (2.0 * STEP);
                    let (row, col) = (
                        interp.state_position(i, r, jacobian.interleaved),
                        interp.state_position(j, c, jacobian.interleaved),
                    );
                    numeric.set(row, col, value);
                }
            }
        }
    }
    let allowed = |row: usize, col: usize| match jacobian.structure {
        JacobianStructure::Diagonal => row == col,
        JacobianStructure::BlockDiagonal { block } => row / block as usize == col / block as usize,
        JacobianStructure::Dense => true,
    };
    for row in 0..n {
        for col in 0..n {
            if !allowed(row, col) && (full.get(row, col) != 0.0 || numeric.get(row, col).abs() > 1e-9) {
                return Err(format!(
                    "point {point}: the state Jacobian is claimed {} but entry ({row}, {col}) is {} (numerically {})",
                    jacobian.structure,
                    full.get(row, col),
                    numeric.get(row, col)
                ));
            }
        }
    }
    let structured = interp.structured_state_jacobian(&evaluation, &derived.derivatives, jacobian);
    if structured.to_dense(n) != full {
        return Err(format!("point {point}: the structured state Jacobian loses entries"));
    }
    Ok(())
}

/// A handle's index as a handle of another type (for loops over parameters).
pub fn handle<T>(index: usize) -> Handle<T> {
    Handle::from_index(index)
}
