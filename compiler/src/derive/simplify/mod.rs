//! Simplification of derivative expressions with egg: the diagonals of every
//! derivative map go into one e-graph, are rewritten under explicit limits, and
//! the cheapest equivalent of each is extracted and rebuilt into the IR.
//!
//! Step nodes enter the e-graph as opaque, free leaves (`v12`), so the step is
//! never changed and every step value a derivative can use is reused; derivative
//! nodes enter with their structure. Results are deterministic: egg runs with its
//! `deterministic` feature, the rules are applied in a fixed order, and the
//! iteration and node limits stop the run long before the time limit, which is
//! only a safety net (when it is hit, [`SimplifyReport::stop_reason`] says so).

mod cost;
mod extract;
mod language;
mod rewrites;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use egg::{EGraph, Id, Language, Runner};

use self::extract::DagExtraction;
use self::language::{ConstantFold, Term, TermOp, ValueRef};
use super::linear::{Linear, LinearMaps};
use super::{Derivatives, ParamDerivative};
use crate::arena::Handle;
use crate::check::Cell;
use crate::ir::{Graph, Ir, Node};

/// The limits of one simplification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimplifyLimits {
    /// The most rewrite iterations.
    pub iterations: usize,
    /// The most e-nodes the e-graph may grow to.
    pub nodes: usize,
    /// The most time the rewriting may take (a safety net: the other limits are
    /// meant to stop it first).
    pub time: Duration,
    /// The most derivative nodes to simplify; beyond that the derivatives are
    /// kept as derived and the report says the simplification was skipped.
    pub input_nodes: usize,
}

impl Default for SimplifyLimits {
    /// 8 iterations, 6,000 e-nodes, 1 s, 4,000 input nodes: every stdlib cell
    /// finishes in a few milliseconds.
    fn default() -> Self {
        SimplifyLimits { iterations: 8, nodes: 6_000, time: Duration::from_secs(1), input_nodes: 4_000 }
    }
}

/// Why the rewriting stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    /// No rule could add anything new.
    Saturated,
    /// The iteration limit (given) was reached.
    IterationLimit(usize),
    /// The e-node limit was reached; the e-graph's size when it stopped.
    NodeLimit(usize),
    /// The time limit was reached (results may then vary from run to run).
    TimeLimit(Duration),
    /// egg stopped for another reason.
    Other(String),
    /// There was no derivative expression to simplify.
    NothingToSimplify,
    /// There were more derivative nodes than [`SimplifyLimits::input_nodes`].
    Skipped {
        /// How many there were.
        nodes: usize,
    },
}

/// What a simplification did.
#[derive(Clone, Debug, PartialEq)]
pub struct SimplifyReport {
    /// Why the rewriting stopped.
    pub stop_reason: StopReason,
    /// How many rewrite iterations ran.
    pub iterations: usize,
    /// The e-graph's size at the end: e-nodes and e-classes.
    pub egraph_nodes: usize,
    /// The number of e-classes at the end.
    pub egraph_classes: usize,
    /// Derivative expression nodes (not counting step nodes) before.
    pub nodes_before: usize,
    /// Derivative expression nodes after.
    pub nodes_after: usize,
    /// The cost of evaluating every derivative diagonal once per element
    /// before: the own costs of the distinct derivative nodes (see the cost
    /// model), step values being free.
    pub cost_before: u64,
    /// The cost after: equal to `cost_before` when the rewritten form was not
    /// cheaper and the expressions were kept as derived.
    pub cost_after: u64,
    /// Whether the rewritten expressions replaced the derived ones.
    pub rewritten: bool,
    /// Wall-clock time of the whole simplification.
    pub time: Duration,
}

