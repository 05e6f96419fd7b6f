//! The plan of a cell's GPU kernels for bound sizes: how the state is cut into
//! lanes, what each lane reads before the recurrence, and where every tensor lives
//! in the kernels' buffers. The runtime lays out its buffers by this plan.
//!
//! A *lane* is the part of the state one thread solves for: `width` consecutive
//! channels of every state. For a diagonal or block-diagonal Jacobian the lanes are
//! independent, `width` is the block size of the block matrices the recurrence uses
//! (1 if none), and there are `H / width` lanes per sequence. For a dense Jacobian
//! there is one lane holding every state whole.

use crate::Derived;
use crate::analyse::{JacobianStructure, ProjectionKind};
use crate::arena::Handle;
use crate::check::{DimSizes, Input, ParamShape, Size, lcm};
use crate::error::{Error, ErrorKind};
use crate::ir::{Node, Op};

/// How many unknowns a dense lane may have for Newton (see
/// [`crate::backend::GPU_DENSE_NEWTON_UNKNOWNS`]).
pub const DENSE_NEWTON_LIMIT: u64 = crate::backend::GPU_DENSE_NEWTON_UNKNOWNS;

/// How the state is cut into lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneMode {
    /// Independent lanes of `width` channels of every state.
    Blocks {
        /// Channels per lane.
        width: u64,
    },
    /// One lane with every state whole.
    Whole,
}

/// One value a lane reads per step before the recurrence: an input projection
/// computed by the projection kernel, or an input read as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreValue {
    /// `W @ x` (the node), in the projections buffer at `column`.
    Projection {
        /// The product node.
        node: Handle<Node>,
        /// Its first column in the projections buffer's rows.
        column: u64,
    },
    /// An input used elementwise.
    Input {
        /// The input node.
        node: Handle<Node>,
        /// The input.
        input: Handle<Input>,
    },
}

/// One launch of the projection products before the recurrence: the dense
/// projections of one input, their matrices stacked (one matrix product), or one
/// block-diagonal projection (a grouped product, one group per block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectionLaunch {
    /// The input multiplied.
    pub input: Handle<Input>,
    /// The input's length (the product's depth).
    pub depth: u64,
    /// Dense (stacked matrices) or block-diagonal (one matrix).
    pub kind: ProjectionKind,
    /// The parameters stacked as the weight matrix, in order, each with its rows
    /// (`[rows, depth]` for a dense one; one `block[rows, K]` parameter for a
    /// block launch).
    pub params: Vec<(Handle<crate::check::Param>, u64)>,
    /// The first column of the launch's output in the projections buffer.
    pub column: u64,
}

impl ProjectionLaunch {
    /// The launch's output columns.
    pub fn columns(&self) -> u64 {
        self.params.iter().map(|&(_, rows)| rows).sum()
    }
}

/// The plan. Offsets count 32-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPlan {
    /// How the state is cut.
    pub mode: LaneMode,
    /// Lanes per sequence.
    pub lanes: u64,
    /// Unknowns per lane (`K`).
    pub unknowns: u64,
    /// Offset of each state's part within a lane's unknowns, and its width.
    pub state_slots: Vec<(u64, u64)>,
    /// What each lane reads per step, in `Pre` order, with its width.
    pub pre: Vec<(PreValue, u64)>,
    /// The projection launches.
    pub projections: Vec<ProjectionLaunch>,
    /// Columns of the projections buffer (its row length).
    pub projection_columns: u64,
    /// Offset of each parameter in the params buffer (in the cell's order) and the
    /// buffer's length.
    pub param_offsets: Vec<u64>,
    /// The params buffer's length.
    pub params_len: u64,
    /// Per input, the sum of the lengths of the inputs before it (the inputs buffer
    /// holds input `i` at `B * T * input_prefix[i]`), and the total.
    pub input_prefix: Vec<u64>,
    /// Per state, the sum of the lengths of the states before it (initial states at
    /// `B * state_prefix[s]`).
    pub state_prefix: Vec<u64>,
    /// Per output, the sum of the lengths of the outputs before it (outputs at
    /// `B * T * output_prefix[o]`), and each output's length.
    pub output_prefix: Vec<u64>,
    /// The length of every input, state and output, by kind, in cell order.
    pub input_sizes: Vec<u64>,
    /// See [`KernelPlan::input_sizes`].
    pub state_sizes: Vec<u64>,
    /// See [`KernelPlan::input_sizes`].
    pub output_sizes: Vec<u64>,
    /// Whether the Newton kernel exists (dense lanes beyond [`DENSE_NEWTON_LIMIT`]
    /// only have the sequential one).
    pub newton: bool,
}

