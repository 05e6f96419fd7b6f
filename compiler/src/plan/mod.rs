//! The kernel plan: what a cell's kernels compute and where their tensors live,
//! decided once for bound sizes, between `analyse` and the back ends. Both back
//! ends build on it (the WGSL plan cuts lanes and lays out the GPU buffers, the
//! CLIF layout lays out the CPU rows), and both runtimes read it:
//!
//! - each parameter's place in the packed parameters (as declared, row-major;
//!   `block[H, K]` as `[H/K, K, K]`);
//! - the input projections as *launches*, matrix products over every `B x T`
//!   step (the dense projections of one input stacked into one product; its
//!   block-diagonal ones of one block size into one grouped product), and the
//!   columns of their results in a row of projections;
//! - the *hoisted values* the recurrence reads per step:
//!   [`crate::analyse::frontier`] of everything the recurrence evaluates (the
//!   step's results and the diagonals of its state Jacobian), each computed once
//!   per step from the projections, the inputs and the parameters;
//! - how the state may be cut: groups of `granule` consecutive channels of every
//!   state that depend only on each other, or no cut for a dense Jacobian or a
//!   cell with a reduction (`sum(v)` reads every element of `v`);
//! - when a dense Jacobian is solved by Newton ([`Device::dense_newton_unknowns`]);
//! - the pre-pass of *staged* values ([`stages`]): each product of a matrix
//!   parameter and a computed state-free vector (an MLP on the input) as a
//!   launch whose operand is a stored vector, computed for all `B x T` steps
//!   by an elementwise pass before it, stage after stage; the recurrence reads
//!   the staged products like projections.

mod stages;

pub use stages::{Stage, StagedLaunch, Stages};

use crate::Derived;
use crate::analyse::{Dependence, JacobianStructure, ProjectionKind, frontier};
use crate::arena::Handle;
use crate::check::{DimSizes, Input, Param, ParamShape, lcm};
use crate::derive::Linear;
use crate::ir::{Node, Op, Shape};

/// The device a back end generates code for: what limits its solvers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The WGSL back end.
    Gpu,
    /// The cranelift back end.
    Cpu,
}

impl Device {
    /// The most unknowns a dense state Jacobian may have for Newton.
    ///
    /// GPU: each thread keeps a step's `K x K` Jacobian and its chunk's composed
    /// map in registers and workgroup memory, so `K` stays small. CPU: Newton
    /// stores `K x K` floats per step and its scan costs `O(K^2)` to `O(K^3)` per
    /// step. Wider dense cells run sequentially.
    pub const fn dense_newton_unknowns(self) -> u64 {
        match self {
            Device::Gpu => 16,
            Device::Cpu => 128,
        }
    }

    /// Whether Newton solves `unknowns` coupled unknowns on this device.
    pub const fn dense_newton(self, unknowns: u64) -> bool {
        unknowns <= self.dense_newton_unknowns()
    }
}

/// A run of 32-bit words in a row or buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Where it starts.
    pub offset: u64,
    /// How many words.
    pub len: u64,
}

/// Consecutive slots of the given lengths, and their total.
pub fn slots(lens: impl IntoIterator<Item = u64>) -> (Vec<Slot>, u64) {
    let mut offset = 0;
    let slots = lens
        .into_iter()
        .map(|len| {
            let slot = Slot { offset, len };
            offset += len;
            slot
        })
        .collect();
    (slots, offset)
}

