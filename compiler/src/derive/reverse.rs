//! Reverse accumulation over the step graph: for one result `y`, the map
//! `d y / d v` for every node `v` it depends on, visiting users before operands
//! (the arena backwards), so nothing recurses.

use super::linear::{Linear, LinearMaps};
use super::rules::{Partial, partials};
use super::{MatrixUse, ParamDerivative, ResultDerivatives};
use crate::arena::Handle;
use crate::check::{Cell, ParamShape, Shape};
use crate::ir::{Graph, Node, Op};

/// The local partial derivatives of each node, computed once for all results.
pub(crate) struct PartialCache {
    partials: Vec<Option<Vec<Partial>>>,
}

impl PartialCache {
    pub(crate) fn new(len: usize) -> Self {
        PartialCache { partials: vec![None; len] }
    }

    fn get(&mut self, graph: &mut Graph, maps: &mut LinearMaps, cell: &Cell, node: Handle<Node>) -> Vec<Partial> {
        if let Some(Some(known)) = self.partials.get(node.index()) {
            return known.clone();
        }
        let computed = partials(graph, maps, cell, node);
        if let Some(slot) = self.partials.get_mut(node.index()) {
            *slot = Some(computed.clone());
        }
        computed
    }
}

/// The derivatives of result `root` with respect to every state, input and
/// parameter of `cell`.
pub(crate) fn derivatives_of(
    graph: &mut Graph,
    maps: &mut LinearMaps,
    cache: &mut PartialCache,
    cell: &Cell,
    root: Handle<Node>,
) -> ResultDerivatives {
    let mut result = ResultDerivatives {
        states: vec![None; cell.states.len()],
        inputs: vec![None; cell.inputs.len()],
        params: cell
            .params
            .values()
            .map(|param| match param.shape {
                ParamShape::Vector(_) => ParamDerivative::Vector(None),
                _ => ParamDerivative::Matrix(Vec::new()),
            })
            .collect(),
    };
    let Shape::Vector(size) = graph.node(root).shape else { return result };
    let mut adjoint: Vec<Option<Handle<Linear>>> = vec![None; root.index() + 1];
    adjoint[root.index()] = Some(maps.identity(graph, size));
    for index in (0..=root.index()).rev() {
        let Some(map) = adjoint[index] else { continue };
        let node = Handle::from_index(index);
        match graph.node(node).op {
            Op::State(state) => set(&mut result.states, state.index(), map),
            Op::Input(input) => set(&mut result.inputs, input.index(), map),
            Op::Param(param) => {
                if let Some(ParamDerivative::Vector(slot)) = result.params.get_mut(param.index()) {
                    *slot = Some(map);
                }
            }
            Op::MatVec(param, operand) => {
                if let Some(ParamDerivative::Matrix(uses)) = result.params.get_mut(param.index()) {
                    uses.push(MatrixUse { product: node, operand, map });
                }
            }
            _ => {}
        }
        for (operand, partial) in cache.get(graph, maps, cell, node) {
            let Some(slot) = adjoint.get(operand.index()).copied() else { continue };
            let through = maps.compose(graph, Some(map), partial);
            adjoint[operand.index()] = maps.sum(graph, slot, through);
        }
    }
    for derivative in &mut result.params {
        if let ParamDerivative::Matrix(uses) = derivative {
            uses.reverse();
        }
    }
    result
}

fn set<T: Copy>(slots: &mut [Option<T>], index: usize, value: T) {
    if let Some(slot) = slots.get_mut(index) {
        *slot = Some(value);
    }
}
