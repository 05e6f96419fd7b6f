//! Planning a kernel body: which nodes are loaded, which are computed in which
//! loop over channels, and which are kept in scratch memory between loops.
//!
//! A program is a list of stages. An elementwise *group* is one loop over the
//! channels of one length, computing its nodes four lanes at a time in registers.
//! A *matrix stage* computes a matrix-vector product, a reduction (a sum, a
//! maximum, the first maximum's indicator: a product with a matrix of ones),
//! or a slice or padding (a product with a selection), into scratch. Levels order
//! them: a product's operand must be complete before it starts, so a product has
//! the level after its operand's, an elementwise node the highest level of its
//! operands, and each level runs its products, then its groups. A node used
//! outside its own group is *spilled* to scratch. Leaves (parameters, states,
//! hoisted values, constants) are loaded where they are used; scalar nodes are
//! folded to constants.

use std::collections::{BTreeMap, HashMap};

use super::unsupported;
use crate::arena::Handle;
use crate::check::{Cell, DimSizes, ParamShape, Shape};
use crate::error::Error;
use crate::ir::{Along, Graph, Node, Op, ReduceOp, semantics};

/// A base pointer that leaves are addressed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Base {
    /// The packed parameters.
    Params,
    /// The constant table.
    Consts,
    /// This row's hoisted values (the projections in the hoisting kernel).
    Pre,
    /// This row's previous state.
    Prev,
    /// This row of input `i`.
    Input(usize),
    /// The scratch memory.
    Scratch,
    /// This row's state cotangent `mu_t` (backward kernel).
    Mu,
    /// This row of output `o`'s cotangent (backward kernel).
    Dout(usize),
    /// This row of the input projections (backward kernel).
    Projections,
}

/// Where a root's value is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sink {
    /// The results row, contiguous from `offset`.
    Out(usize),
    /// The Jacobian row, contiguous from `offset`.
    Jac(usize),
    /// Block-diagonal Jacobian, channel by channel: state `state` of every
    /// group's rows, column `column`.
    JacBlock { state: usize, column: usize },
    /// Dense Jacobian: rows from `row` on, the column the probe loop is at.
    JacDense { row: usize },
    /// The projections' cotangent row, contiguous from `offset`.
    ProjectionGrad(usize),
    /// Input `i`'s cotangent row.
    InputGrad(usize),
    /// Added to the parameters' gradient, contiguous from `offset`.
    Accumulate(usize),
}

/// A result of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Root {
    pub node: Handle<Node>,
    pub sink: Sink,
    pub len: usize,
}

/// Where a node's value comes from, seen from the program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Home {
    /// Loaded from `base + offset + channel`.
    Leaf(Base, usize),
    /// A constant in every lane.
    Const(f32),
    /// Computed in group `index` of [`Program::groups`].
    Group(usize),
    /// Computed by a matrix stage into scratch at this offset.
    Product(usize),
}

/// A matrix-vector product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Matrix {
    /// A dense `[rows, cols]` matrix (transposed: `cols` results).
    Dense { rows: usize, cols: usize, transpose: bool },
    /// A `size x size` block-diagonal matrix of `block x block` blocks.
    Block { size: usize, block: usize, transpose: bool },
    /// A reduction of `cols` values into each of `rows` results (no
    /// parameter): [`Op::Reduce`] and [`Op::FirstMax`].
    Reduce { reduction: Reduction, rows: usize, cols: usize },
    /// `out[0..rows] = x[start..start + rows]` ([`Op::Slice`]), or `out` zero
    /// but `out[start..start + cols] = x` (`pad`, [`Op::Pad`]).
    Window { pad: bool, start: usize, rows: usize, cols: usize },
    /// A vector of `cols` elements laid along a matrix of `rows` elements
    /// ([`Op::Spread`]), or a matrix of `cols` elements summed into `rows`
    /// row or column sums (`fold`, [`Op::Fold`]).
    Spread { fold: bool, along: Along, rows: usize, cols: usize },
}

/// What a [`Matrix::Reduce`] stage computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reduction {
    /// The sum, in every result.
    Sum,
    /// The largest value (NaN if any is), in every result.
    Max,
    /// 1 at the operand's first largest element, 0 elsewhere.
    FirstMax,
}

/// One loop over channels.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Group {
    pub len: usize,
    pub split: bool,
    pub nodes: Vec<Handle<Node>>,
    pub spills: Vec<(Handle<Node>, usize)>,
    pub stores: Vec<(Handle<Node>, Sink)>,
}

