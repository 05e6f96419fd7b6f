//! Derivatives of a step: every Jacobian a solver or a backward pass needs, as
//! [`LinearMaps`] over IR expressions, then simplified with e-graphs.
//!
//! [`derive()`] differentiates each result `y` of the step (each state's next
//! value, each output) by reverse accumulation over the graph (`reverse.rs`): it
//! visits the nodes from `y` back to the leaves and gives, for every state, input
//! and parameter, the linear map `d y / d x` (`None` when `y` does not depend on
//! `x`). The rules are the plain ones (`rules.rs`); the maps they build are
//! normalised as they are built ([`linear`]), so a diagonal Jacobian is a single
//! vector expression. Derivative expressions are appended to the IR's graph after
//! the step's nodes and read the step's values (`tanh' = 1 - t * t` reads `t`).
//!
//! [`simplify()`] then rewrites the derivative expressions with egg (constant
//! folding, algebraic identities, factoring) under explicit limits, extracts the
//! cheapest form (step values are free) and rebuilds the graph, sharing common
//! subterms. It never changes the step's own nodes.
//!
//! Matrix parameters are not differentiated into 3-tensors: for `W` the
//! derivative is the list of its uses `W @ u` in the step, each with the map
//! `M = d y / d (W @ u)`, so that a backward pass computes
//! `lambda^T d y / d W = sum over uses of (M^T lambda) ⊗ u` (restricted to the
//! blocks for a `block[H, K]` parameter): one outer product per use, which is a
//! matrix product over a batch of steps.

pub mod adjoint;
mod display;
pub mod linear;
pub mod products;
mod reverse;
mod rules;
pub mod simplify;

pub use display::DerivativesDisplay;
pub use linear::{Linear, LinearMaps, MapForm, MapName, MapStructure};
pub use simplify::{SimplifyLimits, SimplifyReport, StopReason, simplify};

use crate::arena::Handle;
use crate::check::Cell;
use crate::error::{Error, ErrorKind};
use crate::ir::{Ir, Node};

/// The most node visits [`derive()`] makes (the sum over the step's results of
/// the number of nodes each can depend on) before it refuses a cell as too large.
pub const MAX_DERIVATION_WORK: usize = 20_000_000;

/// The derivative of a result with respect to one parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamDerivative {
    /// A vector parameter `p`: the map `d y / d p` (`None`: zero).
    Vector(Option<Handle<Linear>>),
    /// A matrix or block parameter `W`: its uses `W @ u` through which `y`
    /// depends on it, in graph order (empty: zero).
    Matrix(Vec<MatrixUse>),
}

/// One use `W @ u` of a matrix parameter and the derivative of a result there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixUse {
    /// The product node `W @ u`.
    pub product: Handle<Node>,
    /// The vector `u`.
    pub operand: Handle<Node>,
    /// `M = d y / d (W @ u)`; this use contributes `(M^T lambda) ⊗ u` to
    /// `lambda^T d y / d W`.
    pub map: Handle<Linear>,
}

/// The derivatives of one result `y` of the step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultDerivatives {
    /// `d y / d s` for each state `s` (its previous value), indexed like
    /// [`Cell::states`].
    pub states: Vec<Option<Handle<Linear>>>,
    /// `d y / d x` for each input, indexed like [`Cell::inputs`].
    pub inputs: Vec<Option<Handle<Linear>>>,
    /// The derivative with respect to each parameter, indexed like
    /// [`Cell::params`].
    pub params: Vec<ParamDerivative>,
}

/// Every derivative of a step.
#[derive(Clone, Debug)]
pub struct Derivatives {
    /// The maps the derivatives are made of.
    pub maps: LinearMaps,
    /// The derivatives of each state's next value, indexed like
    /// [`Cell::states`]: `updates[i].states[j]` is the block `d s_i' / d s_j` of
    /// the state Jacobian.
    pub updates: Vec<ResultDerivatives>,
    /// The derivatives of each output, indexed like [`Cell::outputs`].
    pub outputs: Vec<ResultDerivatives>,
}

/// Differentiates every result of the step `ir` (lowered from `cell`), appending
/// the derivative expressions to `ir.graph`.
pub fn derive(cell: &Cell, ir: &mut Ir) -> Result<Derivatives, Error> {
    let mut roots: Vec<Handle<Node>> = ir.roots().collect();
    roots.sort();
    roots.dedup();
    let work: usize = roots.iter().map(|root| root.index() + 1).sum();
    if work > MAX_DERIVATION_WORK {
        return Err(Error::new(
            ErrorKind::CellTooLarge {
                cell: cell.name.clone(),
                what: "the derivation work (results times nodes)",
                size: work,
                limit: MAX_DERIVATION_WORK,
            },
            cell.span,
            "in this cell",
        ));
    }
    let mut maps = LinearMaps::new();
    let mut cache = reverse::PartialCache::new(ir.step_len);
    let mut by_root = std::collections::HashMap::new();
    for &root in &roots {
        let derivatives = reverse::derivatives_of(&mut ir.graph, &mut maps, &mut cache, cell, root);
        by_root.insert(root, derivatives);
    }
    let of = |root: &Handle<Node>| by_root.get(root).cloned().unwrap_or_else(|| empty(cell));
    Ok(Derivatives { updates: ir.updates.iter().map(of).collect(), outputs: ir.outputs.iter().map(of).collect(), maps })
}

fn empty(cell: &Cell) -> ResultDerivatives {
    ResultDerivatives {
        states: vec![None; cell.states.len()],
        inputs: vec![None; cell.inputs.len()],
        params: vec![ParamDerivative::Vector(None); cell.params.len()],
    }
}

impl Derivatives {
    /// The block `d s_i' / d s_j` of the state Jacobian.
    pub fn state_block(&self, i: usize, j: usize) -> Option<Handle<Linear>> {
        self.updates.get(i).and_then(|d| d.states.get(j).copied().flatten())
    }

    /// Every map a derivative refers to directly.
    pub fn referenced_maps(&self) -> impl Iterator<Item = Handle<Linear>> + '_ {
        self.updates.iter().chain(&self.outputs).flat_map(|result| {
            let vectors = result.states.iter().chain(&result.inputs).flatten().copied();
            let params = result.params.iter().flat_map(|param| match param {
                ParamDerivative::Vector(map) => map.iter().copied().collect::<Vec<_>>(),
                ParamDerivative::Matrix(uses) => uses.iter().map(|u| u.map).collect(),
            });
            vectors.chain(params)
        })
    }

    /// The text form (`rnnc compile --emit jacobian`), with the names of `cell`.
    pub fn display<'a>(&'a self, cell: &'a Cell, ir: &'a Ir) -> DerivativesDisplay<'a> {
        DerivativesDisplay { derivatives: self, cell, ir }
    }
}
