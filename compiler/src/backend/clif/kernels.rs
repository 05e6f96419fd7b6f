//! What each kernel computes: its roots (where every result goes), which nodes
//! are hoisted, how the Jacobian is probed, and the resulting [`CpuLayout`].
//!
//! The state Jacobian is evaluated in its proved structure. A block that is a
//! single diagonal map is its diagonal node; any other block is applied to a
//! *probe* vector (a Jacobian-vector product built by
//! [`crate::derive::products::apply`]): all ones when every block is diagonal,
//! the indicator of channel `o` of each group (`k` probes per state) when blocks
//! span `k` channels, and each unit vector in turn (a loop in the kernel) when the
//! Jacobian is dense.

use super::backward::{Leaves, backward_roots, plan_backward};
use super::emit::{BackwardShape, KernelShape};
use super::layout::{BackwardLayout, ChannelSplit, CpuLayout, JacobianLayout, OutputSource, PreValue, Slot};
use super::program::{Base, Context, Home, Probes, Program, Root, Sink, Stage, plan};
use super::{KernelKind, internal};
use crate::Derived;
use crate::analyse::JacobianStructure;
use crate::arena::Handle;
use crate::check::{DimSizes, OutputValue, Shape, Size};
use crate::derive::{Linear, products};
use crate::error::Error;
use crate::ir::{Graph, Node, Op};
use crate::plan::Device;

/// A kernel ready to emit.
pub(super) struct Planned {
    pub kind: KernelKind,
    pub program: Program,
    pub pre_width: usize,
    pub out_width: usize,
    pub jac_width: usize,
    pub input_widths: Vec<usize>,
    /// The backward kernel's output cotangent widths and projection width.
    pub backward: Option<(Vec<usize>, usize)>,
}

impl Planned {
    pub fn shape(&self, jacobian: JacobianLayout) -> KernelShape<'_> {
        KernelShape {
            pre_width: self.pre_width,
            out_width: self.out_width,
            jac_width: self.jac_width,
            input_widths: &self.input_widths,
            jacobian,
            backward: self
                .backward
                .as_ref()
                .map(|(douts, width)| BackwardShape { dout_widths: douts, projection_width: *width }),
        }
    }
}

/// The extended graph (step, derivatives and probe products), the layout, and
/// every kernel's program.
pub(super) struct Plans {
    pub graph: Graph,
    pub param_offsets: Vec<usize>,
    pub layout: CpuLayout,
    pub kernels: Vec<Planned>,
}

/// The Jacobian's roots: stored by the linearisation kernel itself, or by the
/// probe loop of state `probes[j].0`.
struct JacobianRoots {
    direct: Vec<Root>,
    /// Dense: for each state `j`, its seed node, its first column, and the roots
    /// of its column probes.
    probes: Vec<(Handle<Node>, usize, Vec<Root>)>,
    /// Seed nodes read from the constant table, with their offsets.
    const_seeds: Vec<(Handle<Node>, usize)>,
    consts: Vec<f32>,
}

fn jacobian_roots(
    derived: &Derived,
    graph: &mut Graph,
    layout: &JacobianLayout,
    states: &[Slot],
    sizes: &[Size],
) -> Result<JacobianRoots, Error> {
    let cell = &derived.cell;
    let maps = &derived.derivatives.maps;
    let n = states.len();
    let mut roots =
        JacobianRoots { direct: Vec::new(), probes: Vec::new(), const_seeds: Vec::new(), consts: Vec::new() };
    let mut next_seed = 0u32;
    let mut seed = |graph: &mut Graph, roots: &mut JacobianRoots, pattern: Option<Vec<f32>>, size: Size| {
        let node = products::seed(graph, next_seed, size);
        next_seed += 1;
        if let Some(pattern) = pattern {
            roots.const_seeds.push((node, roots.consts.len()));
            roots.consts.extend(pattern);
        }
        node
    };
    match (layout.structure, layout.channel_block) {
        (JacobianStructure::Dense, _) => {
            for j in 0..n {
                let probe = seed(graph, &mut roots, None, sizes[j]);
                let mut column = Vec::new();
                for (i, slot) in states.iter().enumerate() {
                    let Some(map) = derived.derivatives.state_block(i, j) else { continue };
                    let node = products::apply(graph, cell, maps, Some(map), probe, sizes[i]);
                    column.push(Root { node, sink: Sink::JacDense { row: slot.offset }, len: slot.len });
                }
                roots.probes.push((probe, states[j].offset, column));
            }
        }
        (_, 1) => {
            for (i, slot) in states.iter().enumerate() {
                for (j, other) in states.iter().enumerate() {
                    let Some(map) = derived.derivatives.state_block(i, j) else { continue };
                    let offset = match layout.structure {
                        JacobianStructure::Diagonal if i != j => {
                            return Err(internal(cell, "a diagonal Jacobian with a block between two states"));
                        }
                        JacobianStructure::Diagonal => slot.offset,
                        _ => (i * layout.block + j) * layout.groups,
                    };
                    let node = match *maps.get(map) {
                        Linear::Diag { diag, .. } => diag,
                        _ => {
                            let ones = seed(graph, &mut roots, Some(vec![1.0; other.len]), sizes[j]);
                            products::apply(graph, cell, maps, Some(map), ones, sizes[i])
                        }
                    };
                    roots.direct.push(Root { node, sink: Sink::Jac(offset), len: slot.len });
                }
            }
        }
        (_, k) => {
            for (j, other) in states.iter().enumerate() {
                for o in 0..k {
                    let pattern = (0..other.len).map(|c| if c % k == o { 1.0 } else { 0.0 }).collect();
                    let probe = seed(graph, &mut roots, Some(pattern), sizes[j]);
                    for (i, slot) in states.iter().enumerate() {
                        let Some(map) = derived.derivatives.state_block(i, j) else { continue };
                        let node = products::apply(graph, cell, maps, Some(map), probe, sizes[i]);
                        let sink = Sink::JacBlock { state: i, column: j * k + o };
                        roots.direct.push(Root { node, sink, len: slot.len });
                    }
                }
            }
        }
    }
    Ok(roots)
}