/// `result = matrix @ operand`, into scratch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Product {
    pub matrix: Matrix,
    /// The matrix in the packed parameters.
    pub param_offset: usize,
    pub operand: (Base, usize),
    /// The result in scratch.
    pub result: usize,
    pub split: bool,
}

/// `gradient += a ⊗ u` for one use of a matrix parameter (its diagonal blocks
/// only for a block-diagonal one): the backward kernel's parameter shares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Outer {
    /// The parameter's shape; `transpose` is unused.
    pub matrix: Matrix,
    /// The parameter's gradient in the packed parameter gradient.
    pub grad_offset: usize,
    /// The product's cotangent (a row of the matrix per entry).
    pub a: (Base, usize),
    /// The operand (a column per entry).
    pub u: (Base, usize),
    pub split: bool,
}

/// The dense Jacobian's columns: for each `o < count`, the seed vector in scratch
/// at `seed` becomes the unit vector `e_o` and `program` runs, for column
/// `column + o`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Probes {
    pub seed: usize,
    pub count: usize,
    pub column: usize,
    pub program: Program,
}

/// One stage of a program.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Stage {
    Group(usize),
    Product(Product),
    Probes(Box<Probes>),
    Outer(Outer),
}

/// A planned kernel body. See the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Program {
    pub stages: Vec<Stage>,
    pub groups: Vec<Group>,
    pub homes: HashMap<Handle<Node>, Home>,
    /// The scratch offset of every spilled node.
    pub spilled: HashMap<Handle<Node>, usize>,
}

impl Program {
    /// Whether every loop covers exactly `channels` channels and every product is
    /// block-diagonal on them: then the program can run on a range of channels.
    pub fn channel_local(&self, channels: usize) -> bool {
        let groups = self.groups.iter().all(|g| g.len == channels);
        let stages = self.stages.iter().all(|stage| match stage {
            Stage::Group(_) => true,
            Stage::Product(p) => matches!(p.matrix, Matrix::Block { size, .. } if size == channels),
            Stage::Outer(o) => matches!(o.matrix, Matrix::Block { size, .. } if size == channels),
            Stage::Probes(_) => false,
        });
        groups && stages
    }

    /// The widest block of the block-diagonal products (1 if none).
    pub fn widest_block(&self) -> usize {
        let widest = self.stages.iter().filter_map(|stage| match stage {
            Stage::Product(Product { matrix: Matrix::Block { block, .. }, .. })
            | Stage::Outer(Outer { matrix: Matrix::Block { block, .. }, .. }) => Some(*block),
            _ => None,
        });
        widest.fold(1, lcm)
    }

    /// Where `node`'s value can be read after the program ran: a leaf, a
    /// constant, or its scratch offset.
    pub fn kept(&self, node: Handle<Node>) -> Option<Home> {
        match self.homes.get(&node)? {
            Home::Group(_) => self.spilled.get(&node).map(|&offset| Home::Leaf(Base::Scratch, offset)),
            Home::Product(offset) => Some(Home::Leaf(Base::Scratch, *offset)),
            other => Some(*other),
        }
    }
}

/// A group's level and length.
type GroupKey = (usize, usize);

pub(super) fn lcm(a: usize, b: usize) -> usize {
    fn gcd(mut a: usize, mut b: usize) -> usize {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    if a == 0 || b == 0 { a.max(b) } else { a / gcd(a, b) * b }
}

/// What a planner needs to know about the cell.
pub(super) struct Context<'a> {
    pub cell: &'a Cell,
    pub graph: &'a Graph,
    pub dims: &'a DimSizes,
    /// Each parameter's offset in the packed parameters.
    pub param_offsets: &'a [usize],
}

