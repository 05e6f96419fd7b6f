//! Evaluating a step: every node of the IR, in arena order, in float64.

use super::values::{InterpError, ParamValues};
use crate::arena::Handle;
use crate::check::{Cell, DimSizes, ParamShape, Size};
use crate::ir::{Ir, Node, Op, ReduceOp, Shape, semantics};

/// The value of one node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar (broadcast where a vector is needed).
    Scalar(f64),
    /// A vector.
    Vector(Vec<f64>),
}

impl Value {
    /// Element `i` (the scalar itself for a scalar; NaN past the end).
    pub fn at(&self, i: usize) -> f64 {
        match self {
            Value::Scalar(x) => *x,
            Value::Vector(v) => v.get(i).copied().unwrap_or(f64::NAN),
        }
    }

    /// The value as a vector of length `len`.
    pub fn to_vector(&self, len: usize) -> Vec<f64> {
        (0..len).map(|i| self.at(i)).collect()
    }
}

/// The values of every node of a step at one point.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    values: Vec<Value>,
}

impl Evaluation {
    /// The value of `node`.
    pub fn value(&self, node: Handle<Node>) -> &Value {
        self.values.get(node.index()).unwrap_or(&Value::Scalar(f64::NAN))
    }
}

/// A float64 interpreter of a cell's IR: the reference every back end is tested
/// against.
#[derive(Clone, Copy, Debug)]
pub struct Interpreter<'a> {
    pub(super) cell: &'a Cell,
    pub(super) ir: &'a Ir,
    pub(super) sizes: &'a DimSizes,
    pub(super) params: &'a ParamValues,
}

impl<'a> Interpreter<'a> {
    /// An interpreter of `ir` (lowered from `cell`) with dims bound by `sizes`
    /// (from [`Cell::bind_dims`]) and parameters `params`.
    pub fn new(cell: &'a Cell, ir: &'a Ir, sizes: &'a DimSizes, params: &'a ParamValues) -> Result<Self, InterpError> {
        params.check(cell, sizes)?;
        if ir.updates.len() != cell.states.len() || ir.outputs.len() != cell.outputs.len() {
            return Err(InterpError::Mismatch("the numbers of states or outputs differ".into()));
        }
        Ok(Interpreter { cell, ir, sizes, params })
    }

    /// The number a size stands for.
    pub fn size(&self, size: Size) -> usize {
        self.sizes.of(size) as usize
    }

    /// The length of node `node`'s value (1 for a scalar).
    fn node_len(&self, node: Handle<Node>) -> usize {
        match self.ir.graph.node(node).shape {
            Shape::Vector(size) => self.size(size),
            Shape::Scalar => 1,
        }
    }

    /// The length of each state, input and output, in declaration order.
    pub fn state_lens(&self) -> Vec<usize> {
        self.cell.states.values().map(|s| self.size(s.size)).collect()
    }

    /// The length of each input.
    pub fn input_lens(&self) -> Vec<usize> {
        self.cell.inputs.values().map(|i| self.size(i.size)).collect()
    }

    /// The length of each output.
    pub fn output_lens(&self) -> Vec<usize> {
        self.cell.outputs.values().map(|o| self.size(o.size)).collect()
    }

    /// Evaluates every node at `inputs` (one vector per input) and `states` (the
    /// previous value of each state).
    pub fn evaluate(&self, inputs: &[&[f64]], states: &[&[f64]]) -> Result<Evaluation, InterpError> {
        self.evaluate_with_seeds(inputs, states, &[])
    }

