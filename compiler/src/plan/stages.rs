//! The plan's pre-pass of staged values: every staged product `W @ v` of a
//! computed state-free vector `v` ([`crate::analyse::staged_products`]) as a
//! launch over all `B x T` steps whose operand is a stored vector, and every
//! such `v` as a *stage*: an elementwise pass over the raw values beneath it
//! (inputs, input projections and lower staged products), run before its
//! products. Stages are ordered by level (a 2-layer MLP on the input has two:
//! `W1 @ x` is a projection, `tanh(W1 @ x + b1)` the stage of level 1 whose
//! product `W2 @ .` the recurrence reads as a raw projection column).

use super::{LaunchProduct, Slot};
use crate::Derived;
use crate::analyse::ProjectionKind;
use crate::arena::Handle;
use crate::check::DimSizes;
use crate::ir::{Node, Op};

/// One staged operand, computed for every step before its products.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// The operand node `v`.
    pub operand: Handle<Node>,
    /// Its length: the pass runs one thread per element and step.
    pub len: u64,
    /// 1 + the highest level of the stages beneath it (0 for none): stages
    /// run in increasing levels forward, decreasing ones backward.
    pub level: u32,
    /// Its place in a row of staged values (`[B * T, staged_columns]`).
    pub slot: Slot,
    /// The raw values beneath it, in graph order: inputs, input projections
    /// and staged products of lower stages.
    pub raw: Vec<Handle<Node>>,
}

/// One staged product as launched: `P[., column ..] = V W^T` over every step,
/// `V` its stage's stored operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StagedLaunch {
    /// The stage whose operand it multiplies (an index into the plan's stages).
    pub stage: usize,
    /// Dense or block-diagonal.
    pub kind: ProjectionKind,
    /// The length of each row's dot product: the operand's length (dense) or `K`.
    pub depth: u64,
    /// The product, its parameter and rows.
    pub product: LaunchProduct,
    /// Its first column in a row of projections (after the input projections').
    pub column: u64,
}

/// The stages and their launches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// The stages, by level, then graph order.
    pub stages: Vec<Stage>,
    /// The staged launches, by their stages' levels, then graph order.
    pub launches: Vec<StagedLaunch>,
    /// Words per row of staged values.
    pub columns: u64,
}

/// Plans the stages of `derived` (none unless it has [`crate::Staged`]
/// products); the staged launches' columns start at `first_column`.
pub fn stages(derived: &Derived, dims: &DimSizes, first_column: u64) -> Stages {
    let Some(staged) = &derived.staged else { return Stages::default() };
    let graph = &derived.ir.graph;
    let len_of = |node: Handle<Node>| graph.node(node).size().map_or(1, |s| dims.of(s));
    let mut raw_mask: Vec<bool> = graph.iter().map(|(_, node)| matches!(node.op, Op::Input(_))).collect();
    for node in derived.projections.iter().map(|p| p.node).chain(staged.products.iter().map(|p| p.node)) {
        raw_mask[node.index()] = true;
    }
    let is_raw = |node: Handle<Node>| raw_mask[node.index()];
    let mut operands: Vec<Handle<Node>> = staged.operands.iter().map(|o| o.node).collect();
    operands.sort_by_key(|n| n.index());
    let mut found: Vec<(Handle<Node>, u32, Vec<Handle<Node>>)> = Vec::new();
    for &operand in &operands {
        let mut raw = Vec::new();
        let mut stack = vec![operand];
        let mut seen = vec![false; graph.len()];
        while let Some(node) = stack.pop() {
            if std::mem::replace(&mut seen[node.index()], true) {
                continue;
            }
            if is_raw(node) {
                raw.push(node);
            } else {
                stack.extend(graph.node(node).op.operands());
            }
        }
        raw.sort_by_key(|n| n.index());
        // Operands precede their users, so every lower stage is already found.
        let level = raw
            .iter()
            .filter_map(|&r| staged.products.iter().find(|p| p.node == r))
            .filter_map(|p| found.iter().find(|(n, ..)| *n == p.operand).map(|&(_, level, _)| level + 1))
            .max()
            .unwrap_or(0)
            .max(1);
        found.push((operand, level, raw));
    }
    found.sort_by_key(|&(node, level, _)| (level, node.index()));
    let mut columns = 0;
    let stages: Vec<Stage> = found
        .into_iter()
        .map(|(operand, level, raw)| {
            let len = len_of(operand);
            let slot = Slot { offset: columns, len };
            columns += len;
            Stage { operand, len, level, slot, raw }
        })
        .collect();
    let mut launches: Vec<StagedLaunch> = staged
        .products
        .iter()
        .filter_map(|p| {
            let stage = stages.iter().position(|s| s.operand == p.operand)?;
            let depth = match p.kind {
                ProjectionKind::Dense => stages[stage].len,
                ProjectionKind::Block { block } => block,
            };
            let product = LaunchProduct { node: p.node, param: p.param, rows: len_of(p.node) };
            Some(StagedLaunch { stage, kind: p.kind, depth, product, column: 0 })
        })
        .collect();
    launches.sort_by_key(|l| (stages[l.stage].level, l.product.node.index()));
    let mut column = first_column;
    for launch in &mut launches {
        launch.column = column;
        column += launch.product.rows;
    }
    Stages { stages, launches, columns }
}
