//! Derivatives at a point: the state Jacobian (dense, and in the form its
//! structure allows), and the derivatives of a result with respect to an input
//! or a parameter, as dense matrices and as vector-Jacobian products.

use super::dense::Matrix;
use super::eval::{Evaluation, Interpreter};
use super::values::param_len;
use crate::analyse::{JacobianStructure, StateJacobian};
use crate::arena::Handle;
use crate::check::{Param, ParamShape};
use crate::derive::{Derivatives, LinearMaps, ParamDerivative, ResultDerivatives};

/// The state Jacobian at a point, stored as its structure allows.
#[derive(Clone, Debug, PartialEq)]
pub enum StructuredJacobian {
    /// The diagonal, one entry per element of the full state.
    Diagonal(Vec<f64>),
    /// The blocks along the diagonal, `[N / block, block, block]` row-major.
    BlockDiagonal {
        /// The side of a block.
        block: usize,
        /// The blocks.
        blocks: Vec<f64>,
    },
    /// Every entry.
    Dense(Matrix),
}

impl StructuredJacobian {
    /// The Jacobian as a dense `n x n` matrix.
    pub fn to_dense(&self, n: usize) -> Matrix {
        let mut m = Matrix::zeros(n, n);
        match self {
            StructuredJacobian::Diagonal(diag) => diag.iter().enumerate().for_each(|(i, &v)| m.set(i, i, v)),
            StructuredJacobian::BlockDiagonal { block, blocks } => {
                for (index, &value) in blocks.iter().enumerate() {
                    let (group, i, j) = (index / (block * block), index / block % block, index % block);
                    m.set(group * block + i, group * block + j, value);
                }
            }
            StructuredJacobian::Dense(dense) => return dense.clone(),
        }
        m
    }
}

