//! The data the interpreter reads: parameter values, and its error type.

use crate::arena::Handle;
use crate::check::{Cell, DimSizes, Param, ParamShape};

/// Why the interpreter refused its arguments.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InterpError {
    /// A vector or tensor of the wrong length.
    #[error("{what} has {found} values, expected {expected}")]
    WrongLength {
        /// What it is (`input x`, `param W`, ...).
        what: String,
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A list with one entry per input, state, output or parameter that has the
    /// wrong number of entries.
    #[error("expected {expected} {what}, found {found}")]
    WrongCount {
        /// What is counted (`inputs`, `initial states`, ...).
        what: &'static str,
        /// How many are required.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// An IR that does not belong to the cell given with it.
    #[error("the IR does not fit the cell: {0}")]
    Mismatch(String),
}

/// The number of float values parameter `shape` holds: `n` for `[n]`, `r * c` for
/// `[r, c]` (row-major), `n * k` for `block[n, k]` (stored `[n/k, k, k]`).
pub fn param_len(shape: ParamShape, sizes: &DimSizes) -> usize {
    let n = |size| sizes.of(size) as usize;
    match shape {
        ParamShape::Vector(size) => n(size),
        ParamShape::Matrix { rows, cols } => n(rows) * n(cols),
        ParamShape::Block { size, block } => n(size) * block as usize,
    }
}

/// The value of every parameter of a cell, as float64, keyed by parameter.
///
/// Layouts: a vector `[n]` as is; a matrix `[r, c]` row-major; a block matrix
/// `block[n, k]` as `[n/k, k, k]` (block, row in block, column in block).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamValues {
    values: Vec<Vec<f64>>,
}

impl ParamValues {
    /// Every parameter of `cell` at zero, sized by `sizes`.
    pub fn zeros(cell: &Cell, sizes: &DimSizes) -> Self {
        ParamValues { values: cell.params.values().map(|p| vec![0.0; param_len(p.shape, sizes)]).collect() }
    }

    /// Every parameter, filled by `fill(param, index)`.
    pub fn from_fn(cell: &Cell, sizes: &DimSizes, mut fill: impl FnMut(Handle<Param>, usize) -> f64) -> Self {
        let values = cell
            .params
            .iter()
            .map(|(handle, p)| (0..param_len(p.shape, sizes)).map(|i| fill(handle, i)).collect())
            .collect();
        ParamValues { values }
    }

    /// The values of `param` (empty for a handle of another cell).
    pub fn get(&self, param: Handle<Param>) -> &[f64] {
        self.values.get(param.index()).map_or(&[], Vec::as_slice)
    }

    /// The values of `param`, to change in place.
    pub fn get_mut(&mut self, param: Handle<Param>) -> &mut [f64] {
        self.values.get_mut(param.index()).map_or(&mut [], Vec::as_mut_slice)
    }

    /// Replaces the values of `param`; they must have its length.
    pub fn set(&mut self, param: Handle<Param>, values: Vec<f64>) -> Result<(), InterpError> {
        let slot = self
            .values
            .get_mut(param.index())
            .ok_or_else(|| InterpError::Mismatch(format!("no parameter number {}", param.index())))?;
        if slot.len() != values.len() {
            return Err(InterpError::WrongLength {
                what: format!("parameter number {}", param.index()),
                expected: slot.len(),
                found: values.len(),
            });
        }
        *slot = values;
        Ok(())
    }

    /// Checks that there is one value list per parameter of `cell`, each of the
    /// right length.
    pub fn check(&self, cell: &Cell, sizes: &DimSizes) -> Result<(), InterpError> {
        if self.values.len() != cell.params.len() {
            return Err(InterpError::WrongCount {
                what: "parameters",
                expected: cell.params.len(),
                found: self.values.len(),
            });
        }
        for (param, values) in cell.params.values().zip(&self.values) {
            let expected = param_len(param.shape, sizes);
            if values.len() != expected {
                return Err(InterpError::WrongLength {
                    what: format!("param {}", param.name),
                    expected,
                    found: values.len(),
                });
            }
        }
        Ok(())
    }
}
