//! The derivation pipeline in one call: lower, differentiate, simplify, analyse.

use std::fmt;

use crate::analyse::{
    Hoisting, JacobianStructure, Linearity, Projection, StagedProduct, StateJacobian, hoisting, jacobian_structure,
    linearity, projections, staged_products,
};
use crate::arena::Handle;
use crate::check::{Cell, DimSizes};
use crate::derive::adjoint::{Adjoint, adjoint, adjoint_stopping_at, operand_adjoint};
use crate::derive::{Derivatives, SimplifyLimits, SimplifyReport, StopReason, derive, simplify};
use crate::error::Error;
use crate::interp::{InterpError, Interpreter, ParamValues};
use crate::ir::{Ir, Node, ValueName, lower};

/// Everything derived from one checked cell: what the back ends compile.
#[derive(Clone, Debug)]
pub struct Derived {
    /// The cell it was derived from.
    pub cell: Cell,
    /// The step's IR, followed by the derivative expressions.
    pub ir: Ir,
    /// Every derivative of the step, simplified.
    pub derivatives: Derivatives,
    /// The proved structure of the state Jacobian.
    pub jacobian: StateJacobian,
    /// Which state updates are affine in the states (a linear cell is solved
    /// by one scan).
    pub linearity: Linearity,
    /// The state-independent values to compute before the recurrence.
    pub hoisting: Hoisting,
    /// The input projections among them, typed by their matrices' shapes: the
    /// single definition every back end and runtime reads.
    pub projections: Vec<Projection>,
    /// What the simplification did.
    pub simplify: SimplifyReport,
    /// The step's vector-Jacobian product, for backward passes.
    pub adjoint: Adjoint,
    /// The staged products and their adjoints, when the cell has staged
    /// products and no value that moves elements (then every staged operand
    /// is elementwise over the values beneath it).
    pub staged: Option<Staged>,
}

/// The adjoints of a pre-pass of staged products ([`staged_products`]): the
/// kernel plan's stages compute each operand for all steps before the
/// recurrence, then its products as matrix products.
#[derive(Clone, Debug)]
pub struct Staged {
    /// The staged products, in graph order.
    pub products: Vec<StagedProduct>,
    /// The step's adjoint stopping at projections and staged products alike
    /// (the recurrence's backward with the staged products as raw values).
    pub adjoint: Adjoint,
    /// Each distinct staged operand, in graph order, with its pullback.
    pub operands: Vec<StagedOperand>,
}

/// One staged operand `v` and its pullback onto the values beneath it.
#[derive(Clone, Debug)]
pub struct StagedOperand {
    /// The operand node.
    pub node: Handle<Node>,
    /// The seed number its cotangent enters as (from
    /// [`crate::derive::adjoint::STAGED_SEEDS`] on).
    pub seed: u32,
    /// Its pullback ([`operand_adjoint`]).
    pub adjoint: Adjoint,
}

/// Lowers, differentiates and analyses `cell`, simplifying with the default
/// [`SimplifyLimits`].
pub fn derive_cell(cell: &Cell) -> Result<Derived, Error> {
    derive_cell_with(cell, &SimplifyLimits::default())
}

/// [`derive_cell`] with explicit simplification limits.
pub fn derive_cell_with(cell: &Cell, limits: &SimplifyLimits) -> Result<Derived, Error> {
    let mut ir = lower(cell)?;
    let mut derivatives = derive(cell, &mut ir)?;
    let simplify = simplify(cell, &mut ir, &mut derivatives, limits);
    let jacobian = jacobian_structure(cell, &derivatives);
    let linearity = linearity(&ir, &derivatives);
    let hoisting = hoisting(&ir);
    let projections = projections(cell, &ir.graph, ir.step_len, &hoisting.state_dependent);
    let products = staged_products(cell, &ir.graph, ir.step_len, &hoisting.state_dependent);
    let moves = ir.graph.iter().any(|(_, node)| node.moves_elements());
    let adjoint = adjoint(cell, &mut ir, &projections);
    let staged = (!products.is_empty() && !moves).then(|| {
        let stops: Vec<Handle<Node>> =
            projections.iter().map(|p| p.node).chain(products.iter().map(|p| p.node)).collect();
        let recurrence = adjoint_stopping_at(cell, &mut ir, &stops);
        let mut operands: Vec<StagedOperand> = Vec::new();
        let first_seed = crate::derive::adjoint::STAGED_SEEDS;
        for product in &products {
            if operands.iter().all(|o| o.node != product.operand) {
                let seed = first_seed + operands.len() as u32;
                let pullback = operand_adjoint(cell, &mut ir, &stops, product.operand, seed);
                operands.push(StagedOperand { node: product.operand, seed, adjoint: pullback });
            }
        }
        Staged { products, adjoint: recurrence, operands }
    });
    Ok(Derived {
        cell: cell.clone(),
        ir,
        derivatives,
        jacobian,
        linearity,
        hoisting,
        projections,
        simplify,
        adjoint,
        staged,
    })
}