fn jacobian_layout(derived: &Derived, states: &[Slot], width: usize) -> Result<JacobianLayout, Error> {
    let structure = derived.structure();
    let n = states.len();
    Ok(match structure {
        JacobianStructure::Diagonal => {
            JacobianLayout { structure, block: 1, groups: width, channel_block: 1, channel_stride: width }
        }
        JacobianStructure::BlockDiagonal { block } => {
            let block = block as usize;
            let h = states.first().map_or(0, |s| s.len);
            if n == 0 || !block.is_multiple_of(n) || states.iter().any(|s| s.len != h) || !h.is_multiple_of(block / n) {
                return Err(internal(&derived.cell, "a block-diagonal Jacobian that does not fit the states"));
            }
            let k = block / n;
            JacobianLayout { structure, block, groups: h / k, channel_block: k, channel_stride: h }
        }
        JacobianStructure::Dense => {
            JacobianLayout { structure, block: width, groups: 1, channel_block: width.max(1), channel_stride: width }
        }
    })
}

/// For each node, whether it depends on a probe.
fn probed(graph: &Graph) -> Vec<bool> {
    let mut probed = vec![false; graph.len()];
    for (handle, node) in graph.iter() {
        probed[handle.index()] = matches!(node.op, Op::Seed(_)) || node.op.operands().any(|o| probed[o.index()]);
    }
    probed
}

