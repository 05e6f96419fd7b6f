//! The GPU side of the kernel plan ([`crate::plan::CellPlan`]): how the state is
//! cut into lanes, what each lane reads per step, and where every tensor lives in
//! the kernels' buffers. The runtime lays out its buffers by this plan.
//!
//! A *lane* is the part of the state one thread solves for: `width` consecutive
//! channels of every state, `width` the plan's granule, and `H / width`
//! independent lanes per sequence. A dense Jacobian, an output that reads
//! across channels (`V @ h'` with a dense `V`; the kernels store outputs lane by
//! lane), or a hoisted value that multiplies a computed vector by a matrix
//! that the plan does not stage (`W2 @ tanh(W1 @ x)` in a cell whose values
//! move elements: [`computed_product`]) makes one lane holding every state
//! whole. Staged products (the plan's stages) are raw values like projections.
//!
//! The forward kernels read the plan's hoisted values, each computed once per
//! step by `load_pre` from the *raw* values (the projections, staged products
//! included, and the inputs);
//! the backward kernels read the raw values and recompute what lies between:
//! the derivatives of the hoisted values need the values under them.

use crate::Derived;
use crate::arena::Handle;
use crate::check::{DimSizes, Input, Side, Size};
use crate::derive::adjoint::Adjoint;
use crate::error::Error;
use crate::ir::{Node, Op};
use crate::plan::{CellPlan, Device};

/// How the state is cut into lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneMode {
    /// Independent lanes of `width` channels of every state.
    Blocks {
        /// Channels per lane.
        width: u64,
    },
    /// Lanes of whole rows ([`super::rows`]): lane `l` holds rows `l * rows ..
    /// (l + 1) * rows` of every value laid along the states' rows (`side`):
    /// `rows` elements of an `[R]` vector, `rows * C` of an `[R, C]` matrix;
    /// every other value it holds whole, as every lane does (*replicated*).
    Rows {
        /// Rows per lane.
        rows: u64,
        /// The states' rows.
        side: Side,
    },
    /// One lane with every state whole.
    Whole,
}

/// A value read from the kernels' buffers per step: an input projection
/// computed by the projection launches, or an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawValue {
    /// `W @ x` (the node), in the projections buffer at `column`.
    Projection {
        /// The product node.
        node: Handle<Node>,
        /// Its first column in the projections buffer's rows.
        column: u64,
    },
    /// An input used other than by a projection.
    Input {
        /// The input node.
        node: Handle<Node>,
        /// The input.
        input: Handle<Input>,
    },
}

/// How the projections buffer lays out the projections (`P[b, t, column]`),
/// one choice per pass: the projection products write it, and every kernel
/// that reads them is a pipeline made for it (`projection_index`, by the
/// pipeline constant [`PROJECTIONS_BY_COLUMN`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProjectionLayout {
    /// Step by step, `[B T, columns]`: a step's columns side by side (the
    /// sequential kernel's threads, a lane each, read neighbouring words).
    #[default]
    ByStep,
    /// Column by column, `[columns, B T]`: a column's steps side by side (a
    /// Newton thread's chunk of consecutive steps is one run of words).
    ByColumn,
}

/// The pipeline-overridable constant that says a kernel reads the
/// projections column by column ([`ProjectionLayout`]).
pub const PROJECTIONS_BY_COLUMN: &str = "PROJECTIONS_BY_COLUMN";

/// The bytes of one memory sector, the unit a GPU's caches move.
const SECTOR_BYTES: u64 = 32;

impl ProjectionLayout {
    /// The layout the Newton kernel of `shape` reads: column by column when a
    /// workgroup's lanes read less than a sector of a column's step (step by
    /// step, the rest of each sector is fetched for other workgroups), unless
    /// the cell has staged products (their kernels and products stay step by
    /// step). H200, docs/measurements/h200-run110 (an ablation): ParaGRU at B
    /// = 1, N = 256 (2 lanes a workgroup, 8 bytes of each sector), T = 65536,
    /// 0.578 ms step by step, 0.490 column by column; at B = 8, N = 1024 (8
    /// lanes, a whole sector) 1.029 and 1.041 ms; the sequential kernels 30%
    /// slower column by column. Built (docs/measurements/h200-run113, N =
    /// 256): column by column gains at B = 1, 8 and 32 (ParaGRU 15%, 19%, 9%;
    /// ParaLSTM 9%, 12%, 5%; block_elman 5%, 6%, 11%). `forced`
    /// (`NewtonKnobs::projections`) overrides the rule, but not the stages.
    pub fn for_newton(
        plan: &KernelPlan,
        shape: super::NewtonShape,
        forced: Option<ProjectionLayout>,
    ) -> ProjectionLayout {
        if !plan.cell.stages.launches.is_empty() {
            return ProjectionLayout::ByStep;
        }
        if let Some(layout) = forced {
            return layout;
        }
        let widths = plan.raw.iter().filter(|(value, _)| matches!(value, RawValue::Projection { .. }));
        match widths.map(|&(_, width)| width).min() {
            Some(width) if shape.lanes * width * 4 < SECTOR_BYTES => ProjectionLayout::ByColumn,
            _ => ProjectionLayout::ByStep,
        }
    }