    /// [`Interpreter::evaluate`], with `seeds[i]` the value of every
    /// [`Op::Seed`]`(i)` node (which must have that node's length); a seed not
    /// given is NaN, and so is everything computed from it.
    pub fn evaluate_with_seeds(
        &self,
        inputs: &[&[f64]],
        states: &[&[f64]],
        seeds: &[&[f64]],
    ) -> Result<Evaluation, InterpError> {
        check_vectors("inputs", inputs, &self.input_lens(), |i| format!("input {}", self.input_name(i)))?;
        check_vectors("states", states, &self.state_lens(), |i| format!("state {}", self.state_name(i)))?;
        let mut values: Vec<Value> = Vec::with_capacity(self.ir.graph.len());
        for (_, node) in self.ir.graph.iter() {
            let get = |h: Handle<Node>| values.get(h.index()).cloned().unwrap_or(Value::Scalar(f64::NAN));
            let len = match node.shape {
                Shape::Vector(size) => self.size(size),
                Shape::Scalar => 1,
            };
            let value = match node.op {
                Op::Const(literal) => Value::Scalar(literal.value()),
                Op::Input(input) => Value::Vector(inputs.get(input.index()).map_or(Vec::new(), |v| v.to_vec())),
                Op::State(state) => Value::Vector(states.get(state.index()).map_or(Vec::new(), |v| v.to_vec())),
                Op::Param(param) => Value::Vector(self.params.get(param).to_vec()),
                Op::Unary(op, a) => map(&get(a), |x| semantics::unary(op, x)),
                Op::Step(a) => map(&get(a), semantics::step),
                Op::Sign(a) => map(&get(a), semantics::sign),
                Op::Binary(op, a, b) => {
                    let (a, b) = (get(a), get(b));
                    match (&a, &b) {
                        (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(semantics::binary(op, *x, *y)),
                        _ => Value::Vector((0..len).map(|i| semantics::binary(op, a.at(i), b.at(i))).collect()),
                    }
                }
                Op::MatVec(param, a) | Op::MatVecT(param, a) => {
                    let transpose = matches!(node.op, Op::MatVecT(..));
                    let shape = self.param_shape(param)?;
                    let x = get(a).to_vector(self.operand_len(shape, transpose));
                    Value::Vector(matvec(shape, self.params.get(param), &x, self.sizes, transpose))
                }
                Op::Splat(a) => Value::Vector(get(a).to_vector(len)),
                Op::Reduce(op, a) => {
                    let operand = get(a).to_vector(self.node_len(a));
                    Value::Vector(vec![op.fold(operand); len])
                }
                Op::FirstMax(a) => {
                    let operand = get(a).to_vector(len);
                    let first = ReduceOp::first_max(&operand);
                    Value::Vector((0..len).map(|i| if i == first { 1.0 } else { 0.0 }).collect())
                }
                Op::Length(size) => Value::Scalar(self.size(size) as f64),
                Op::Slice(a, start) => {
                    let operand = get(a).to_vector(self.node_len(a));
                    let start = self.size(start);
                    Value::Vector((0..len).map(|i| operand.get(start + i).copied().unwrap_or(f64::NAN)).collect())
                }
                Op::Pad(a, start) => {
                    let operand = get(a).to_vector(self.node_len(a));
                    let start = self.size(start);
                    let mut padded = vec![0.0; len];
                    for (j, value) in operand.into_iter().enumerate() {
                        if let Some(slot) = padded.get_mut(start + j) {
                            *slot = value;
                        }
                    }
                    Value::Vector(padded)
                }
                Op::Spread(a, along) => {
                    let operand = get(a).to_vector(self.node_len(a));
                    let cols = along.matrix_cols(len as u64, operand.len() as u64);
                    let at = |i: usize| along.vector_index(i as u64, cols) as usize;
                    Value::Vector((0..len).map(|i| operand.get(at(i)).copied().unwrap_or(f64::NAN)).collect())
                }
                Op::Fold(a, along) => {
                    let operand = get(a).to_vector(self.node_len(a));
                    let cols = along.matrix_cols(operand.len() as u64, len as u64);
                    let mut sums = vec![0.0; len];
                    for (i, value) in operand.into_iter().enumerate() {
                        if let Some(sum) = sums.get_mut(along.vector_index(i as u64, cols) as usize) {
                            *sum += value;
                        }
                    }
                    Value::Vector(sums)
                }
                Op::Seed(number) => match seeds.get(number as usize) {
                    Some(seed) if seed.len() == len => Value::Vector(seed.to_vec()),
                    Some(seed) => {
                        let what = format!("seed {number}");
                        return Err(InterpError::WrongLength { what, expected: len, found: seed.len() });
                    }
                    // Not asked for: what depends on it (the adjoint) is not wanted.
                    None => Value::Vector(vec![f64::NAN; len]),
                },
            };
            values.push(value);
        }
        Ok(Evaluation { values })
    }

    /// The next value of each state at an evaluated point.
    pub fn updates(&self, evaluation: &Evaluation) -> Vec<Vec<f64>> {
        let lens = self.state_lens();
        self.ir.updates.iter().zip(lens).map(|(&u, len)| evaluation.value(u).to_vector(len)).collect()
    }

    /// The value of each output at an evaluated point.
    pub fn outputs(&self, evaluation: &Evaluation) -> Vec<Vec<f64>> {
        let lens = self.output_lens();
        self.ir.outputs.iter().zip(lens).map(|(&o, len)| evaluation.value(o).to_vector(len)).collect()
    }

    pub(super) fn param_shape(&self, param: Handle<crate::check::Param>) -> Result<ParamShape, InterpError> {
        if param.index() < self.cell.params.len() {
            Ok(self.cell.params[param].shape)
        } else {
            Err(InterpError::Mismatch(format!("no parameter number {}", param.index())))
        }
    }

    /// The length of the vector a (transposed) matrix parameter multiplies.
    pub(super) fn operand_len(&self, shape: ParamShape, transpose: bool) -> usize {
        match shape {
            ParamShape::Matrix { rows, cols } => self.size(if transpose { rows } else { cols }),
            ParamShape::Block { size, .. } | ParamShape::Vector(size) => self.size(size),
        }
    }

    fn input_name(&self, i: usize) -> &str {
        self.cell.inputs.values().nth(i).map_or("?", |v| &v.name)
    }

    fn state_name(&self, i: usize) -> &str {
        self.cell.states.values().nth(i).map_or("?", |v| &v.name)
    }
}

/// Checks that `vectors` has one entry of the right length per item.
pub(super) fn check_vectors(
    what: &'static str,
    vectors: &[&[f64]],
    lens: &[usize],
    name: impl Fn(usize) -> String,
) -> Result<(), InterpError> {
    if vectors.len() != lens.len() {
        return Err(InterpError::WrongCount { what, expected: lens.len(), found: vectors.len() });
    }
    for (i, (vector, &len)) in vectors.iter().zip(lens).enumerate() {
        if vector.len() != len {
            return Err(InterpError::WrongLength { what: name(i), expected: len, found: vector.len() });
        }
    }
    Ok(())
}

fn map(value: &Value, f: impl Fn(f64) -> f64) -> Value {
    match value {
        Value::Scalar(x) => Value::Scalar(f(*x)),
        Value::Vector(v) => Value::Vector(v.iter().map(|&x| f(x)).collect()),
    }
}

/// `W @ x` (or `W^T @ x`) for a parameter of shape `shape` stored as `w`
/// (row-major; blocks as `[n/k, k, k]`). `x` has the operand's length.
pub(super) fn matvec(shape: ParamShape, w: &[f64], x: &[f64], sizes: &DimSizes, transpose: bool) -> Vec<f64> {
    let at = |i: usize| w.get(i).copied().unwrap_or(f64::NAN);
    match shape {
        ParamShape::Matrix { rows, cols } => {
            let (rows, cols) = (sizes.of(rows) as usize, sizes.of(cols) as usize);
            if transpose {
                (0..cols).map(|c| (0..rows).map(|r| at(r * cols + c) * x[r]).sum()).collect()
            } else {
                (0..rows).map(|r| (0..cols).map(|c| at(r * cols + c) * x[c]).sum()).collect()
            }
        }
        ParamShape::Block { size, block } => {
            let (n, k) = (sizes.of(size) as usize, block as usize);
            (0..n)
                .map(|row| {
                    let (group, i) = (row / k, row % k);
                    (0..k)
                        .map(|j| {
                            let entry = if transpose { (group * k + j) * k + i } else { (group * k + i) * k + j };
                            at(entry) * x[group * k + j]
                        })
                        .sum()
                })
                .collect()
        }
        ParamShape::Vector(_) => x.iter().zip(w).map(|(a, b)| a * b).collect(),
    }
}
