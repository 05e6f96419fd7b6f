//! Linear maps: the symbolic form of every Jacobian.
//!
//! A derivative `d y / d x` of a step is a linear map from `x`'s space to `y`'s.
//! [`LinearMaps`] holds such maps as a hash-consed DAG whose leaves are diagonal
//! maps (a vector or scalar IR node on the diagonal), parameter matrices (dense
//! or block-diagonal, or their transposes) and matrices of ones (reductions),
//! combined by composition and sum. The
//! zero map is `None` wherever an `Option<Handle<Linear>>` is used.
//!
//! The constructors normalise as they build: the identity is dropped from
//! compositions, compositions and sums of diagonals become one diagonal whose
//! vector is a new IR node (`diag(a) ∘ diag(b) = diag(a * b)`), diagonals merge
//! across a shared neighbour (`X ∘ diag(a) + X ∘ diag(b) = X ∘ diag(a + b)`), and a
//! diagonal of the constant 0 is the zero map. So a map whose leaves are all
//! diagonal is always a single [`Linear::Diag`]: a diagonal Jacobian is a vector
//! expression a backend can evaluate per channel.
//!
//! Each map also records its [`MapStructure`], computed from its operands when it
//! is built: this is the proof the structure analysis relies on.

use std::collections::HashMap;
use std::fmt;

use crate::arena::{Arena, Handle};
use crate::check::Param;
use crate::check::{Along, ParamShape, Size};
use crate::ir::{Graph, Node};

/// A linear map. See the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Linear {
    /// `diag(v)` on vectors of length `size`; `v` is a vector of that length or a
    /// scalar (a multiple of the identity).
    Diag {
        /// The diagonal.
        diag: Handle<Node>,
        /// The length of the vectors it maps.
        size: Size,
    },
    /// A matrix or block-diagonal parameter.
    Matrix(Handle<Param>),
    /// The transpose of a matrix or block-diagonal parameter.
    MatrixT(Handle<Param>),
    /// The `rows x cols` matrix of ones: `v` to `sum(v)` in every element
    /// (the derivative of a reduction; its transpose is `Ones` with the sides
    /// swapped). Rank one, and dense unless both sides are 1.
    Ones {
        /// The length of the results.
        rows: Size,
        /// The length of the vectors it maps.
        cols: Size,
    },
    /// Selection: `(M v)[i] = v[start + i]` for `i < rows`, `v` of length
    /// `cols` (a slice's derivative; its transpose is an [`Linear::Embed`]).
    Select {
        /// The length of the results.
        rows: Size,
        /// The length of the vectors it maps.
        cols: Size,
        /// The first element selected.
        start: Size,
    },
    /// Embedding: `(M v)[start + j] = v[j]`, zeros elsewhere (a padding's
    /// derivative; its transpose is a [`Linear::Select`]).
    Embed {
        /// The length of the results.
        rows: Size,
        /// The length of the vectors it maps.
        cols: Size,
        /// Where `v[0]` goes.
        start: Size,
    },
    /// Spreading: `(M v)[i] = v[along.vector_index(i, C)]`, `v` of length
    /// `cols` laid along a `[R, C]` matrix of `rows` elements (a
    /// [`Op::Spread`](crate::ir::Op::Spread)'s derivative; its transpose is a
    /// [`Linear::Fold`]). Dense.
    Spread {
        /// The length of the results (the matrix's elements).
        rows: Size,
        /// The length of the vectors it maps.
        cols: Size,
        /// The side the vector is laid along.
        along: Along,
    },
    /// Folding: the row or column sums of a `[R, C]` matrix of `cols`
    /// elements, `rows` of them (a [`Op::Fold`](crate::ir::Op::Fold)'s
    /// derivative; its transpose is a [`Linear::Spread`]). Dense.
    Fold {
        /// The length of the results (the sums).
        rows: Size,
        /// The length of the vectors it maps (the matrix's elements).
        cols: Size,
        /// The side summed into.
        along: Along,
    },
    /// `a ∘ b`: apply `b`, then `a`.
    Compose(Handle<Linear>, Handle<Linear>),
    /// `a + b`.
    Sum(Handle<Linear>, Handle<Linear>),
}

/// What is known about where a map's nonzero entries can be: an upper bound,
/// proved from the map's form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapStructure {
    /// Diagonal: entry `(i, j)` is zero unless `i == j`.
    Diagonal,
    /// Block-diagonal with `block x block` blocks: entry `(i, j)` is zero unless
    /// `i / block == j / block`.
    BlockDiagonal(u64),
    /// No known zero pattern.
    Dense,
}