/// Simplifies the derivative expressions of `derivatives` (of the step `ir`,
/// lowered from `cell`) in place: rebuilds `ir.graph` (the step's nodes keep
/// their handles) and `derivatives.maps`.
pub fn simplify(cell: &Cell, ir: &mut Ir, derivatives: &mut Derivatives, limits: &SimplifyLimits) -> SimplifyReport {
    let start = Instant::now();
    let live_maps = live_maps(derivatives);
    let roots = diagonals(&derivatives.maps, &live_maps);
    let nodes_before = derivative_nodes(&ir.graph, ir.step_len, &roots);
    let cost_before = dag_cost(&ir.graph, ir.step_len, &roots);
    let mut report = SimplifyReport {
        stop_reason: StopReason::NothingToSimplify,
        iterations: 0,
        egraph_nodes: 0,
        egraph_classes: 0,
        nodes_before,
        nodes_after: nodes_before,
        cost_before,
        cost_after: cost_before,
        rewritten: false,
        time: Duration::ZERO,
    };
    let rewritten = if nodes_before > limits.input_nodes {
        report.stop_reason = StopReason::Skipped { nodes: nodes_before };
        None
    } else if nodes_before > 0 {
        Some(rewrite(ir, &roots, limits, &mut report))
    } else {
        None
    };
    let accepted = rewritten.filter(|(graph, new_roots)| {
        let cost = dag_cost(graph, ir.step_len, &new_roots.values().copied().collect::<Vec<_>>());
        // Extraction is greedy, so not always optimal: keep the expressions as
        // derived unless the rewritten ones cost no more to evaluate.
        cost <= cost_before
    });
    report.rewritten = accepted.is_some();
    let (mut graph, new_roots) = accepted.unwrap_or_else(|| {
        let mut graph = step_prefix(ir);
        let mut copied = identity_prefix(ir);
        let new_roots = roots.iter().map(|&root| (root, copy_node(&ir.graph, &mut graph, &mut copied, root))).collect();
        (graph, new_roots)
    });
    rebuild_maps(cell, derivatives, &live_maps, &mut graph, &new_roots);
    ir.graph = graph;
    let kept = diagonals(&derivatives.maps, &vec![true; derivatives.maps.len()]);
    report.nodes_after = derivative_nodes(&ir.graph, ir.step_len, &kept);
    report.cost_after = dag_cost(&ir.graph, ir.step_len, &kept);
    report.time = start.elapsed();
    report
}

/// The diagonals of the maps marked `live`.
fn diagonals(maps: &LinearMaps, live: &[bool]) -> Vec<Handle<Node>> {
    maps.iter()
        .filter(|(handle, _)| live[handle.index()])
        .filter_map(|(_, map)| match *map {
            Linear::Diag { diag, .. } => Some(diag),
            _ => None,
        })
        .collect()
}

/// For each node of `ir`, its handle in a copy of the step: itself for step
/// nodes, nothing yet for the others.
fn identity_prefix(ir: &Ir) -> Vec<Option<Handle<Node>>> {
    (0..ir.graph.len()).map(|i| (i < ir.step_len).then(|| Handle::from_index(i))).collect()
}

/// Runs egg on the expressions `roots` and rebuilds the cheapest forms into a
/// copy of the step: the new graph and the new node of each root.
fn rewrite(
    ir: &Ir,
    roots: &[Handle<Node>],
    limits: &SimplifyLimits,
    report: &mut SimplifyReport,
) -> (Graph, HashMap<Handle<Node>, Handle<Node>>) {
    let (egraph, classes) = build_egraph(ir, roots);
    let runner = Runner::<Term, ConstantFold>::default()
        .with_egraph(egraph)
        .with_iter_limit(limits.iterations)
        .with_node_limit(limits.nodes)
        .with_time_limit(limits.time)
        .run(&rewrites::rules());
    report.stop_reason = match runner.stop_reason {
        Some(egg::StopReason::Saturated) => StopReason::Saturated,
        Some(egg::StopReason::IterationLimit(n)) => StopReason::IterationLimit(n),
        Some(egg::StopReason::NodeLimit(n)) => StopReason::NodeLimit(n),
        Some(egg::StopReason::TimeLimit(_)) => StopReason::TimeLimit(limits.time),
        Some(egg::StopReason::Other(reason)) => StopReason::Other(reason),
        None => StopReason::Other("not run".to_owned()),
    };
    report.iterations = runner.iterations.len();
    report.egraph_nodes = runner.egraph.total_number_of_nodes();
    report.egraph_classes = runner.egraph.number_of_classes();
    let extraction = DagExtraction::new(&runner.egraph);
    let mut graph = step_prefix(ir);
    let mut copied = identity_prefix(ir);
    let mut built: HashMap<Id, Handle<Node>> = HashMap::new();
    let mut new_roots = HashMap::new();
    for &root in roots {
        let rebuilt = classes
            .get(&root)
            .and_then(|&class| rebuild(&extraction, &runner.egraph, class, ir, &mut graph, &mut copied, &mut built));
        let rebuilt = rebuilt.unwrap_or_else(|| copy_node(&ir.graph, &mut graph, &mut copied, root));
        new_roots.insert(root, rebuilt);
    }
    (graph, new_roots)
}