impl Derived {
    /// The structure of the state Jacobian.
    pub fn structure(&self) -> JacobianStructure {
        self.jacobian.structure
    }

    /// Whether every state update is affine in the states: one scan of the
    /// affine maps solves the recurrence exactly.
    pub fn is_linear(&self) -> bool {
        self.linearity.is_linear()
    }

    /// A float64 interpreter of the step and its derivatives, with dims bound by
    /// `sizes` and parameters `params`.
    pub fn interpreter<'a>(
        &'a self,
        sizes: &'a DimSizes,
        params: &'a ParamValues,
    ) -> Result<Interpreter<'a>, InterpError> {
        Interpreter::new(&self.cell, &self.ir, sizes, params)
    }

    /// The step's IR as text (`rnnc compile --emit ir`): the step only, without
    /// the derivative expressions.
    pub fn ir_text(&self) -> String {
        let mut step = self.ir.clone();
        let keep: Vec<bool> = (0..step.graph.len()).map(|i| i < step.step_len).collect();
        step.graph = step.graph.compact(&keep).0;
        step.display(&self.cell).to_string()
    }

    /// Everything derived, as text (`rnnc compile --emit jacobian`).
    pub fn jacobian_text(&self) -> String {
        JacobianText(self).to_string()
    }
}

struct JacobianText<'a>(&'a Derived);

impl fmt::Display for JacobianText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let derived = self.0;
        let jacobian = &derived.jacobian;
        writeln!(f, "; cell {}", derived.cell.name)?;
        writeln!(f, "; structure: {} ({})", jacobian.structure, jacobian.reason)?;
        let states: Vec<&str> = derived.cell.states.values().map(|s| s.name.as_str()).collect();
        let order = if jacobian.interleaved { "interleaved channel by channel" } else { "concatenated" };
        writeln!(f, "; states: {} ({order})", states.join(", "))?;
        writeln!(f, "; linear in the states: {}", linear_states(derived))?;
        let hoisted: Vec<String> = derived.hoisting.nodes.iter().map(|&n| ValueName(n).to_string()).collect();
        writeln!(f, "; hoisted: {}", if hoisted.is_empty() { "none".to_owned() } else { hoisted.join(", ") })?;
        let report = &derived.simplify;
        let stop = match &report.stop_reason {
            StopReason::Saturated => "saturated".to_owned(),
            StopReason::IterationLimit(n) => format!("iteration limit {n}"),
            StopReason::NodeLimit(n) => format!("e-node limit {n}"),
            StopReason::TimeLimit(t) => format!("time limit {} ms", t.as_millis()),
            StopReason::Other(reason) => reason.clone(),
            StopReason::NothingToSimplify => "nothing to simplify".to_owned(),
            StopReason::Skipped { nodes } => format!("skipped ({nodes} nodes)"),
        };
        writeln!(
            f,
            "; simplify: {stop} after {} iterations, {} e-nodes; {}; derivative nodes {} -> {}, cost {} -> {}",
            report.iterations,
            report.egraph_nodes,
            if report.rewritten { "rewritten" } else { "kept as derived" },
            report.nodes_before,
            report.nodes_after,
            report.cost_before,
            report.cost_after,
        )?;
        write!(f, "{}", derived.ir.display(&derived.cell))?;
        write!(f, "{}", derived.derivatives.display(&derived.cell, &derived.ir))
    }
}

/// The states whose updates are affine in the states: `all`, `none`, or their
/// names (`rnnc compile --emit jacobian`, the filetests' `linear` check).
pub fn linear_states(derived: &Derived) -> String {
    let names: Vec<&str> = derived
        .cell
        .states
        .values()
        .zip(&derived.linearity.states)
        .filter(|&(_, &linear)| linear)
        .map(|(state, _)| state.name.as_str())
        .collect();
    if derived.is_linear() {
        "all".to_owned()
    } else if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for Derived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        JacobianText(self).fmt(f)
    }
}