impl MapStructure {
    /// The block size (1 for diagonal), or `None` for dense.
    pub fn block(self) -> Option<u64> {
        match self {
            MapStructure::Diagonal => Some(1),
            MapStructure::BlockDiagonal(block) => Some(block),
            MapStructure::Dense => None,
        }
    }

    /// The structure of a block-diagonal matrix of `block x block` blocks.
    pub fn from_block(block: Option<u64>) -> Self {
        match block {
            Some(1) => MapStructure::Diagonal,
            Some(block) => MapStructure::BlockDiagonal(block),
            None => MapStructure::Dense,
        }
    }

    /// The structure of a sum or composition of maps of structures `self` and
    /// `other` (both square, of one size): block-diagonal with the least common
    /// multiple of the block sizes (a side divisible by both is divisible by it),
    /// or dense.
    pub fn join(self, other: MapStructure) -> MapStructure {
        match (self.block(), other.block()) {
            (Some(a), Some(b)) => MapStructure::from_block(lcm(a, b)),
            _ => MapStructure::Dense,
        }
    }
}

/// A derivative seen by its structure: what a back end needs to evaluate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapForm {
    /// The zero map.
    Zero,
    /// `diag(v)`: the vector (or scalar) expression `v`, one entry per channel.
    Diagonal(Handle<Node>),
    /// Block-diagonal with `block x block` blocks, e.g. `diag(v) ∘ U` for a
    /// `block[H, K]` parameter `U`.
    BlockDiagonal {
        /// The side of a block.
        block: u64,
        /// The map.
        map: Handle<Linear>,
    },
    /// No known structure, e.g. `diag(v) ∘ W` for a dense `W`.
    Dense(Handle<Linear>),
}

pub(crate) use crate::check::lcm;

/// The arena of linear maps. See the [module documentation](self).
#[derive(Clone, Debug, Default)]
pub struct LinearMaps {
    maps: Arena<Linear>,
    structures: Vec<MapStructure>,
    dedup: HashMap<Linear, Handle<Linear>>,
}