/// Which maps the derivatives use, directly or as operands.
fn live_maps(derivatives: &Derivatives) -> Vec<bool> {
    let maps = &derivatives.maps;
    let mut live = vec![false; maps.len()];
    for map in derivatives.referenced_maps() {
        live[map.index()] = true;
    }
    for (handle, map) in maps.iter().collect::<Vec<_>>().into_iter().rev() {
        if live[handle.index()]
            && let Linear::Compose(a, b) | Linear::Sum(a, b) = *map
        {
            live[a.index()] = true;
            live[b.index()] = true;
        }
    }
    live
}

/// The number of derivative (non-step) nodes `roots` depend on.
fn derivative_nodes(graph: &Graph, step_len: usize, roots: &[Handle<Node>]) -> usize {
    let live = graph.reachable(roots.iter().copied());
    live.iter().skip(step_len).filter(|&&l| l).count()
}

/// A graph holding the step's nodes only, at their handles.
fn step_prefix(ir: &Ir) -> Graph {
    let keep: Vec<bool> = (0..ir.graph.len()).map(|i| i < ir.step_len).collect();
    ir.graph.compact(&keep).0
}

/// The e-graph of the derivative expressions under `roots`, and the class of
/// each root.
fn build_egraph(ir: &Ir, roots: &[Handle<Node>]) -> (EGraph<Term, ConstantFold>, HashMap<Handle<Node>, Id>) {
    let live = ir.graph.reachable(roots.iter().copied());
    let mut is_root = vec![false; ir.graph.len()];
    for root in roots {
        is_root[root.index()] = true;
    }
    let mut egraph = EGraph::<Term, ConstantFold>::default();
    let mut ids: Vec<Option<Id>> = vec![None; ir.graph.len()];
    let leaf = |egraph: &mut EGraph<Term, ConstantFold>, node: Handle<Node>| {
        let term = match ir.graph.node(node).op {
            crate::ir::Op::Const(literal) => Term::Num(literal),
            _ => Term::Value(ValueRef(node.index() as u32)),
        };
        egraph.add(term)
    };
    for (handle, node) in ir.graph.iter() {
        if !live[handle.index()] || (handle.index() < ir.step_len && !is_root[handle.index()]) {
            continue;
        }
        let children: Vec<Id> = node
            .op
            .operands()
            .map(|operand| match ids[operand.index()] {
                Some(id) => id,
                None => {
                    let id = leaf(&mut egraph, operand);
                    ids[operand.index()] = Some(id);
                    id
                }
            })
            .collect();
        let id = match (handle.index() >= ir.step_len).then(|| Term::from_op(&node.op, &children)).flatten() {
            Some(term) => egraph.add(term),
            None => leaf(&mut egraph, handle),
        };
        ids[handle.index()] = Some(id);
    }
    let classes = roots.iter().filter_map(|&root| Some((root, ids[root.index()]?))).collect();
    egraph.rebuild();
    (egraph, classes)
}

/// The work of evaluating the derivative expressions `roots` once per element:
/// the own cost of each distinct derivative node they use (step values free).
fn dag_cost(graph: &Graph, step_len: usize, roots: &[Handle<Node>]) -> u64 {
    let live = graph.reachable(roots.iter().copied());
    graph
        .iter()
        .skip(step_len)
        .filter(|(handle, _)| live[handle.index()])
        .map(|(_, node)| cost::node_cost(&node.op))
        .fold(0u64, u64::saturating_add)
}