impl Context<'_> {
    /// The length of a vector node.
    pub fn len(&self, node: Handle<Node>) -> usize {
        match self.graph.node(node).shape {
            Shape::Vector(size) => self.dims.of(size) as usize,
            Shape::Scalar => 1,
        }
    }

    pub fn matrix(&self, param: Handle<crate::check::Param>, transpose: bool) -> Result<(Matrix, usize), Error> {
        let shape = (param.index() < self.cell.params.len()).then(|| self.cell.params[param].shape);
        let offset = self.param_offsets.get(param.index()).copied();
        let n = |size| self.dims.of(size) as usize;
        let matrix = match shape {
            Some(ParamShape::Matrix { rows, cols }) => Matrix::Dense { rows: n(rows), cols: n(cols), transpose },
            Some(ParamShape::Block { size, block }) => {
                Matrix::Block { size: n(size), block: block as usize, transpose }
            }
            _ => return Err(unsupported(self.cell, "a product with a parameter that is not a matrix")),
        };
        Ok((matrix, offset.unwrap_or(0)))
    }

    /// The value of a scalar node (scalars are constant expressions).
    fn fold(&self, node: Handle<Node>, folded: &HashMap<Handle<Node>, f64>) -> Result<f64, Error> {
        let get = |n: Handle<Node>| {
            folded.get(&n).copied().ok_or_else(|| unsupported(self.cell, "a scalar that is not a constant"))
        };
        Ok(match self.graph.node(node).op {
            Op::Const(literal) => literal.value(),
            Op::Unary(op, a) => semantics::unary(op, get(a)?),
            Op::Binary(op, a, b) => semantics::binary(op, get(a)?, get(b)?),
            Op::Step(a) => semantics::step(get(a)?),
            Op::Sign(a) => semantics::sign(get(a)?),
            Op::Splat(a) => get(a)?,
            Op::Length(size) => self.dims.of(size) as f64,
            _ => return Err(unsupported(self.cell, "a scalar that is not a constant")),
        })
    }
}