    /// The pipeline constants of a kernel made for this layout (every
    /// recurrence, backward and stage module declares the constant, false by
    /// default: step by step).
    pub fn pipeline_constants(self) -> [(&'static str, f64); 1] {
        [(PROJECTIONS_BY_COLUMN, if self == ProjectionLayout::ByColumn { 1.0 } else { 0.0 })]
    }
}

impl RawValue {
    /// The node it holds.
    pub fn node(self) -> Handle<Node> {
        match self {
            RawValue::Projection { node, .. } | RawValue::Input { node, .. } => node,
        }
    }
}

/// The plan. Offsets count 32-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPlan {
    /// The back-end-neutral plan: parameters, projections, hoisting, sizes.
    pub cell: CellPlan,
    /// How the state is cut.
    pub mode: LaneMode,
    /// Lanes per sequence.
    pub lanes: u64,
    /// Unknowns per lane (`K`).
    pub unknowns: u64,
    /// Offset of each state's part within a lane's unknowns, and its width.
    pub state_slots: Vec<(u64, u64)>,
    /// The raw values a lane reads per step, each with its width in the lane.
    pub raw: Vec<(RawValue, u64)>,
    /// The hoisted values a lane reads per step (the plan's, in its order),
    /// each with its width in the lane.
    pub hoisted: Vec<(Handle<Node>, u64)>,
    /// Per input, the sum of the lengths of the inputs before it (the inputs buffer
    /// holds input `i` at `B * T * input_prefix[i]`).
    pub input_prefix: Vec<u64>,
    /// Per state, the sum of the lengths of the states before it (initial states at
    /// `B * state_prefix[s]`).
    pub state_prefix: Vec<u64>,
    /// Per output, the sum of the lengths of the outputs before it (outputs at
    /// `B * T * output_prefix[o]`).
    pub output_prefix: Vec<u64>,
    /// Why the state is one whole lane (`LaneMode::Whole`), if it is.
    pub whole: Option<String>,
    /// The sizes of the cell's dims the kernels are generated for.
    pub dims: DimSizes,
    /// The side of the diagonal blocks of a lane's Jacobian as the kernels
    /// hold it (`JB`: `K` entries of each of a lane's `K` rows, or one, the
    /// diagonal, for a lane of one state whose Jacobian is proved diagonal).
    pub jacobian_block: u64,
    /// The projections every lane holds whole (lanes of whole rows: the
    /// replicated ones), each one's first column and width: in the backward
    /// their cotangents are the lanes' shares, summed ([`super::shares`]).
    pub replicated: Vec<(u64, u64)>,
    /// Whether the cell's lanes admit a Newton kernel (a whole lane of more
    /// unknowns than [`Device::Gpu`] allows only has the sequential one); a
    /// device may still refuse it (`Target::newton_unknowns`, `GpuKernels::no_newton`).
    pub newton: bool,
}

/// See [`KernelPlan::windowed`].
fn windowed(mode: LaneMode, size: Size) -> bool {
    match mode {
        LaneMode::Blocks { .. } => true,
        LaneMode::Rows { side, .. } => super::rows::leading_side(size) == Some(side),
        LaneMode::Whole => false,
    }
}

/// See [`KernelPlan::lane_len`].
fn lane_len(mode: LaneMode, dims: &DimSizes, size: Size) -> u64 {
    match mode {
        LaneMode::Blocks { width } => width,
        LaneMode::Rows { rows, side } if windowed(mode, size) => dims.of(size) / dims.of(side.size()) * rows,
        LaneMode::Rows { .. } | LaneMode::Whole => dims.of(size),
    }
}

/// See [`KernelPlan::node_lane_len`].
fn node_lane_len(mode: LaneMode, dims: &DimSizes, size: Option<Size>) -> u64 {
    match (mode, size) {
        (_, Some(size)) => lane_len(mode, dims, size),
        (LaneMode::Blocks { width }, None) => width,
        (_, None) => 1,
    }
}

