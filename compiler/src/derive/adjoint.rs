//! The adjoint of the step: reverse-mode code for a backward pass, as IR.
//!
//! A backward pass through a sequence needs, at every step, the vector-Jacobian
//! product of the whole step: given cotangents for its results (`mu_i` for each
//! state's next value, `dout_o` for each output), the cotangents of everything the
//! step reads. [`adjoint`] builds that computation once, as IR nodes appended to
//! the step's graph, by reverse accumulation over the step (users before
//! operands, so nothing recurses). The cotangents enter as [`Op::Seed`] nodes:
//! seed `i` is state `i`'s cotangent, seed `states + o` output `o`'s
//! ([`Adjoint::state_seed`], [`Adjoint::output_seed`]).
//!
//! Propagation stops at the *projections* ([`crate::analyse::projections`]): the
//! state-independent products `W @ x` of an input, which the back ends compute for all steps at once as
//! matrix products. Their cotangents are results ([`Adjoint::projections`]); a
//! backward pass turns them into `dW = sum dP ⊗ x` and `dx += W^T dP` with matrix
//! products over every step, never per step.
//!
//! The step's state cotangent `mu_{t-1} = J_t^T mu_t + g_t` is also given with
//! the outputs' seeds only ([`Adjoint::direct`], the `g_t` of the reverse scan).

use super::linear::LinearMaps;
use super::products::{seed, transpose_apply};
use super::rules::partials;
use crate::analyse::Projection;
use crate::arena::Handle;
use crate::check::{Cell, Param, ParamShape, Size};
use crate::ir::{Graph, Ir, Node, Op, Shape};

/// The cotangent of a projection `W @ x` (a state-independent product of an input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectionAdjoint {
    /// The product node.
    pub node: Handle<Node>,
    /// Its cotangent (a vector of the product's length).
    pub adjoint: Handle<Node>,
}

/// One use `W @ u` of a matrix parameter inside the step (not a projection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixUseAdjoint {
    /// The product node.
    pub product: Handle<Node>,
    /// The vector `u`.
    pub operand: Handle<Node>,
    /// The product's cotangent `a`: this use adds `a ⊗ u` to `W`'s gradient
    /// (its blocks only, for a `block[H, K]` parameter).
    pub adjoint: Handle<Node>,
}

/// A parameter's share of the step's vector-Jacobian product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamAdjoint {
    /// A vector parameter: its cotangent at this step (`None`: zero).
    Vector(Option<Handle<Node>>),
    /// A matrix or block parameter: its uses other than projections.
    Matrix(Vec<MatrixUseAdjoint>),
}

/// The step's vector-Jacobian product. See the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjoint {
    /// The cotangent of each state's previous value (`mu_{t-1}`), indexed like
    /// the cell's states: a vector of the state's length (a zero splat when the
    /// step does not read the state).
    pub states: Vec<Handle<Node>>,
    /// The same, from the outputs' seeds only (`g_t`).
    pub direct: Vec<Handle<Node>>,
    /// The cotangent of each input through its elementwise uses (projections
    /// excluded), indexed like the cell's inputs.
    pub inputs: Vec<Option<Handle<Node>>>,
    /// Every projection reached, in graph order, with its cotangent.
    pub projections: Vec<ProjectionAdjoint>,
    /// Each parameter's share, indexed like the cell's parameters.
    pub params: Vec<ParamAdjoint>,
}

impl Adjoint {
    /// The seed number of state `state`'s cotangent.
    pub fn state_seed(state: usize) -> u32 {
        state as u32
    }

    /// The seed number of output `output`'s cotangent in a cell with `states` states.
    pub fn output_seed(states: usize, output: usize) -> u32 {
        (states + output) as u32
    }
}

/// Builds the step's adjoint, appending its nodes to `ir.graph`.
pub fn adjoint(cell: &Cell, ir: &mut Ir, projections: &[Projection]) -> Adjoint {
    let stops: Vec<Handle<Node>> = projections.iter().map(|p| p.node).collect();
    adjoint_stopping_at(cell, ir, &stops)
}

/// [`adjoint`], stopping at the product nodes `stops` (projections, and the
/// staged products of a plan with stages): their cotangents are its
/// [`Adjoint::projections`].
pub fn adjoint_stopping_at(cell: &Cell, ir: &mut Ir, stops: &[Handle<Node>]) -> Adjoint {
    let is_projection = stop_mask(ir, stops);
    let state_sizes: Vec<Size> = cell.states.values().map(|s| s.size).collect();
    let state_seeds: Vec<Handle<Node>> =
        state_sizes.iter().enumerate().map(|(i, &size)| seed(&mut ir.graph, Adjoint::state_seed(i), size)).collect();
    let output_seeds: Vec<Handle<Node>> = (0..ir.outputs.len())
        .map(|o| {
            let size = match ir.graph.node(ir.outputs[o]).shape {
                Shape::Vector(size) => size,
                Shape::Scalar => Size::Fixed(1),
            };
            seed(&mut ir.graph, Adjoint::output_seed(state_sizes.len(), o), size)
        })
        .collect();
    let mut seeds: Vec<(Handle<Node>, Handle<Node>)> = ir.outputs.iter().copied().zip(output_seeds).collect();
    let direct = sweep(cell, ir, &is_projection, &seeds);
    seeds.extend(ir.updates.iter().copied().zip(state_seeds));
    let mut full = sweep(cell, ir, &is_projection, &seeds);
    full.direct = direct.states;
    full
}