/// One launch of the projection products before the recurrence: the dense
/// projections of one input, their matrices stacked (one matrix product), or
/// the block-diagonal projections of one input with one block size `K` (a
/// grouped product: one group per block of each product; every product
/// covers the input's length, so their blocks take the input's channels in
/// the same groups, and a product of more groups fills more of a device).
///
/// Row `i` of a launch's matrix `p` starts at word `i * depth` of `p` for both
/// kinds, and multiplies the input's channels `0..depth` (dense) or
/// `i / K * K .. i / K * K + K` (block, `depth = K`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectionLaunch {
    /// The input multiplied.
    pub input: Handle<Input>,
    /// The length of each row's dot product: the input's length (dense) or `K`.
    pub depth: u64,
    /// Dense (stacked matrices) or block-diagonal (one matrix).
    pub kind: ProjectionKind,
    /// The product nodes, in order, each with its parameter and its rows (the
    /// length of its result).
    pub products: Vec<LaunchProduct>,
    /// The first column of the launch's output in a row of projections.
    pub column: u64,
}

/// One projection of a launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchProduct {
    /// The product node `W @ x`.
    pub node: Handle<Node>,
    /// The matrix `W`.
    pub param: Handle<Param>,
    /// Its rows: the length of `W @ x`.
    pub rows: u64,
}

impl ProjectionLaunch {
    /// The launch's output columns.
    pub fn columns(&self) -> u64 {
        self.products.iter().map(|p| p.rows).sum()
    }

    /// Each product with its first column in a row of projections.
    pub fn placed(&self) -> impl Iterator<Item = (LaunchProduct, u64)> + '_ {
        self.products.iter().scan(self.column, |column, &product| {
            let at = *column;
            *column += product.rows;
            Some((product, at))
        })
    }
}

/// A value the recurrence reads per step, computed before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hoisted {
    /// The node.
    pub node: Handle<Node>,
    /// Its place in a row of hoisted values.
    pub slot: Slot,
}

/// The plan. Every offset and length counts 32-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellPlan {
    /// The proved structure of the state Jacobian.
    pub structure: JacobianStructure,
    /// Whether the cell is linear in its states (`Derived::is_linear`): where
    /// Newton would run, both back ends solve it by one scan of its affine maps,
    /// with no convergence test and no fallback.
    pub linear: bool,
    /// Each parameter's place in the packed parameters, in the cell's order.
    pub params: Vec<Slot>,
    /// Words of packed parameters.
    pub params_len: u64,
    /// The length of each input, state and output, in the cell's order.
    pub inputs: Vec<u64>,
    /// See [`CellPlan::inputs`].
    pub states: Vec<u64>,
    /// See [`CellPlan::inputs`].
    pub outputs: Vec<u64>,
    /// The projection launches, in order of their columns.
    pub projections: Vec<ProjectionLaunch>,
    /// Columns of a row of projections: the input projections' launches,
    /// then the staged launches'.
    pub projection_columns: u64,
    /// The pre-pass of staged values (empty for a cell without staged
    /// products; the CPU back end evaluates those inside the step).
    pub stages: Stages,
    /// The hoisted values, in graph order, packed into rows.
    pub hoisted: Vec<Hoisted>,
    /// Words per row of hoisted values.
    pub hoisted_width: u64,
    /// Channels per independent group of every state (the lcm of the
    /// Jacobian's channel blocks and of the block matrices the recurrence
    /// applies), or `None` when the Jacobian is dense or the cell reduces a
    /// vector (anywhere: the step, its derivatives, a hoisted value).
    pub granule: Option<u64>,
    /// Whether every output can be computed group by group (no output reads
    /// across channels, as `V @ h'` with a dense `V` does).
    pub local_outputs: bool,
}

impl CellPlan {
    /// Words per state row (every state, one after another).
    pub fn state_width(&self) -> u64 {
        self.states.iter().sum()
    }

    /// The launch and column of projection node `node`.
    pub fn projection(&self, node: Handle<Node>) -> Option<(&ProjectionLaunch, u64)> {
        self.projections
            .iter()
            .find_map(|launch| launch.placed().find(|(p, _)| p.node == node).map(|(_, column)| (launch, column)))
    }

    /// Each matrix of a block launch: its offset in the packed parameters and
    /// its first column in a row of projections, in the launch's order.
    pub fn block_matrices<'a>(&'a self, launch: &'a ProjectionLaunch) -> impl Iterator<Item = (u64, u64)> + 'a {
        launch.placed().map(|(product, column)| (self.params[product.param.index()].offset, column))
    }