fn prefix(sizes: &[u64]) -> Vec<u64> {
    crate::plan::slots(sizes.iter().copied()).0.into_iter().map(|s| s.offset).collect()
}

/// A matrix parameter that a hoisted value multiplies by a computed vector (an
/// MLP on the input, `W2 @ tanh(W1 @ x)`, or a block matrix times a computed
/// vector), if any. Hoisted values are computed from the raw values (the
/// projections and the inputs) inside the lane that reads them; such a product
/// reads every channel of its vector, so it has no form in a lane of some
/// channels, and the cell runs in one lane holding every state whole.
pub fn computed_product(derived: &Derived, cell_plan: &CellPlan) -> Option<Handle<crate::check::Param>> {
    let graph = &derived.ir.graph;
    let mut stack: Vec<Handle<Node>> = cell_plan.hoisted.iter().map(|h| h.node).collect();
    let mut seen = vec![false; graph.len()];
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut seen[node.index()], true) || is_raw(derived, cell_plan, node) {
            continue;
        }
        let op = graph.node(node).op;
        if let Op::MatVec(param, _) | Op::MatVecT(param, _) = op {
            return Some(param);
        }
        stack.extend(op.operands());
    }
    None
}

/// Whether `node` is read from the buffers rather than computed: an input, a
/// projection or a staged product.
pub(super) fn is_raw(derived: &Derived, cell_plan: &CellPlan, node: Handle<Node>) -> bool {
    matches!(derived.ir.graph.node(node).op, Op::Input(_))
        || cell_plan.projections.iter().any(|l| l.products.iter().any(|p| p.node == node))
        || cell_plan.staged_launch(node).is_some()
}

/// The raw values beneath the hoisted values: what the recurrence reads (with
/// stages, the values only a stage reads are not among them).
fn recurrence_raw(derived: &Derived, cell_plan: &CellPlan) -> Vec<bool> {
    let graph = &derived.ir.graph;
    let mut reached = vec![false; graph.len()];
    let mut stack: Vec<Handle<Node>> = cell_plan.hoisted.iter().map(|h| h.node).collect();
    let mut seen = vec![false; graph.len()];
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut seen[node.index()], true) {
            continue;
        }
        if is_raw(derived, cell_plan, node) {
            reached[node.index()] = true;
        } else {
            stack.extend(graph.node(node).op.operands());
        }
    }
    reached
}