/// Plans a program computing `roots` (and keeping `keep` readable afterwards),
/// with `leaf` giving the address of the nodes that are loaded rather than
/// computed. `split`: loops run over a range of channels. `scratch` is the next
/// free scratch offset, advanced past what the program uses.
pub(super) fn plan(
    context: &Context<'_>,
    roots: &[Root],
    keep: &[Handle<Node>],
    leaf: &dyn Fn(Handle<Node>) -> Option<(Base, usize)>,
    split: bool,
    scratch: &mut usize,
) -> Result<Program, Error> {
    let graph = context.graph;
    let mut program = Program::default();
    // Every node needed, by a walk that stops at leaves.
    let mut needed = vec![false; graph.len()];
    let mut stack: Vec<Handle<Node>> = roots.iter().map(|r| r.node).chain(keep.iter().copied()).collect();
    let mut computed: Vec<Handle<Node>> = Vec::new();
    let mut scalars: Vec<Handle<Node>> = Vec::new();
    while let Some(node) = stack.pop() {
        if node.index() >= graph.len() || std::mem::replace(&mut needed[node.index()], true) {
            continue;
        }
        if let Some((base, offset)) = leaf(node) {
            program.homes.insert(node, Home::Leaf(base, offset));
            continue;
        }
        let op = graph.node(node).op;
        let constant = graph.node(node).shape == Shape::Scalar
            || matches!(op, Op::Splat(a) if graph.node(a).shape == Shape::Scalar);
        if constant {
            scalars.push(node)
        } else {
            computed.push(node)
        }
        stack.extend(op.operands());
    }
    scalars.sort();
    let mut folded = HashMap::new();
    for &node in &scalars {
        folded.insert(node, context.fold(node, &folded)?);
    }
    for &node in &scalars {
        program.homes.insert(node, Home::Const(folded[&node] as f32));
    }
    computed.sort();
    // Levels, products, and the group of each elementwise node.
    let mut level: HashMap<Handle<Node>, usize> = HashMap::new();
    let mut products: BTreeMap<usize, Vec<(Handle<Node>, Product)>> = BTreeMap::new();
    let mut members: BTreeMap<(usize, usize), Vec<Handle<Node>>> = BTreeMap::new();
    let mut spill: Vec<Handle<Node>> = keep.to_vec();
    for &node in &computed {
        let op = graph.node(node).op;
        match op {
            Op::MatVec(_, operand)
            | Op::MatVecT(_, operand)
            | Op::Reduce(_, operand)
            | Op::FirstMax(operand)
            | Op::Slice(operand, _)
            | Op::Pad(operand, _)
            | Op::Spread(operand, _)
            | Op::Fold(operand, _) => {
                let (matrix, param_offset) = match op {
                    Op::MatVec(param, _) | Op::MatVecT(param, _) => {
                        context.matrix(param, matches!(op, Op::MatVecT(..)))?
                    }
                    Op::Slice(_, start) | Op::Pad(_, start) => {
                        let (rows, cols) = (context.len(node), context.len(operand));
                        let pad = matches!(op, Op::Pad(..));
                        (Matrix::Window { pad, start: context.dims.of(start) as usize, rows, cols }, 0)
                    }
                    Op::Spread(_, along) | Op::Fold(_, along) => {
                        let (rows, cols) = (context.len(node), context.len(operand));
                        (Matrix::Spread { fold: matches!(op, Op::Fold(..)), along, rows, cols }, 0)
                    }
                    _ => {
                        let reduction = match op {
                            Op::Reduce(ReduceOp::Sum, _) => Reduction::Sum,
                            Op::Reduce(ReduceOp::Max, _) => Reduction::Max,
                            _ => Reduction::FirstMax,
                        };
                        (Matrix::Reduce { reduction, rows: context.len(node), cols: context.len(operand) }, 0)
                    }
                };
                let node_level = match program.homes.get(&operand) {
                    Some(Home::Leaf(..)) => 0,
                    Some(Home::Const(_)) | None => {
                        if !level.contains_key(&operand) {
                            return Err(unsupported(context.cell, "a matrix product of a constant"));
                        }
                        spill.push(operand);
                        level[&operand] + 1
                    }
                    Some(_) => level[&operand] + 1,
                };
                level.insert(node, node_level);
                let result = *scratch;
                *scratch += context.len(node);
                program.homes.insert(node, Home::Product(result));
                let product = Product { matrix, param_offset, operand: (Base::Scratch, 0), result, split };
                products.entry(node_level).or_default().push((node, product));
            }
            Op::Unary(..) | Op::Binary(..) | Op::Step(_) | Op::Sign(_) | Op::Splat(_) => {
                let node_level = op.operands().filter_map(|o| level.get(&o).copied()).max().unwrap_or(0);
                level.insert(node, node_level);
                members.entry((node_level, context.len(node))).or_default().push(node);
            }
            _ => return Err(unsupported(context.cell, &format!("no value for `{}` in this kernel", op.mnemonic()))),
        }
    }
    // Which group stores each root.
    let mut stores: BTreeMap<GroupKey, Vec<(Handle<Node>, Sink)>> = BTreeMap::new();
    for root in roots {
        let root_level = level.get(&root.node).copied().unwrap_or(0);
        members.entry((root_level, root.len)).or_default();
        stores.entry((root_level, root.len)).or_default().push((root.node, root.sink));
    }
    let group_of: BTreeMap<(usize, usize), usize> = members.keys().enumerate().map(|(i, &key)| (key, i)).collect();
    for (key, nodes) in &members {
        for &node in nodes {
            program.homes.insert(node, Home::Group(group_of[key]));
        }
    }
    // Spill every elementwise node used by another group or by a product.
    for &node in &computed {
        let user_group = match program.homes.get(&node) {
            Some(Home::Group(g)) => Some(*g),
            _ => None,
        };
        for operand in graph.node(node).op.operands() {
            if let Some(Home::Group(g)) = program.homes.get(&operand)
                && user_group != Some(*g)
            {
                spill.push(operand);
            }
        }
    }
    for (key, group_stores) in &stores {
        for &(node, _) in group_stores {
            if let Some(Home::Group(g)) = program.homes.get(&node)
                && *g != group_of[key]
            {
                spill.push(node);
            }
        }
    }
    spill.sort();
    spill.dedup();
    let mut group_spills: HashMap<usize, Vec<(Handle<Node>, usize)>> = HashMap::new();
    for node in spill {
        if let Some(Home::Group(g)) = program.homes.get(&node).copied() {
            let offset = *scratch;
            *scratch += context.len(node);
            program.spilled.insert(node, offset);
            group_spills.entry(g).or_default().push((node, offset));
        }
    }
    // Product operands are now addressable.
    for list in products.values_mut() {
        for (node, product) in list.iter_mut() {
            let operand = graph.node(*node).op.operands().next();
            product.operand = match operand.and_then(|o| program.kept(o)) {
                Some(Home::Leaf(base, offset)) => (base, offset),
                _ => return Err(unsupported(context.cell, "a matrix product of an operand with no address")),
            };
        }
    }
    for (key, nodes) in members {
        let index = program.groups.len();
        program.groups.push(Group {
            len: key.1,
            split,
            nodes,
            spills: group_spills.remove(&index).unwrap_or_default(),
            stores: stores.remove(&key).unwrap_or_default(),
        });
    }
    let top = group_of.keys().map(|k| k.0).chain(products.keys().copied()).max().unwrap_or(0);
    for stage_level in 0..=top {
        for (_, product) in products.remove(&stage_level).unwrap_or_default() {
            program.stages.push(Stage::Product(product));
        }
        for (key, &index) in &group_of {
            if key.0 == stage_level {
                program.stages.push(Stage::Group(index));
            }
        }
    }
    Ok(program)
}
