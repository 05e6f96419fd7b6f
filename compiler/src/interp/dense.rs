//! Dense matrices, and linear maps evaluated as dense matrices at a point.
//!
//! Maps are evaluated bottom-up over their DAG (operands first), each once, so
//! the cost is polynomial in the map's size whatever its sharing; O(n^3) per
//! composition is fine for a reference at test sizes.

use super::eval::{Evaluation, Interpreter, matvec};
use crate::arena::Handle;
use crate::check::ParamShape;
use crate::derive::{Linear, LinearMaps};

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` entries, row by row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// The zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// Entry `(row, col)` (0 outside the matrix).
    pub fn get(&self, row: usize, col: usize) -> f64 {
        if row < self.rows && col < self.cols { self.data[row * self.cols + col] } else { 0.0 }
    }

    /// Sets entry `(row, col)` (ignored outside the matrix).
    pub fn set(&mut self, row: usize, col: usize, value: f64) {
        if row < self.rows && col < self.cols {
            self.data[row * self.cols + col] = value;
        }
    }

    /// `self * other` (entries past a mismatched inner size count as 0).
    pub fn mul(&self, other: &Matrix) -> Matrix {
        let mut out = Matrix::zeros(self.rows, other.cols);
        for r in 0..self.rows {
            for k in 0..self.cols {
                let a = self.get(r, k);
                if a != 0.0 {
                    for c in 0..other.cols {
                        out.data[r * other.cols + c] += a * other.get(k, c);
                    }
                }
            }
        }
        out
    }

    /// `self + other`.
    pub fn add(&self, other: &Matrix) -> Matrix {
        let mut out = Matrix::zeros(self.rows.max(other.rows), self.cols.max(other.cols));
        for r in 0..out.rows {
            for c in 0..out.cols {
                out.data[r * out.cols + c] = self.get(r, c) + other.get(r, c);
            }
        }
        out
    }

    /// `self^T x`.
    pub fn transpose_times(&self, x: &[f64]) -> Vec<f64> {
        (0..self.cols)
            .map(|c| (0..self.rows).map(|r| self.get(r, c) * x.get(r).copied().unwrap_or(0.0)).sum())
            .collect()
    }

    /// `self x`.
    pub fn times(&self, x: &[f64]) -> Vec<f64> {
        (0..self.rows)
            .map(|r| (0..self.cols).map(|c| self.get(r, c) * x.get(c).copied().unwrap_or(0.0)).sum())
            .collect()
    }
}

impl Interpreter<'_> {
    /// The map `map` at the point `evaluation`, as a dense `rows x cols` matrix
    /// (`rows x cols` zeros for the zero map).
    pub fn map_matrix(
        &self,
        evaluation: &Evaluation,
        maps: &LinearMaps,
        map: Option<Handle<Linear>>,
        rows: usize,
        cols: usize,
    ) -> Matrix {
        let Some(map) = map else { return Matrix::zeros(rows, cols) };
        let mut needed = vec![false; maps.len()];
        needed[map.index()] = true;
        for index in (0..=map.index()).rev() {
            if needed[index]
                && let Linear::Compose(a, b) | Linear::Sum(a, b) = *maps.get(Handle::from_index(index))
            {
                needed[a.index()] = true;
                needed[b.index()] = true;
            }
        }
        let mut dense: Vec<Option<Matrix>> = vec![None; map.index() + 1];
        for index in 0..=map.index() {
            if !needed[index] {
                continue;
            }
            let get =
                |h: Handle<Linear>, dense: &[Option<Matrix>]| dense[h.index()].clone().unwrap_or(Matrix::zeros(0, 0));
            let value = match *maps.get(Handle::from_index(index)) {
                Linear::Diag { diag, size } => {
                    let n = self.size(size);
                    let value = evaluation.value(diag);
                    let mut m = Matrix::zeros(n, n);
                    for i in 0..n {
                        m.set(i, i, value.at(i));
                    }
                    m
                }
                Linear::Matrix(param) | Linear::MatrixT(param) => {
                    let transpose = matches!(maps.get(Handle::from_index(index)), Linear::MatrixT(_));
                    self.param_matrix(param, transpose)
                }
                Linear::Ones { rows, cols } => {
                    let (rows, cols) = (self.size(rows), self.size(cols));
                    let mut m = Matrix::zeros(rows, cols);
                    for r in 0..rows {
                        for c in 0..cols {
                            m.set(r, c, 1.0);
                        }
                    }
                    m
                }
                Linear::Select { rows, cols, start } | Linear::Embed { rows, cols, start } => {
                    let embed = matches!(maps.get(Handle::from_index(index)), Linear::Embed { .. });
                    let (rows, cols, start) = (self.size(rows), self.size(cols), self.size(start));
                    let mut m = Matrix::zeros(rows, cols);
                    for r in 0..rows {
                        for c in 0..cols {
                            let on = if embed { r == start + c } else { c == start + r };
                            if on {
                                m.set(r, c, 1.0);
                            }
                        }
                    }
                    m
                }
                Linear::Spread { rows, cols, along } | Linear::Fold { rows, cols, along } => {
                    let fold = matches!(maps.get(Handle::from_index(index)), Linear::Fold { .. });
                    let (rows, cols) = (self.size(rows), self.size(cols));
                    // The matrix's elements and its columns: `C = elements / len` for
                    // rows, `len` for columns.
                    let (elements, vector) = if fold { (cols, rows) } else { (rows, cols) };
                    let matrix_cols = along.matrix_cols(elements as u64, vector as u64);
                    let mut m = Matrix::zeros(rows, cols);
                    for i in 0..elements {
                        let j = along.vector_index(i as u64, matrix_cols) as usize;
                        if fold { m.set(j, i, 1.0) } else { m.set(i, j, 1.0) }
                    }
                    m
                }
                Linear::Compose(a, b) => get(a, &dense).mul(&get(b, &dense)),
                Linear::Sum(a, b) => get(a, &dense).add(&get(b, &dense)),
            };
            dense[index] = Some(value);
        }
        dense[map.index()].take().unwrap_or(Matrix::zeros(rows, cols))
    }

    /// A matrix or block parameter (transposed or not) as a dense matrix.
    pub fn param_matrix(&self, param: Handle<crate::check::Param>, transpose: bool) -> Matrix {
        let Ok(shape) = self.param_shape(param) else { return Matrix::zeros(0, 0) };
        let cols = self.operand_len(shape, transpose);
        let rows = match shape {
            ParamShape::Matrix { rows, cols } => self.size(if transpose { cols } else { rows }),
            ParamShape::Block { size, .. } | ParamShape::Vector(size) => self.size(size),
        };
        let mut m = Matrix::zeros(rows, cols);
        let mut unit = vec![0.0; cols];
        for c in 0..cols {
            unit[c] = 1.0;
            let column = matvec(shape, self.params.get(param), &unit, self.sizes, transpose);
            for (r, value) in column.into_iter().enumerate() {
                m.set(r, c, value);
            }
            unit[c] = 0.0;
        }
        m
    }
}