/// Plans the kernels of `derived` for the sizes `dims`.
pub fn plan(derived: &Derived, dims: &DimSizes) -> Result<KernelPlan, Error> {
    let cell_plan = crate::plan::plan(derived, dims);
    let cell = &derived.cell;
    let graph = &derived.ir.graph;
    let computed = computed_product(derived, &cell_plan);
    let (mode, whole) = match (cell_plan.granule, computed) {
        (None, _) if derived.structure() == crate::analyse::JacobianStructure::Dense => {
            (LaneMode::Whole, Some("the Jacobian is dense".to_owned()))
        }
        // A reduction, slice, padding, spread or fold reads across channels:
        // lanes of whole rows where every such value stays within a row.
        (None, _) => match super::rows::side(derived, &cell_plan) {
            Some(side) => (LaneMode::Rows { rows: 1, side }, None),
            None => (LaneMode::Whole, Some("a value is read across channels".to_owned())),
        },
        (Some(_), _) if !cell_plan.local_outputs => {
            (LaneMode::Whole, Some("an output reads across channels".to_owned()))
        }
        (Some(_), Some(param)) => (
            LaneMode::Whole,
            Some(format!(
                "`{}` multiplies a computed vector that does not depend on the state",
                cell.params[param].name
            )),
        ),
        (Some(width), None) => (LaneMode::Blocks { width }, None),
    };
    let states = &cell_plan.states;
    let channels = states.first().copied().unwrap_or(1);
    let (lanes, state_slots) = match mode {
        LaneMode::Blocks { width } => {
            if channels % width != 0 {
                return Err(super::refusal::of_cell(
                    derived,
                    format!("{channels} channels are not a multiple of {width}"),
                ));
            }
            (channels / width, (0..states.len() as u64).map(|s| (s * width, width)).collect::<Vec<_>>())
        }
        LaneMode::Rows { rows, side } => {
            let widths = cell.states.iter().map(|(_, state)| lane_len(mode, dims, state.size));
            let slots = crate::plan::slots(widths).0.iter().map(|s| (s.offset, s.len)).collect();
            (dims.of(side.size()) / rows, slots)
        }
        LaneMode::Whole => {
            (1, crate::plan::slots(states.iter().copied()).0.iter().map(|s| (s.offset, s.len)).collect())
        }
    };
    let unknowns: u64 = state_slots.iter().map(|&(_, w)| w).sum();
    let width_of = |node: Handle<Node>| node_lane_len(mode, dims, graph.node(node).size());

    // The raw values: every projection, and the inputs used other than by one;
    // with stages, only those the recurrence reads (the staged products, and
    // what is not only beneath a stage).
    let staged = !cell_plan.stages.stages.is_empty();
    let reached = recurrence_raw(derived, &cell_plan);
    let read = |node: Handle<Node>| !staged || reached[node.index()];
    let mut raw: Vec<(RawValue, u64)> = Vec::new();
    for launch in &cell_plan.projections {
        for (product, column) in launch.placed() {
            if read(product.node) {
                raw.push((RawValue::Projection { node: product.node, column }, width_of(product.node)));
            }
        }
    }
    for launch in &cell_plan.stages.launches {
        if read(launch.product.node) {
            let (node, column) = (launch.product.node, launch.column);
            raw.push((RawValue::Projection { node, column }, width_of(node)));
        }
    }
    for (handle, node) in graph.iter().take(derived.ir.step_len) {
        if !read(handle) {
            continue;
        }
        if let Op::Input(input) = node.op {
            let used_directly = graph
                .iter()
                .take(derived.ir.step_len)
                .any(|(_, user)| !matches!(user.op, Op::MatVec(..)) && user.op.operands().any(|o| o == handle))
                || derived.ir.roots().any(|r| r == handle);
            if used_directly {
                raw.push((RawValue::Input { node: handle, input }, width_of(handle)));
            }
        }
    }
    let hoisted = cell_plan.hoisted.iter().map(|h| (h.node, width_of(h.node))).collect();
    let newton = mode != LaneMode::Whole || Device::Gpu.dense_newton(unknowns);
    let one_diagonal_state =
        state_slots.len() == 1 && derived.structure() == crate::analyse::JacobianStructure::Diagonal;
    let jacobian_block = if matches!(mode, LaneMode::Rows { .. }) && one_diagonal_state { 1 } else { unknowns };
    let replicated = raw
        .iter()
        .filter_map(|&(value, width)| match value {
            RawValue::Projection { node, column } => {
                let size = graph.node(node).size()?;
                (matches!(mode, LaneMode::Rows { .. }) && !windowed(mode, size)).then_some((column, width))
            }
            RawValue::Input { .. } => None,
        })
        .collect();
    Ok(KernelPlan {
        dims: dims.clone(),
        replicated,
        jacobian_block,
        mode,
        lanes,
        unknowns,
        state_slots,
        raw,
        hoisted,
        input_prefix: prefix(&cell_plan.inputs),
        state_prefix: prefix(&cell_plan.states),
        output_prefix: prefix(&cell_plan.outputs),
        newton,
        whole,
        cell: cell_plan,
    })
}

impl KernelPlan {
    /// The step's adjoint the backward recurrence evaluates: with stages, the
    /// one stopping at the staged products too (their cotangents are raw
    /// projection columns' `dP`), else the derivation's.
    pub fn adjoint<'a>(&self, derived: &'a Derived) -> &'a Adjoint {
        match &derived.staged {
            Some(staged) if !self.cell.stages.stages.is_empty() => &staged.adjoint,
            _ => &derived.adjoint,
        }
    }

    /// The elements of a value of `size` a lane holds.
    pub fn lane_len(&self, size: Size) -> u64 {
        lane_len(self.mode, &self.dims, size)
    }

    /// The elements of node value of `size` (`None`: a scalar) a lane holds.
    pub fn node_lane_len(&self, size: Option<Size>) -> u64 {
        node_lane_len(self.mode, &self.dims, size)
    }

    /// Whether each lane holds its own window of a value of `size` (rather
    /// than the whole value, as every lane does).
    pub fn windowed(&self, size: Size) -> bool {
        windowed(self.mode, size)
    }

    /// Words of a step's shares of the replicated projections' cotangents (`R`).
    pub fn replicated_width(&self) -> u64 {
        self.replicated.iter().map(|&(_, width)| width).sum()
    }

    /// Values per lane and step that `load_raw` reads.
    pub fn raw_len(&self) -> u64 {
        self.raw.iter().map(|&(_, w)| w).sum()
    }

    /// Values per lane and step that the forward kernels' `load_pre` computes.
    pub fn hoisted_len(&self) -> u64 {
        self.hoisted.iter().map(|&(_, w)| w).sum()
    }
}