fn stop_mask(ir: &Ir, stops: &[Handle<Node>]) -> Vec<bool> {
    let mut is_stop = vec![false; ir.step_len];
    for stop in stops {
        if let Some(slot) = is_stop.get_mut(stop.index()) {
            *slot = true;
        }
    }
    is_stop
}

/// The first seed number of the staged operands' cotangents
/// ([`operand_adjoint`]): far above every state's and output's, and above
/// those that callers number after them for their own computations.
pub const STAGED_SEEDS: u32 = 1 << 24;

/// The pullback of a staged operand (a computed state-free vector `v`, see
/// [`crate::analyse::staged_products`]): from its cotangent, entering as
/// `Seed(seed)`, the cotangents of the values beneath it, stopping at the
/// products `stops`: the products' ([`Adjoint::projections`]), the inputs'
/// elementwise ones and the vector parameters' shares. Its states are zero.
pub fn operand_adjoint(
    cell: &Cell,
    ir: &mut Ir,
    stops: &[Handle<Node>],
    operand: Handle<Node>,
    number: u32,
) -> Adjoint {
    let is_stop = stop_mask(ir, stops);
    let size = match ir.graph.node(operand).shape {
        Shape::Vector(size) => size,
        Shape::Scalar => Size::Fixed(1),
    };
    let cotangent = seed(&mut ir.graph, number, size);
    sweep(cell, ir, &is_stop, &[(operand, cotangent)])
}

/// One reverse sweep from `seeds` (result node, its cotangent).
fn sweep(cell: &Cell, ir: &mut Ir, is_projection: &[bool], seeds: &[(Handle<Node>, Handle<Node>)]) -> Adjoint {
    let len = ir.step_len;
    let mut adjoints: Vec<Option<Handle<Node>>> = vec![None; len];
    let graph = &mut ir.graph;
    for &(node, cotangent) in seeds {
        if node.index() < len && matches!(graph.node(node).shape, Shape::Vector(_)) {
            adjoints[node.index()] = Some(accumulate(graph, adjoints[node.index()], cotangent));
        }
    }
    let mut maps = LinearMaps::new();
    let mut result = Adjoint {
        states: Vec::new(),
        direct: Vec::new(),
        inputs: vec![None; cell.inputs.len()],
        projections: Vec::new(),
        params: cell
            .params
            .values()
            .map(|p| match p.shape {
                ParamShape::Vector(_) => ParamAdjoint::Vector(None),
                _ => ParamAdjoint::Matrix(Vec::new()),
            })
            .collect(),
    };
    let mut state_adjoints: Vec<Option<Handle<Node>>> = vec![None; cell.states.len()];
    for index in (0..len).rev() {
        let Some(adjoint) = adjoints[index] else { continue };
        let node = Handle::from_index(index);
        let op = graph.node(node).op;
        match op {
            Op::State(state) => state_adjoints[state.index()] = Some(adjoint),
            Op::Input(input) => result.inputs[input.index()] = Some(adjoint),
            Op::Param(param) => set_vector(&mut result.params, param, adjoint),
            Op::MatVec(..) if is_projection[index] => {
                result.projections.push(ProjectionAdjoint { node, adjoint });
                continue;
            }
            Op::MatVec(param, operand) => {
                if let Some(ParamAdjoint::Matrix(uses)) = result.params.get_mut(param.index()) {
                    uses.push(MatrixUseAdjoint { product: node, operand, adjoint });
                }
            }
            _ => {}
        }
        for (operand, partial) in partials(graph, &mut maps, cell, node) {
            if operand.index() >= len || partial.is_none() {
                continue;
            }
            let size = match graph.node(operand).shape {
                Shape::Vector(size) => size,
                Shape::Scalar => continue,
            };
            let through = transpose_apply(graph, cell, &maps, partial, adjoint, size);
            adjoints[operand.index()] = Some(accumulate(graph, adjoints[operand.index()], through));
        }
    }
    result.projections.reverse();
    for uses in result.params.iter_mut() {
        if let ParamAdjoint::Matrix(uses) = uses {
            uses.reverse();
        }
    }
    result.states = state_adjoints
        .into_iter()
        .zip(cell.states.values())
        .map(|(adjoint, state)| {
            adjoint.unwrap_or_else(|| {
                let zero = graph.constant(0.0);
                graph.splat(zero, state.size)
            })
        })
        .collect();
    result
}

fn accumulate(graph: &mut Graph, sum: Option<Handle<Node>>, term: Handle<Node>) -> Handle<Node> {
    match sum {
        Some(sum) => graph.add_values(sum, term),
        None => term,
    }
}

fn set_vector(params: &mut [ParamAdjoint], param: Handle<Param>, adjoint: Handle<Node>) {
    if let Some(ParamAdjoint::Vector(slot)) = params.get_mut(param.index()) {
        *slot = Some(adjoint);
    }
}