impl LinearMaps {
    /// No maps.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of maps.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether there is no map.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// The maps with their handles, operands first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Handle<Linear>, &Linear)> + '_ {
        self.maps.iter()
    }

    /// The map `handle` points at.
    pub fn get(&self, handle: Handle<Linear>) -> &Linear {
        &self.maps[handle]
    }

    /// The structure of `map`; the zero map (`None`) is diagonal.
    pub fn structure(&self, map: Option<Handle<Linear>>) -> MapStructure {
        map.map_or(MapStructure::Diagonal, |map| self.structures[map.index()])
    }

    /// `map` by its structure.
    pub fn form(&self, map: Option<Handle<Linear>>) -> MapForm {
        let Some(map) = map else { return MapForm::Zero };
        match (self.maps[map], self.structures[map.index()]) {
            (Linear::Diag { diag, .. }, _) => MapForm::Diagonal(diag),
            (_, MapStructure::Diagonal) | (_, MapStructure::BlockDiagonal(_)) => {
                MapForm::BlockDiagonal { block: self.structures[map.index()].block().unwrap_or(1), map }
            }
            (_, MapStructure::Dense) => MapForm::Dense(map),
        }
    }

    /// The diagonal of `map` if it is a single diagonal map.
    pub fn as_diagonal(&self, map: Option<Handle<Linear>>) -> Option<Handle<Node>> {
        match map.map(|map| self.maps[map]) {
            Some(Linear::Diag { diag, .. }) => Some(diag),
            _ => None,
        }
    }

    fn intern(&mut self, map: Linear, structure: MapStructure) -> Handle<Linear> {
        if let Some(&handle) = self.dedup.get(&map) {
            return handle;
        }
        let handle = self.maps.append(map);
        self.structures.push(structure);
        self.dedup.insert(map, handle);
        handle
    }

    /// `diag(v)` on vectors of length `size`; zero if `v` is the constant 0.
    pub fn diag(&mut self, graph: &Graph, diag: Handle<Node>, size: Size) -> Option<Handle<Linear>> {
        if graph.is_constant(diag, 0.0) {
            return None;
        }
        Some(self.intern(Linear::Diag { diag, size }, MapStructure::Diagonal))
    }

    /// The identity on vectors of length `size`.
    pub fn identity(&mut self, graph: &mut Graph, size: Size) -> Handle<Linear> {
        let one = graph.constant(1.0);
        self.intern(Linear::Diag { diag: one, size }, MapStructure::Diagonal)
    }

    /// The parameter `param` of shape `shape` as a map (`transpose`d or not).
    pub fn matrix(&mut self, param: Handle<Param>, shape: ParamShape, transpose: bool) -> Handle<Linear> {
        let structure = match shape {
            ParamShape::Block { block, .. } => MapStructure::from_block(Some(block)),
            ParamShape::Matrix { rows: Size::Fixed(1), cols: Size::Fixed(1) } => MapStructure::Diagonal,
            ParamShape::Matrix { .. } | ParamShape::Vector(_) => MapStructure::Dense,
        };
        let map = if transpose { Linear::MatrixT(param) } else { Linear::Matrix(param) };
        self.intern(map, structure)
    }

    /// The `rows x cols` matrix of ones.
    pub fn ones(&mut self, rows: Size, cols: Size) -> Handle<Linear> {
        let structure = match (rows, cols) {
            (Size::Fixed(1), Size::Fixed(1)) => MapStructure::Diagonal,
            _ => MapStructure::Dense,
        };
        self.intern(Linear::Ones { rows, cols }, structure)
    }

    /// A selection (`embed` false) or embedding map; dense (an upper bound:
    /// a slice moves elements between channels).
    pub fn window(&mut self, rows: Size, cols: Size, start: Size, embed: bool) -> Handle<Linear> {
        let map = if embed { Linear::Embed { rows, cols, start } } else { Linear::Select { rows, cols, start } };
        self.intern(map, MapStructure::Dense)
    }

    /// A spreading (`fold` false) or folding map along `along`; dense (an
    /// upper bound: it moves elements between channels).
    pub fn spread(&mut self, rows: Size, cols: Size, along: Along, fold: bool) -> Handle<Linear> {
        let map = if fold { Linear::Fold { rows, cols, along } } else { Linear::Spread { rows, cols, along } };
        self.intern(map, MapStructure::Dense)
    }

    fn diagonal_parts(&self, map: Handle<Linear>) -> Option<(Handle<Node>, Size)> {
        match self.maps[map] {
            Linear::Diag { diag, size } => Some((diag, size)),
            _ => None,
        }
    }

    fn is_identity(&self, graph: &Graph, map: Handle<Linear>) -> bool {
        self.diagonal_parts(map).is_some_and(|(diag, _)| graph.is_constant(diag, 1.0))
    }

    /// `a ∘ b` (apply `b`, then `a`); zero if either is.
    pub fn compose(
        &mut self,
        graph: &mut Graph,
        a: Option<Handle<Linear>>,
        b: Option<Handle<Linear>>,
    ) -> Option<Handle<Linear>> {
        let (a, b) = (a?, b?);
        if self.is_identity(graph, a) {
            return Some(b);
        }
        if self.is_identity(graph, b) {
            return Some(a);
        }
        if let (Some((x, size)), Some((y, _))) = (self.diagonal_parts(a), self.diagonal_parts(b)) {
            let product = product(graph, x, y);
            return self.diag(graph, product, size);
        }
        // X ∘ diag(x), then ∘ diag(y): X ∘ diag(x * y).
        if let (Linear::Compose(left, inner), Some((y, size))) = (self.maps[a], self.diagonal_parts(b))
            && let Some((x, _)) = self.diagonal_parts(inner)
        {
            let product = product(graph, x, y);
            let merged = self.diag(graph, product, size);
            return self.compose(graph, Some(left), merged);
        }
        // diag(x) ∘ (diag(y) ∘ X): diag(x * y) ∘ X.
        if let (Some((x, size)), Linear::Compose(inner, right)) = (self.diagonal_parts(a), self.maps[b])
            && let Some((y, _)) = self.diagonal_parts(inner)
        {
            let product = product(graph, x, y);
            let merged = self.diag(graph, product, size);
            return self.compose(graph, merged, Some(right));
        }
        let structure = self.structures[a.index()].join(self.structures[b.index()]);
        Some(self.intern(Linear::Compose(a, b), structure))
    }

    /// `a + b`; `a` or `b` if the other is zero.
    pub fn sum(
        &mut self,
        graph: &mut Graph,
        a: Option<Handle<Linear>>,
        b: Option<Handle<Linear>>,
    ) -> Option<Handle<Linear>> {
        let (a, b) = match (a, b) {
            (None, other) | (other, None) => return other,
            (Some(a), Some(b)) => (a.min(b), a.max(b)),
        };
        if let (Some((x, size)), Some((y, _))) = (self.diagonal_parts(a), self.diagonal_parts(b)) {
            let total = graph.add_values(x, y);
            return self.diag(graph, total, size);
        }
        match (self.maps[a], self.maps[b]) {
            // X ∘ diag(x) + X ∘ diag(y) = X ∘ diag(x + y)
            (Linear::Compose(l1, r1), Linear::Compose(l2, r2)) if l1 == l2 => {
                if let (Some((x, size)), Some((y, _))) = (self.diagonal_parts(r1), self.diagonal_parts(r2)) {
                    let total = graph.add_values(x, y);
                    let merged = self.diag(graph, total, size);
                    return self.compose(graph, Some(l1), merged);
                }
            }
            // diag(x) ∘ X + diag(y) ∘ X = diag(x + y) ∘ X
            (Linear::Compose(l1, r1), Linear::Compose(l2, r2)) if r1 == r2 => {
                if let (Some((x, size)), Some((y, _))) = (self.diagonal_parts(l1), self.diagonal_parts(l2)) {
                    let total = graph.add_values(x, y);
                    let merged = self.diag(graph, total, size);
                    return self.compose(graph, merged, Some(r1));
                }
            }
            _ => {}
        }
        let structure = self.structures[a.index()].join(self.structures[b.index()]);
        Some(self.intern(Linear::Sum(a, b), structure))
    }
}