fn unsupported(derived: &Derived, why: String) -> Error {
    Error::new(
        ErrorKind::BackendUnsupported { backend: "wgsl", cell: derived.cell.name.clone(), reason: why },
        derived.cell.span,
        "this cell",
    )
}

/// Plans the kernels of `derived` for the sizes `dims`.
pub fn plan(derived: &Derived, dims: &DimSizes) -> Result<KernelPlan, Error> {
    let cell = &derived.cell;
    let ir = &derived.ir;
    let state_sizes: Vec<u64> = cell.states.values().map(|s| dims.of(s.size)).collect();
    let state_dependent = &derived.hoisting.state_dependent;
    let mut mode = match derived.structure() {
        JacobianStructure::Dense => LaneMode::Whole,
        _ => {
            let mut width = 1u64;
            for (handle, node) in ir.graph.iter().take(ir.step_len) {
                if let Op::MatVec(param, _) = node.op
                    && state_dependent[handle.index()]
                    && let ParamShape::Block { block, .. } = cell.params[param].shape
                {
                    width = lcm(width, block).unwrap_or(width);
                }
            }
            LaneMode::Blocks { width }
        }
    };
    let channels = state_sizes.first().copied().unwrap_or(1);
    // An output that reads across channels (`V @ h'` with a dense `V`) cannot be
    // computed lane by lane: such a cell runs as one whole lane, like a dense one.
    if let LaneMode::Blocks { .. } = mode {
        let lane_local = |handle: Handle<Node>| {
            let node = ir.graph.node(handle);
            let mixes = matches!(node.op, Op::MatVec(p, _) | Op::MatVecT(p, _)
                if !matches!(cell.params[p].shape, ParamShape::Block { .. }));
            !state_dependent[handle.index()] || (!mixes && node.size().is_none_or(|s| dims.of(s) == channels))
        };
        let live = ir.graph.reachable(ir.outputs.iter().copied());
        if (0..ir.step_len).any(|i| live[i] && !lane_local(Handle::from_index(i))) {
            mode = LaneMode::Whole;
        }
    }
    let (lanes, state_slots) = match mode {
        LaneMode::Blocks { width } => {
            if channels % width != 0 {
                return Err(unsupported(derived, format!("{channels} channels are not a multiple of {width}")));
            }
            (channels / width, (0..state_sizes.len() as u64).map(|s| (s * width, width)).collect::<Vec<_>>())
        }
        LaneMode::Whole => {
            let mut offset = 0;
            let slots = state_sizes
                .iter()
                .map(|&n| {
                    let slot = (offset, n);
                    offset += n;
                    slot
                })
                .collect();
            (1, slots)
        }
    };
    let unknowns: u64 = state_slots.iter().map(|&(_, w)| w).sum();
    let width_of = |size: Size| match mode {
        LaneMode::Blocks { width } => width,
        LaneMode::Whole => dims.of(size),
    };

    // What each lane reads before the recurrence: the input projections (computed
    // by the launches below), and inputs used elementwise.
    let mut projections: Vec<ProjectionLaunch> = Vec::new();
    let mut pre = Vec::new();
    // Per projection read: its index in `pre`, its launch's index, its column
    // within the launch.
    let mut placed: Vec<(usize, usize, u64)> = Vec::new();
    for (handle, node) in ir.graph.iter().take(ir.step_len) {
        match node.op {
            Op::MatVec(param, _) if !state_dependent[handle.index()] => {
                let Some(projection) = derived.projections.iter().find(|p| p.node == handle) else {
                    return Err(unsupported(
                        derived,
                        format!(
                            "`{}` multiplies a computed vector that does not depend on the state",
                            cell.params[param].name
                        ),
                    ));
                };
                let rows = dims.of(node.size().unwrap_or(Size::Fixed(1)));
                let input = projection.input;
                let stacked = match projection.kind {
                    ProjectionKind::Dense => {
                        projections.iter().position(|l| l.input == input && l.kind == ProjectionKind::Dense)
                    }
                    ProjectionKind::Block { .. } => None,
                };
                let launch = stacked.unwrap_or_else(|| {
                    projections.push(ProjectionLaunch {
                        input,
                        depth: dims.of(cell.inputs[input].size),
                        kind: projection.kind,
                        params: Vec::new(),
                        column: 0,
                    });
                    projections.len() - 1
                });
                placed.push((pre.len(), launch, projections[launch].columns()));
                projections[launch].params.push((param, rows));
                pre.push((
                    PreValue::Projection { node: handle, column: 0 },
                    width_of(node.size().unwrap_or(Size::Fixed(1))),
                ));
            }
            Op::Input(input) => {
                let used_directly = ir
                    .graph
                    .iter()
                    .take(ir.step_len)
                    .any(|(_, user)| !matches!(user.op, Op::MatVec(..)) && user.op.operands().any(|o| o == handle))
                    || ir.roots().any(|r| r == handle);
                if used_directly {
                    pre.push((PreValue::Input { node: handle, input }, width_of(cell.inputs[input].size)));
                }
            }
            _ => {}
        }
    }
    // Columns: launches one after another, each launch's products in order.
    let mut column = 0;
    for launch in &mut projections {
        launch.column = column;
        column += launch.columns();
    }
    for &(index, launch, within) in &placed {
        if let (PreValue::Projection { column, .. }, _) = &mut pre[index] {
            *column = projections[launch].column + within;
        }
    }

    let mut offset = 0;
    let param_offsets = cell
        .params
        .values()
        .map(|p| {
            let start = offset;
            offset += match p.shape {
                ParamShape::Vector(n) => dims.of(n),
                ParamShape::Matrix { rows, cols } => dims.of(rows) * dims.of(cols),
                ParamShape::Block { size, block } => dims.of(size) * block,
            };
            start
        })
        .collect();
    let prefix = |sizes: &[u64]| {
        let mut total = 0;
        sizes
            .iter()
            .map(|&n| {
                let start = total;
                total += n;
                start
            })
            .collect::<Vec<u64>>()
    };
    let input_sizes: Vec<u64> = cell.inputs.values().map(|i| dims.of(i.size)).collect();
    let output_sizes: Vec<u64> = cell.outputs.values().map(|o| dims.of(o.size)).collect();
    Ok(KernelPlan {
        mode,
        lanes,
        unknowns,
        state_slots,
        pre,
        projections,
        projection_columns: column,
        param_offsets,
        params_len: offset,
        input_prefix: prefix(&input_sizes),
        state_prefix: prefix(&state_sizes),
        output_prefix: prefix(&output_sizes),
        input_sizes,
        state_sizes,
        output_sizes,
        newton: mode != LaneMode::Whole || unknowns <= DENSE_NEWTON_LIMIT,
    })
}

impl KernelPlan {
    /// The width of a value of length `size` within a lane.
    pub fn width(&self, size: u64) -> u64 {
        match self.mode {
            LaneMode::Blocks { width } => width,
            LaneMode::Whole => size,
        }
    }

    /// Values per lane and step that `load_pre` reads.
    pub fn pre_len(&self) -> u64 {
        self.pre.iter().map(|&(_, w)| w).sum()
    }
}
