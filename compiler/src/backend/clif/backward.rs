//! The backward kernel's program: the step's adjoint (`crate::derive::adjoint`)
//! as roots of a program over one row.
//!
//! Per row it stores the state cotangent `mu_{t-1}` (the adjoint's `states`),
//! each projection's cotangent (at its column of the plan's launches; the
//! runtime turns them into `dW` and `dx` by matrix products), each input's
//! cotangent through its elementwise uses, and adds each vector parameter's
//! share and each matrix use's `a ⊗ u` to the parameter gradient. It reads the previous state,
//! the hoisted values, the input projections and the inputs (recomputing the
//! step values the adjoint reads), the seed `mu_t` and the output cotangents.

use super::internal;
use super::layout::{PreValue, Slot};
use super::program::{Base, Context, Home, Matrix, Outer, Program, Root, Sink, Stage, plan};
use crate::Derived;
use crate::arena::Handle;
use crate::check::Param;
use crate::derive::adjoint::{Adjoint, ParamAdjoint};
use crate::error::Error;
use crate::ir::{Graph, Node, Op};

/// One use `W @ u` of a matrix parameter whose share `a ⊗ u` the kernel adds.
#[derive(Clone, Copy, Debug)]
pub(super) struct MatrixUse {
    pub param: Handle<Param>,
    pub a: Handle<Node>,
    pub u: Handle<Node>,
}

/// What the backward kernel computes per row.
#[derive(Clone, Debug, Default)]
pub(super) struct BackwardRoots {
    pub roots: Vec<Root>,
    pub uses: Vec<MatrixUse>,
}

/// Where the backward kernel's leaves live.
pub(super) struct Leaves<'a> {
    pub params: &'a [Slot],
    pub states: &'a [Slot],
    pub pre: &'a [PreValue],
    /// The projections: node, first column, rows.
    pub projections: &'a [(Handle<Node>, usize, usize)],
    pub outputs: usize,
}

impl Leaves<'_> {
    /// The address of `node` if the kernel loads it rather than computes it.
    pub fn leaf(&self, graph: &Graph, node: Handle<Node>) -> Option<(Base, usize)> {
        let op = graph.node(node).op;
        if let Some(pre) = self.pre.iter().find(|p| p.node == node) {
            return Some((Base::Pre, pre.slot.offset));
        }
        if let Some(&(_, column, _)) = self.projections.iter().find(|(n, ..)| *n == node) {
            return Some((Base::Projections, column));
        }
        match op {
            Op::Param(p) => self.params.get(p.index()).map(|s| (Base::Params, s.offset)),
            Op::State(s) => self.states.get(s.index()).map(|s| (Base::Prev, s.offset)),
            Op::Input(i) => Some((Base::Input(i.index()), 0)),
            Op::Seed(number) => {
                let number = number as usize;
                match self.states.get(number) {
                    Some(slot) => Some((Base::Mu, slot.offset)),
                    None => {
                        (number - self.states.len() < self.outputs).then(|| (Base::Dout(number - self.states.len()), 0))
                    }
                }
            }
            _ => None,
        }
    }
}

/// The backward kernel's roots.
pub(super) fn backward_roots(derived: &Derived, leaves: &Leaves<'_>, inputs: &[usize]) -> BackwardRoots {
    let adjoint: &Adjoint = &derived.adjoint;
    let mut result = BackwardRoots::default();
    for (&node, slot) in adjoint.states.iter().zip(leaves.states) {
        result.roots.push(Root { node, sink: Sink::Out(slot.offset), len: slot.len });
    }
    for projection in &adjoint.projections {
        if let Some(&(_, column, len)) = leaves.projections.iter().find(|(n, ..)| *n == projection.node) {
            result.roots.push(Root { node: projection.adjoint, sink: Sink::ProjectionGrad(column), len });
        }
    }
    let input_grads = &adjoint.inputs;
    for (i, (grad, &len)) in input_grads.iter().zip(inputs).enumerate() {
        if let Some(node) = *grad {
            result.roots.push(Root { node, sink: Sink::InputGrad(i), len });
        }
    }
    for (p, share) in adjoint.params.iter().enumerate() {
        match share {
            ParamAdjoint::Vector(Some(node)) => {
                if let Some(slot) = leaves.params.get(p) {
                    result.roots.push(Root { node: *node, sink: Sink::Accumulate(slot.offset), len: slot.len });
                }
            }
            ParamAdjoint::Vector(None) => {}
            ParamAdjoint::Matrix(uses) => {
                let param = Handle::from_index(p);
                result.uses.extend(uses.iter().map(|u| MatrixUse { param, a: u.adjoint, u: u.operand }));
            }
        }
    }
    result
}

/// Plans the backward kernel: the roots, then one outer-product stage per
/// matrix use. `split`: loops run over a range of channels.
pub(super) fn plan_backward(
    context: &Context<'_>,
    roots: &BackwardRoots,
    leaves: &Leaves<'_>,
    split: bool,
    scratch: &mut usize,
) -> Result<Program, Error> {
    let keep: Vec<Handle<Node>> = roots.uses.iter().flat_map(|u| [u.a, u.u]).collect();
    let leaf = |node: Handle<Node>| leaves.leaf(context.graph, node);
    let mut program = plan(context, &roots.roots, &keep, &leaf, split, scratch)?;
    for matrix_use in &roots.uses {
        let address = |node| match program.kept(node) {
            Some(Home::Leaf(base, offset)) => Ok((base, offset)),
            _ => Err(internal(context.cell, "a matrix use's vector was not kept")),
        };
        let (a, u) = (address(matrix_use.a)?, address(matrix_use.u)?);
        let (matrix, grad_offset) = context.matrix(matrix_use.param, false)?;
        if !matches!(matrix, Matrix::Dense { .. } | Matrix::Block { .. }) {
            return Err(internal(context.cell, "a matrix use of a parameter that is not a matrix"));
        }
        program.stages.push(Stage::Outer(Outer { matrix, grad_offset, a, u, split }));
    }
    Ok(program)
}