/// Builds every kernel's program and the layout. See the [module
/// documentation](self).
pub(super) fn plan_kernels(derived: &Derived, dims: &DimSizes) -> Result<Plans, Error> {
    let cell = &derived.cell;
    if derived.ir.updates.len() != cell.states.len() || derived.ir.outputs.len() != cell.outputs.len() {
        return Err(internal(cell, "the IR does not match the cell"));
    }
    let n = |size: Size| dims.of(size) as usize;
    let cell_plan = crate::plan::plan(derived, dims);
    let word = |w: u64| w as usize;
    let params: Vec<Slot> = cell_plan.params.iter().map(|&s| Slot::from(s)).collect();
    let params_len = word(cell_plan.params_len);
    let param_offsets: Vec<usize> = params.iter().map(|s| s.offset).collect();
    let sizes: Vec<Size> = cell.states.values().map(|s| s.size).collect();
    let (state_slots, state_width) = crate::plan::slots(cell_plan.states.iter().copied());
    let (states, state_width): (Vec<Slot>, usize) =
        (state_slots.into_iter().map(Slot::from).collect(), word(state_width));
    let inputs: Vec<usize> = cell_plan.inputs.iter().map(|&len| word(len)).collect();
    let mut graph = derived.ir.graph.clone();
    let jacobian = jacobian_layout(derived, &states, state_width)?;
    let newton = cell_plan.granule.is_some() || Device::Cpu.dense_newton(state_width as u64);
    let jacobian_roots =
        if newton { Some(jacobian_roots(derived, &mut graph, &jacobian, &states, &sizes)?) } else { None };

    let update_roots: Vec<Root> = derived
        .ir
        .updates
        .iter()
        .zip(&states)
        .map(|(&node, slot)| Root { node, sink: Sink::Out(slot.offset), len: slot.len })
        .collect();
    let mut outputs = Vec::new();
    let mut output_roots = Vec::new();
    let mut output_width = 0;
    for (output, &node) in cell.outputs.values().zip(&derived.ir.outputs) {
        if let OutputValue::State(state) = output.value {
            outputs.push(OutputSource::State(state.index()));
            continue;
        }
        let len = n(output.size);
        let slot = Slot { offset: output_width, len };
        output_width += len;
        outputs.push(OutputSource::Computed(slot));
        output_roots.push(Root { node, sink: Sink::Out(slot.offset), len });
    }

    // The plan's hoisted values and projections (every launch is a host product).
    let probed = probed(&graph);
    let pre: Vec<PreValue> =
        cell_plan.hoisted.iter().map(|h| PreValue { node: h.node, slot: Slot::from(h.slot) }).collect();
    let pre_width = word(cell_plan.hoisted_width);
    let mut hoisted = vec![false; graph.len()];
    for value in &pre {
        hoisted[value.node.index()] = true;
    }
    let projections: Vec<(Handle<Node>, usize, usize)> = cell_plan
        .projections
        .iter()
        .flat_map(|launch| launch.placed().map(|(product, column)| (product.node, word(column), word(product.rows))))
        .collect();
    let projection_width = word(cell_plan.projection_columns);
    let leaves =
        Leaves { params: &params, states: &states, pre: &pre, projections: &projections, outputs: outputs.len() };
    let backward = backward_roots(derived, &leaves, &inputs);

    let context = Context { cell, graph: &graph, dims, param_offsets: &param_offsets };
    let const_seeds: Vec<(Handle<Node>, usize)> = jacobian_roots.as_ref().map_or(Vec::new(), |j| j.const_seeds.clone());
    let step_leaf = |node: Handle<Node>| -> Option<(Base, usize)> {
        match graph.node(node).op {
            Op::Param(p) => params.get(p.index()).map(|s| (Base::Params, s.offset)),
            Op::State(s) => states.get(s.index()).map(|s| (Base::Prev, s.offset)),
            _ if hoisted[node.index()] => pre.iter().find(|p| p.node == node).map(|p| (Base::Pre, p.slot.offset)),
            Op::Seed(_) => const_seeds.iter().find(|(s, _)| *s == node).map(|&(_, offset)| (Base::Consts, offset)),
            _ => None,
        }
    };
    let mut kernels = Vec::new();
    let mut scratch_len = 0;
    let step_kernel = |kind, program, out_width, jac_width| Planned {
        kind,
        program,
        pre_width,
        out_width,
        jac_width,
        input_widths: Vec::new(),
        backward: None,
    };

    if !pre.is_empty() {
        let hoist_leaf = |node: Handle<Node>| -> Option<(Base, usize)> {
            match graph.node(node).op {
                Op::Param(p) => params.get(p.index()).map(|s| (Base::Params, s.offset)),
                Op::Input(i) => Some((Base::Input(i.index()), 0)),
                _ => projections.iter().find(|(p, ..)| *p == node).map(|&(_, column, _)| (Base::Pre, column)),
            }
        };
        let roots: Vec<Root> =
            pre.iter().map(|p| Root { node: p.node, sink: Sink::Out(p.slot.offset), len: p.slot.len }).collect();
        let mut scratch = 0;
        let program = plan(&context, &roots, &[], &hoist_leaf, false, &mut scratch)?;
        scratch_len = scratch_len.max(scratch);
        kernels.push(Planned {
            kind: KernelKind::Hoist,
            program,
            pre_width: projection_width,
            out_width: pre_width,
            jac_width: 0,
            input_widths: inputs.clone(),
            backward: None,
        });
    }

    // The recurrence kernels, channel-split by the plan's granule when the
    // programs stay within channels (a granule that does not cover a program's
    // widest block is a bug of the plan).
    let channels = states.first().map_or(0, |s| s.len);
    let splittable = cell_plan.granule.is_some() && channels > 0;
    let granule = word(cell_plan.granule.unwrap_or(1));
    let split_by = |program: &Program| -> Result<ChannelSplit, Error> {
        if granule % program.widest_block() != 0 || granule % jacobian.channel_block != 0 {
            return Err(internal(cell, "a program reads wider blocks than the plan's granule"));
        }
        Ok(ChannelSplit { channels, granule })
    };
    let recurrence = |split: bool, scratch: &mut usize| -> Result<(Program, Option<Program>), Error> {
        let states_program = plan(&context, &update_roots, &[], &step_leaf, split, scratch)?;
        let linearise = match &jacobian_roots {
            None => None,
            Some(j) if j.probes.is_empty() => {
                let roots: Vec<Root> = update_roots.iter().chain(&j.direct).copied().collect();
                Some(plan(&context, &roots, &[], &step_leaf, split, scratch)?)
            }
            Some(j) => Some(dense_linearisation(&context, &update_roots, &j.probes, &probed, &step_leaf, scratch)?),
        };
        Ok((states_program, linearise))
    };
    let mut scratch = 0;
    let mut split = None;
    let (mut states_program, mut linearise) = recurrence(splittable, &mut scratch)?;
    let local = |p: &Program| p.channel_local(channels);
    if splittable && local(&states_program) && linearise.as_ref().is_none_or(local) {
        split = Some(split_by(&states_program)?);
        if let Some(program) = &linearise {
            split_by(program)?;
        }
    } else if splittable {
        scratch = 0;
        (states_program, linearise) = recurrence(false, &mut scratch)?;
    }
    scratch_len = scratch_len.max(scratch);
    kernels.push(step_kernel(KernelKind::States, states_program, state_width, 0));
    if let Some(program) = linearise {
        kernels.push(step_kernel(KernelKind::Linearize, program, state_width, jacobian.len()));
    }
    if !output_roots.is_empty() {
        let mut scratch = 0;
        let program = plan(&context, &output_roots, &[], &step_leaf, false, &mut scratch)?;
        scratch_len = scratch_len.max(scratch);
        kernels.push(step_kernel(KernelKind::Outputs, program, output_width, 0));
    }
    let douts: Vec<usize> = cell.outputs.values().map(|o| n(o.size)).collect();
    let backward_program =
        |split: bool, scratch: &mut usize| plan_backward(&context, &backward, &leaves, split, scratch);
    let mut scratch = 0;
    let planned = match backward_program(splittable, &mut scratch) {
        Ok(program) if splittable && local(&program) => {
            let split = split_by(&program)?;
            Ok((program, Some(split)))
        }
        Ok(_) if splittable => {
            scratch = 0;
            backward_program(false, &mut scratch).map(|program| (program, None))
        }
        other => other.map(|program| (program, None)),
    };
    let backward = match planned {
        Ok((program, split)) => {
            scratch_len = scratch_len.max(scratch);
            kernels.push(Planned {
                kind: KernelKind::Backward,
                program,
                pre_width,
                out_width: state_width,
                jac_width: 0,
                input_widths: inputs.clone(),
                backward: Some((douts.clone(), projection_width)),
            });
            Ok(BackwardLayout { douts, split })
        }
        Err(error) => Err(error.to_string()),
    };
    let consts = jacobian_roots.map_or(Vec::new(), |j| j.consts);
    let layout = CpuLayout {
        plan: cell_plan,
        params,
        params_len,
        inputs,
        projection_width,
        pre,
        pre_width,
        states,
        state_width,
        outputs,
        output_width,
        jacobian,
        split,
        scratch_len,
        consts,
        backward,
    };
    Ok(Plans { graph, param_offsets, layout, kernels })
}