impl Interpreter<'_> {
    /// The position of channel `channel` of state `state` in the full state
    /// vector: `channel * n + state` when interleaved, else after the earlier
    /// states.
    pub fn state_position(&self, state: usize, channel: usize, interleaved: bool) -> usize {
        let lens = self.state_lens();
        if interleaved { channel * lens.len() + state } else { lens.iter().take(state).sum::<usize>() + channel }
    }

    /// The full state Jacobian `d state' / d state` at `evaluation`, as a dense
    /// matrix over the full state vector (see [`Interpreter::state_position`]).
    pub fn state_jacobian(&self, evaluation: &Evaluation, derivatives: &Derivatives, interleaved: bool) -> Matrix {
        let lens = self.state_lens();
        let total: usize = lens.iter().sum();
        let mut full = Matrix::zeros(total, total);
        for (i, &rows) in lens.iter().enumerate() {
            for (j, &cols) in lens.iter().enumerate() {
                let block = self.map_matrix(evaluation, &derivatives.maps, derivatives.state_block(i, j), rows, cols);
                for r in 0..rows {
                    for c in 0..cols {
                        let (row, col) =
                            (self.state_position(i, r, interleaved), self.state_position(j, c, interleaved));
                        full.set(row, col, block.get(r, c));
                    }
                }
            }
        }
        full
    }

    /// The state Jacobian at `evaluation` in the form `jacobian.structure`
    /// allows (entries outside that form are dropped: they are zero when the
    /// structure is right).
    pub fn structured_state_jacobian(
        &self,
        evaluation: &Evaluation,
        derivatives: &Derivatives,
        jacobian: &StateJacobian,
    ) -> StructuredJacobian {
        let full = self.state_jacobian(evaluation, derivatives, jacobian.interleaved);
        let n = full.rows;
        match jacobian.structure {
            JacobianStructure::Diagonal => StructuredJacobian::Diagonal((0..n).map(|i| full.get(i, i)).collect()),
            JacobianStructure::BlockDiagonal { block } if block > 0 && n.is_multiple_of(block as usize) => {
                let k = block as usize;
                let blocks = (0..n * k).map(|index| {
                    let (group, i, j) = (index / (k * k), index / k % k, index % k);
                    full.get(group * k + i, group * k + j)
                });
                StructuredJacobian::BlockDiagonal { block: k, blocks: blocks.collect() }
            }
            _ => StructuredJacobian::Dense(full),
        }
    }

    /// `d y / d input` for the result `result` (of length `result_len`).
    pub fn input_jacobian(
        &self,
        evaluation: &Evaluation,
        maps: &LinearMaps,
        result: &ResultDerivatives,
        result_len: usize,
        input: usize,
    ) -> Matrix {
        let cols = self.input_lens().get(input).copied().unwrap_or(0);
        self.map_matrix(evaluation, maps, result.inputs.get(input).copied().flatten(), result_len, cols)
    }

    /// `d y / d state` (the previous value) for the result `result`.
    pub fn state_derivative(
        &self,
        evaluation: &Evaluation,
        maps: &LinearMaps,
        result: &ResultDerivatives,
        result_len: usize,
        state: usize,
    ) -> Matrix {
        let cols = self.state_lens().get(state).copied().unwrap_or(0);
        self.map_matrix(evaluation, maps, result.states.get(state).copied().flatten(), result_len, cols)
    }

    /// `d y / d param` for the result `result`, as a `result_len x P` matrix whose
    /// columns follow the parameter's storage layout (see
    /// [`ParamValues`](super::ParamValues)).
    pub fn param_jacobian(
        &self,
        evaluation: &Evaluation,
        maps: &LinearMaps,
        result: &ResultDerivatives,
        result_len: usize,
        param: Handle<Param>,
    ) -> Matrix {
        let Ok(shape) = self.param_shape(param) else { return Matrix::zeros(result_len, 0) };
        let len = param_len(shape, self.sizes);
        match result.params.get(param.index()) {
            Some(ParamDerivative::Vector(map)) => self.map_matrix(evaluation, maps, *map, result_len, len),
            Some(ParamDerivative::Matrix(uses)) => {
                let mut jacobian = Matrix::zeros(result_len, len);
                for matrix_use in uses {
                    let rows = self.product_len(shape);
                    let m = self.map_matrix(evaluation, maps, Some(matrix_use.map), result_len, rows);
                    let u = evaluation.value(matrix_use.operand).to_vector(self.operand_len(shape, false));
                    for (r, c, index) in self.param_entries(shape) {
                        for k in 0..result_len {
                            let entry = jacobian.get(k, index) + m.get(k, r) * u[c];
                            jacobian.set(k, index, entry);
                        }
                    }
                }
                jacobian
            }
            None => Matrix::zeros(result_len, len),
        }
    }

    /// `lambda^T d y / d param` for the result `result`, in the parameter's
    /// storage layout, computed as a back end does: `M^T lambda` for a vector
    /// parameter, and `sum over uses of (M^T lambda) ⊗ u` for a matrix.
    pub fn param_vjp(
        &self,
        evaluation: &Evaluation,
        maps: &LinearMaps,
        result: &ResultDerivatives,
        lambda: &[f64],
        param: Handle<Param>,
    ) -> Vec<f64> {
        let Ok(shape) = self.param_shape(param) else { return Vec::new() };
        let mut gradient = vec![0.0; param_len(shape, self.sizes)];
        match result.params.get(param.index()) {
            Some(ParamDerivative::Vector(map)) => {
                let m = self.map_matrix(evaluation, maps, *map, lambda.len(), gradient.len());
                gradient = m.transpose_times(lambda);
                gradient.resize(param_len(shape, self.sizes), 0.0);
            }
            Some(ParamDerivative::Matrix(uses)) => {
                for matrix_use in uses {
                    let m =
                        self.map_matrix(evaluation, maps, Some(matrix_use.map), lambda.len(), self.product_len(shape));
                    let a = m.transpose_times(lambda);
                    let u = evaluation.value(matrix_use.operand).to_vector(self.operand_len(shape, false));
                    for (r, c, index) in self.param_entries(shape) {
                        gradient[index] += a.get(r).copied().unwrap_or(0.0) * u[c];
                    }
                }
            }
            None => {}
        }
        gradient
    }

    fn product_len(&self, shape: ParamShape) -> usize {
        match shape {
            ParamShape::Matrix { rows, .. } => self.size(rows),
            ParamShape::Block { size, .. } | ParamShape::Vector(size) => self.size(size),
        }
    }

    /// Every stored entry of a matrix parameter: `(row, column, storage index)`.
    fn param_entries(&self, shape: ParamShape) -> Vec<(usize, usize, usize)> {
        match shape {
            ParamShape::Matrix { rows, cols } => {
                let (rows, cols) = (self.size(rows), self.size(cols));
                (0..rows * cols).map(|index| (index / cols, index % cols, index)).collect()
            }
            ParamShape::Block { size, block } => {
                let (n, k) = (self.size(size), block as usize);
                (0..n * k)
                    .map(|index| {
                        let (group, i, j) = (index / (k * k), index / k % k, index % k);
                        (group * k + i, group * k + j, index)
                    })
                    .collect()
            }
            ParamShape::Vector(size) => (0..self.size(size)).map(|i| (i, i, i)).collect(),
        }
    }
}
