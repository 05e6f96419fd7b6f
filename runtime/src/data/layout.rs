//! How each thing a cell declares is laid out as a tensor: a parameter as its declared
//! shape (`block[H, K]` as `[H/K, K, K]`), an input as `[B, T, D]`, an initial state as
//! `[B, H]`, an output as `[B, T, H]`; a matrix-shaped value (`[D, N]`) has its two
//! axes where a vector has one (`[B, T, D, N]`, `[B, D, N]`). [`Axis`] names one axis symbolically; with the
//! sizes bound it becomes a number.

use rnnc_compiler::check::{Cell, DimSizes, Param, ParamShape, Size};

use super::error::DataError;

/// One axis of a tensor, in the cell's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// The batch size `B`.
    Batch,
    /// The sequence length `T`.
    SeqLen,
    /// A declared size: a dim or a literal.
    Size(Size),
    /// The number of blocks of a block-diagonal matrix of side `size`: `size / block`.
    Blocks {
        /// The side of the matrix.
        size: Size,
        /// The side of a block.
        block: u64,
    },
    /// The side of one block.
    Block(u64),
}

impl Axis {
    /// The axis as written in messages: `B`, `T`, `H`, `4`, `H/4`.
    pub fn symbol(self, cell: &Cell) -> String {
        match self {
            Axis::Batch => "B".to_owned(),
            Axis::SeqLen => "T".to_owned(),
            Axis::Size(size) => size.text(&cell.dims),
            Axis::Blocks { size: Size::Fixed(n), block } => format!("{n}/{block}"),
            Axis::Blocks { size, block } => format!("{}/{block}", size.text(&cell.dims)),
            Axis::Block(block) => block.to_string(),
        }
    }

    /// Its size, given the dims, `B` and `T`; `None` if a block size does not divide its
    /// matrix or the size does not fit in `usize`.
    pub fn size(self, dims: &DimSizes, batch: usize, seq_len: usize) -> Option<usize> {
        match self {
            Axis::Batch => Some(batch),
            Axis::SeqLen => Some(seq_len),
            Axis::Size(size) => usize::try_from(dims.of(size)).ok(),
            Axis::Blocks { size, block } => {
                let n = dims.of(size);
                if block == 0 || !n.is_multiple_of(block) { None } else { usize::try_from(n / block).ok() }
            }
            Axis::Block(block) => usize::try_from(block).ok(),
        }
    }
}

/// The axes parameter `param` is stored with in files and given to users: no
/// axis (one number) for a `scalar` parameter, else [`param_axes`] of its shape.
pub fn stored_axes(param: &Param) -> Vec<Axis> {
    if param.scalar { Vec::new() } else { param_axes(param.shape) }
}

/// The axes of a parameter of `shape` as the kernels read it: `[H]`, `[H, D]`, or
/// `[H/K, K, K]` for `block[H, K]` (a `scalar` parameter: its number repeated to
/// the size it is broadcast to, see [`rnnc_compiler::check::Param::shape`]).
pub fn param_axes(shape: ParamShape) -> Vec<Axis> {
    match shape {
        ParamShape::Vector(size) => size_axes(size),
        ParamShape::Matrix { rows, cols } => vec![Axis::Size(rows), Axis::Size(cols)],
        ParamShape::Block { size, block } => vec![Axis::Blocks { size, block }, Axis::Block(block), Axis::Block(block)],
    }
}

/// The axes of a value of length `size`: one, or a matrix's two (`[D, N]`, its
/// elements row-major as the kernels read them).
pub fn size_axes(size: Size) -> Vec<Axis> {
    match size.matrix() {
        Some((rows, cols)) => vec![Axis::Size(rows.size()), Axis::Size(cols.size())],
        None => vec![Axis::Size(size)],
    }
}

/// The axes of a per-step input of length `size`: `[B, T, D]` (`[B, T, D, N]`).
pub fn input_axes(size: Size) -> Vec<Axis> {
    [Axis::Batch, Axis::SeqLen].into_iter().chain(size_axes(size)).collect()
}