/// The dense linearisation: the step, keeping what the probes read, then one
/// probe loop per state.
fn dense_linearisation(
    context: &Context<'_>,
    update_roots: &[Root],
    probes: &[(Handle<Node>, usize, Vec<Root>)],
    probed: &[bool],
    step_leaf: &dyn Fn(Handle<Node>) -> Option<(Base, usize)>,
    scratch: &mut usize,
) -> Result<Program, Error> {
    let graph = context.graph;
    // What the probe programs read that does not depend on the probe.
    let mut keep = Vec::new();
    let mut stack: Vec<Handle<Node>> = probes.iter().flat_map(|(_, _, roots)| roots.iter().map(|r| r.node)).collect();
    let mut seen = vec![false; graph.len()];
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut seen[node.index()], true) {
            continue;
        }
        let op = graph.node(node).op;
        if probed[node.index()] {
            stack.extend(op.operands());
            continue;
        }
        let constant = graph.node(node).shape == Shape::Scalar
            || matches!(op, Op::Splat(a) if graph.node(a).shape == Shape::Scalar);
        if step_leaf(node).is_none() && !constant {
            keep.push(node);
        }
    }
    keep.sort();
    let mut main = plan(context, update_roots, &keep, step_leaf, false, scratch)?;
    let mut kept = Vec::new();
    for &node in &keep {
        match main.kept(node) {
            Some(Home::Leaf(base, offset)) => kept.push((node, (base, offset))),
            _ => return Err(internal(context.cell, "a value the Jacobian probes read was not kept")),
        }
    }
    for (seed, column, roots) in probes {
        let (seed, len) = (*seed, context.len(*seed));
        let seed_offset = *scratch;
        *scratch += len;
        let leaf = |node: Handle<Node>| -> Option<(Base, usize)> {
            if node == seed {
                return Some((Base::Scratch, seed_offset));
            }
            kept.iter().find(|(n, _)| *n == node).map(|&(_, at)| at).or_else(|| step_leaf(node))
        };
        let program = plan(context, roots, &[], &leaf, false, scratch)?;
        main.stages.push(Stage::Probes(Box::new(Probes { seed: seed_offset, count: len, column: *column, program })));
    }
    Ok(main)
}