    /// Where a block launch has several matrices evenly spaced in the
    /// parameters (each the same number of words after the one before): that
    /// stride, and the columns each matrix takes in a row of projections (the
    /// input's length: a block launch's matrices lie side by side). The input's
    /// gradient, `sum_p dP_p W_p`, is then one product whose depth runs through
    /// the matrices in turn.
    pub fn block_strides(&self, launch: &ProjectionLaunch) -> Option<(u64, u64)> {
        if !matches!(launch.kind, ProjectionKind::Block { .. }) {
            return None;
        }
        let offsets: Vec<u64> = self.block_matrices(launch).map(|(offset, _)| offset).collect();
        let stride = offsets.get(1)?.checked_sub(offsets[0])?;
        let even = offsets.windows(2).all(|pair| pair[1].checked_sub(pair[0]) == Some(stride));
        even.then_some((stride, launch.products[0].rows))
    }

    /// The staged launch of staged product node `node`.
    pub fn staged_launch(&self, node: Handle<Node>) -> Option<&StagedLaunch> {
        self.stages.launches.iter().find(|l| l.product.node == node)
    }

    /// The place of hoisted value `node` in a row of hoisted values.
    pub fn hoisted_slot(&self, node: Handle<Node>) -> Option<Slot> {
        self.hoisted.iter().find(|h| h.node == node).map(|h| h.slot)
    }
}

/// The length of a node's value (1 for a scalar).
fn value_len(derived: &Derived, dims: &DimSizes, node: Handle<Node>) -> u64 {
    match derived.ir.graph.node(node).shape {
        Shape::Vector(size) => dims.of(size),
        Shape::Scalar => 1,
    }
}

/// The diagonals of every map of the state Jacobian's blocks.
fn jacobian_diagonals(derived: &Derived) -> Vec<Handle<Node>> {
    let maps = &derived.derivatives.maps;
    let n = derived.cell.states.len();
    let mut stack: Vec<Handle<Linear>> =
        (0..n).flat_map(|i| (0..n).filter_map(move |j| derived.derivatives.state_block(i, j))).collect();
    let mut seen = vec![false; maps.len()];
    let mut diagonals = Vec::new();
    while let Some(map) = stack.pop() {
        if std::mem::replace(&mut seen[map.index()], true) {
            continue;
        }
        match *maps.get(map) {
            Linear::Diag { diag, .. } => diagonals.push(diag),
            Linear::Compose(a, b) | Linear::Sum(a, b) => stack.extend([a, b]),
            Linear::Matrix(_)
            | Linear::MatrixT(_)
            | Linear::Ones { .. }
            | Linear::Select { .. }
            | Linear::Embed { .. }
            | Linear::Spread { .. }
            | Linear::Fold { .. } => {}
        }
    }
    diagonals
}