/// The axes of an initial state of length `size`: `[B, H]` (`[B, D, N]`).
pub fn init_axes(size: Size) -> Vec<Axis> {
    [Axis::Batch].into_iter().chain(size_axes(size)).collect()
}

/// The axes of an output of length `size`: `[B, T, H]` (`[B, T, D, N]`).
pub fn output_axes(size: Size) -> Vec<Axis> {
    [Axis::Batch, Axis::SeqLen].into_iter().chain(size_axes(size)).collect()
}

/// Axes as written in messages: `[B, T, D]`.
pub fn axes_text(axes: &[Axis], cell: &Cell) -> String {
    let symbols: Vec<String> = axes.iter().map(|axis| axis.symbol(cell)).collect();
    format!("[{}]", symbols.join(", "))
}

/// The concrete shape of `axes`; an error if some size does not fit in `usize` or a
/// block size does not divide its matrix (which `Cell::bind_dims` refuses for dims).
pub fn shape_of(
    axes: &[Axis],
    cell: &Cell,
    dims: &DimSizes,
    batch: usize,
    seq_len: usize,
) -> Result<Vec<usize>, DataError> {
    let mut shape = Vec::with_capacity(axes.len());
    for &axis in axes {
        if let Axis::Blocks { size, block } = axis {
            let n = dims.of(size);
            if block == 0 || !n.is_multiple_of(block) {
                return Err(DataError::Layout {
                    shape: axes_text(axes, cell),
                    reason: match size {
                        Size::Fixed(_) => format!("{n} is not a multiple of the block size {block}"),
                        _ => format!("{} = {n} is not a multiple of the block size {block}", size.text(&cell.dims)),
                    },
                });
            }
        }
        let size = axis.size(dims, batch, seq_len).ok_or_else(|| DataError::Layout {
            shape: axes_text(axes, cell),
            reason: format!("{} does not fit in memory addresses", axis.symbol(cell)),
        })?;
        shape.push(size);
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_of_a_block_cell() {
        let source = "cell c { dim H; dim D; input x: [D]; state h: [H]; param U: block[H, 4]; param W: [H, D]; \
                      param v: [3]; h' = tanh(U @ h + W @ x); output h; }";
        let cells = rnnc_compiler::check_source(source).expect("a valid cell");
        let cell = &cells[0];
        let dims = cell
            .bind_dims(|name| [("H", 8), ("D", 5)].iter().find(|(n, _)| *n == name).map(|(_, s)| *s))
            .expect("bound");
        let params: Vec<_> = cell.params.values().map(|p| param_axes(p.shape)).collect();
        assert_eq!(axes_text(&params[0], cell), "[H/4, 4, 4]");
        assert_eq!(axes_text(&params[1], cell), "[H, D]");
        assert_eq!(axes_text(&params[2], cell), "[3]");
        assert_eq!(shape_of(&params[0], cell, &dims, 2, 7).expect("fits"), vec![2, 4, 4]);
        let x = cell.inputs.values().next().expect("one input").size;
        assert_eq!(shape_of(&input_axes(x), cell, &dims, 2, 7).expect("fits"), vec![2, 7, 5]);
        let h = cell.states.values().next().expect("one state").size;
        assert_eq!(axes_text(&init_axes(h), cell), "[B, H]");
        assert_eq!(shape_of(&output_axes(h), cell, &dims, 2, 7).expect("fits"), vec![2, 7, 8]);
        let odd = [Axis::Blocks { size: Size::Fixed(6), block: 4 }];
        assert_eq!(axes_text(&odd, cell), "[6/4]");
        assert_eq!(
            shape_of(&odd, cell, &dims, 1, 1).expect_err("4 does not divide 6").to_string(),
            "cannot lay out a tensor of shape [6/4]: 6 is not a multiple of the block size 4"
        );
    }
}