/// `x * y` for derivative expressions: the constant 0 absorbs (a derivative that
/// is zero stays zero even where the other factor is not finite).
pub(crate) fn product(graph: &mut Graph, x: Handle<Node>, y: Handle<Node>) -> Handle<Node> {
    if graph.is_constant(x, 0.0) {
        return x;
    }
    if graph.is_constant(y, 0.0) {
        return y;
    }
    graph.mul(x, y)
}

/// The name of a map in the text form: `m` and its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapName(pub Handle<Linear>);

impl fmt::Display for MapName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0.index())
    }
}

impl fmt::Display for MapStructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapStructure::Diagonal => write!(f, "diagonal"),
            MapStructure::BlockDiagonal(block) => write!(f, "block-diagonal {block}"),
            MapStructure::Dense => write!(f, "dense"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Shape;
    use crate::ir::{Node, Op};

    #[test]
    fn diagonals_merge_and_zero_vanishes() {
        let mut graph = Graph::new();
        let mut maps = LinearMaps::new();
        let size = Size::Fixed(3);
        let half = graph.constant(0.5);
        let v = graph.add(Node { op: Op::Splat(half), shape: Shape::Vector(size) });
        let two = graph.constant(2.0);
        let a = maps.diag(&graph, v, size);
        let b = maps.diag(&graph, two, size);
        let ab = maps.compose(&mut graph, a, b).expect("nonzero");
        let Linear::Diag { diag, .. } = *maps.get(ab) else { panic!("not merged: {:?}", maps.get(ab)) };
        assert_eq!(graph.node(diag).op, Op::Binary(crate::ir::BinaryOp::Mul, v, two));
        let zero = graph.constant(0.0);
        assert_eq!(maps.diag(&graph, zero, size), None);
        assert_eq!(maps.compose(&mut graph, a, None), None);
        assert_eq!(maps.sum(&mut graph, None, a), a);
        let id = maps.identity(&mut graph, size);
        assert_eq!(maps.compose(&mut graph, Some(id), a), a);
    }

    #[test]
    fn structure_is_the_join_of_the_operands() {
        let mut graph = Graph::new();
        let mut maps = LinearMaps::new();
        let size = Size::Fixed(12);
        let b2 = maps.matrix(Handle::from_index(0), ParamShape::Block { size, block: 2 }, false);
        let b3 = maps.matrix(Handle::from_index(1), ParamShape::Block { size, block: 3 }, false);
        let dense = maps.matrix(Handle::from_index(2), ParamShape::Matrix { rows: size, cols: size }, false);
        let one = graph.constant(1.5);
        let d = maps.diag(&graph, one, size);
        let both = maps.compose(&mut graph, Some(b2), Some(b3));
        assert_eq!(maps.structure(both), MapStructure::BlockDiagonal(6));
        let with_diag = maps.sum(&mut graph, d, Some(b2));
        assert_eq!(maps.structure(with_diag), MapStructure::BlockDiagonal(2));
        let dense_sum = maps.sum(&mut graph, with_diag, Some(dense));
        assert_eq!(maps.structure(dense_sum), MapStructure::Dense);
        assert_eq!(maps.structure(None), MapStructure::Diagonal);
        assert_eq!(lcm(4, 6), Some(12));
    }
}