/// Plans the kernels of `derived` for the sizes `dims`.
pub fn plan(derived: &Derived, dims: &DimSizes) -> CellPlan {
    let cell = &derived.cell;
    let graph = &derived.ir.graph;
    let (params, params_len) = slots(cell.params.values().map(|p| match p.shape {
        ParamShape::Vector(n) => dims.of(n),
        ParamShape::Matrix { rows, cols } => dims.of(rows) * dims.of(cols),
        ParamShape::Block { size, block } => dims.of(size) * block,
    }));
    let inputs: Vec<u64> = cell.inputs.values().map(|i| dims.of(i.size)).collect();
    let states: Vec<u64> = cell.states.values().map(|s| dims.of(s.size)).collect();
    let outputs: Vec<u64> = cell.outputs.values().map(|o| dims.of(o.size)).collect();

    // Launches: the projections of one input of one kind stacked (dense ones
    // into one product, block ones of the same block size into one grouped
    // product, whose products each cover the input's length).
    let mut projections: Vec<ProjectionLaunch> = Vec::new();
    for projection in &derived.projections {
        let rows = value_len(derived, dims, projection.node);
        let product = LaunchProduct { node: projection.node, param: projection.param, rows };
        let stacked = projections.iter_mut().find(|l| l.kind == projection.kind && l.input == projection.input);
        match stacked {
            Some(launch) => launch.products.push(product),
            None => projections.push(ProjectionLaunch {
                input: projection.input,
                depth: match projection.kind {
                    ProjectionKind::Dense => inputs[projection.input.index()],
                    ProjectionKind::Block { block } => block,
                },
                kind: projection.kind,
                products: vec![product],
                column: 0,
            }),
        }
    }
    let mut projection_columns = 0;
    for launch in &mut projections {
        // A block launch's matrices in declaration order: matrices declared
        // alike are then evenly spaced (`CellPlan::block_strides`).
        if matches!(launch.kind, ProjectionKind::Block { .. }) {
            launch.products.sort_by_key(|p| p.param.index());
        }
        launch.column = projection_columns;
        projection_columns += launch.columns();
    }
    let stages = stages::stages(derived, dims, projection_columns);
    projection_columns += stages.launches.iter().map(|l| l.product.rows).sum::<u64>();

    // The hoisted values of everything the recurrence evaluates.
    let dependence = Dependence::of(graph);
    let roots = derived.ir.roots().chain(jacobian_diagonals(derived));
    let hoisted_nodes = frontier(graph, &dependence, roots);
    let (hoisted_slots, hoisted_width) = slots(hoisted_nodes.iter().map(|&node| value_len(derived, dims, node)));
    let hoisted = hoisted_nodes.iter().zip(hoisted_slots).map(|(&node, slot)| Hoisted { node, slot }).collect();

    // The cut: the Jacobian's channel blocks and every block matrix the
    // recurrence applies (a block product reads its whole block).
    // A reduction reads every element of its operand (the step's, or a
    // derivative's: `max`'s indicator), a slice or padding moves elements
    // between channels, and so do a spread and a fold (a matrix value's
    // rows against its columns): no cut keeps them within a group.
    let reduces = graph.iter().any(|(_, node)| node.moves_elements());
    let structure = derived.structure();
    let granule = match structure {
        _ if reduces => None,
        JacobianStructure::Dense => None,
        JacobianStructure::Diagonal => Some(1),
        JacobianStructure::BlockDiagonal { block } => {
            let n = states.len() as u64;
            Some(if n > 0 && block % n == 0 { block / n } else { block })
        }
    }
    .map(|mut granule| {
        for (handle, node) in graph.iter() {
            if let Op::MatVec(param, _) | Op::MatVecT(param, _) = node.op
                && dependence.varying[handle.index()]
                && let ParamShape::Block { block, .. } = cell.params[param].shape
            {
                granule = lcm(granule, block).unwrap_or(granule);
            }
        }
        granule
    });

    // Outputs computed group by group: every state-dependent value they need
    // stays within the channels (no dense product, no other length).
    let channels = states.first().copied().unwrap_or(1);
    let live = graph.reachable(derived.ir.outputs.iter().copied());
    let local_outputs = (0..derived.ir.step_len).all(|i| {
        let node = graph.node(Handle::from_index(i));
        let mixes = matches!(node.op, Op::MatVec(p, _) | Op::MatVecT(p, _)
            if !matches!(cell.params[p].shape, ParamShape::Block { .. }));
        !live[i] || !dependence.varying[i] || (!mixes && node.size().is_none_or(|s| dims.of(s) == channels))
    }) && !reduces;

    CellPlan {
        structure,
        linear: derived.is_linear(),
        params,
        params_len,
        inputs,
        states,
        outputs,
        projections,
        projection_columns,
        stages,
        hoisted,
        hoisted_width,
        granule,
        local_outputs,
    }
}