/// Builds the cheapest term of `class` into `graph`; `None` if its shapes do
/// not fit together (the caller then keeps the expression as derived).
fn rebuild(
    extraction: &DagExtraction,
    egraph: &EGraph<Term, ConstantFold>,
    class: Id,
    ir: &Ir,
    graph: &mut Graph,
    copied: &mut [Option<Handle<Node>>],
    built: &mut HashMap<Id, Handle<Node>>,
) -> Option<Handle<Node>> {
    let mut stack = vec![egraph.find(class)];
    let mut expanded: HashSet<Id> = HashSet::new();
    while let Some(&id) = stack.last() {
        if built.contains_key(&id) {
            stack.pop();
            continue;
        }
        let term = extraction.node(egraph, id)?;
        let children: Vec<Id> = term.children().iter().map(|&c| egraph.find(c)).collect();
        let missing: Vec<Id> = children.iter().copied().filter(|c| !built.contains_key(c)).collect();
        if !missing.is_empty() {
            // Children pushed before are built by the time `id` is on top again,
            // unless one of them needs `id` itself: a cycle.
            if !expanded.insert(id) {
                return None;
            }
            stack.extend(missing);
            continue;
        }
        let operands: Vec<Handle<Node>> = children.iter().map(|c| built[c]).collect();
        let node = match term {
            Term::Num(literal) => graph.constant(literal.value()),
            Term::Value(ValueRef(index)) => {
                let index = *index as usize;
                if index >= ir.graph.len() {
                    return None;
                }
                copy_node(&ir.graph, graph, copied, Handle::from_index(index))
            }
            other => match (other.op()?, operands.as_slice()) {
                (TermOp::Unary(op), &[a]) => graph.unary(op, a),
                (TermOp::Step, &[a]) => graph.step(a),
                (TermOp::Sign, &[a]) => graph.sign(a),
                (TermOp::Binary(op), &[a, b]) => {
                    graph.binary_shape(a, b)?;
                    graph.binary(op, a, b)
                }
                _ => return None,
            },
        };
        built.insert(id, node);
        stack.pop();
    }
    built.get(&egraph.find(class)).copied()
}

/// Copies node `root` of `old` (with whatever it depends on that is not copied
/// yet) into `new`.
fn copy_node(old: &Graph, new: &mut Graph, copied: &mut [Option<Handle<Node>>], root: Handle<Node>) -> Handle<Node> {
    let mut stack = vec![root];
    while let Some(&node) = stack.last() {
        if copied[node.index()].is_some() {
            stack.pop();
            continue;
        }
        let op = old.node(node).op;
        let missing: Vec<Handle<Node>> = op.operands().filter(|o| copied[o.index()].is_none()).collect();
        if missing.is_empty() {
            let op = op.map_operands(|o| copied[o.index()].unwrap_or(o));
            copied[node.index()] = Some(new.add(Node { op, shape: old.node(node).shape }));
            stack.pop();
        } else {
            stack.extend(missing);
        }
    }
    copied[root.index()].unwrap_or(root)
}

/// Rebuilds the live maps over the simplified diagonals, renormalising, and
/// points every derivative at the new maps.
fn rebuild_maps(
    cell: &Cell,
    derivatives: &mut Derivatives,
    live: &[bool],
    graph: &mut Graph,
    new_roots: &HashMap<Handle<Node>, Handle<Node>>,
) {
    let mut maps = LinearMaps::new();
    let mut new: Vec<Option<Handle<Linear>>> = vec![None; derivatives.maps.len()];
    for (handle, map) in derivatives.maps.iter() {
        if !live[handle.index()] {
            continue;
        }
        new[handle.index()] = match *map {
            Linear::Diag { diag, size } => maps.diag(graph, new_roots.get(&diag).copied().unwrap_or(diag), size),
            Linear::Matrix(param) | Linear::MatrixT(param) if param.index() < cell.params.len() => {
                Some(maps.matrix(param, cell.params[param].shape, matches!(map, Linear::MatrixT(_))))
            }
            Linear::Matrix(_) | Linear::MatrixT(_) => None,
            Linear::Ones { rows, cols } => Some(maps.ones(rows, cols)),
            Linear::Select { rows, cols, start } => Some(maps.window(rows, cols, start, false)),
            Linear::Embed { rows, cols, start } => Some(maps.window(rows, cols, start, true)),
            Linear::Spread { rows, cols, along } => Some(maps.spread(rows, cols, along, false)),
            Linear::Fold { rows, cols, along } => Some(maps.spread(rows, cols, along, true)),
            Linear::Compose(a, b) => maps.compose(graph, new[a.index()], new[b.index()]),
            Linear::Sum(a, b) => maps.sum(graph, new[a.index()], new[b.index()]),
        };
    }
    let remap = |map: &mut Option<Handle<Linear>>| *map = map.and_then(|m| new[m.index()]);
    for result in derivatives.updates.iter_mut().chain(&mut derivatives.outputs) {
        result.states.iter_mut().chain(&mut result.inputs).for_each(remap);
        for param in &mut result.params {
            match param {
                ParamDerivative::Vector(map) => remap(map),
                ParamDerivative::Matrix(uses) => {
                    uses.retain_mut(|u| match new[u.map.index()] {
                        Some(map) => {
                            u.map = map;
                            true
                        }
                        None => false,
                    });
                }
            }
        }
    }
    derivatives.maps = maps;
}
