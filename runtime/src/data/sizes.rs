//! Inferring sizes from data: [`SizeBinder`] reads the shape of each tensor in turn and
//! fixes every dim, `B` and `T` from the first tensor that mentions it; a later tensor
//! that disagrees is refused with its expected shape written with the sizes known so
//! far, its declared shape, and where the conflicting size came from.

use rnnc_compiler::check::{Cell, Size};

use super::error::{DataError, ShapeMismatch, TensorRef};
use super::layout::{Axis, axes_text};
use super::tensor::shape_text;

/// A size and the tensor it was taken from.
#[derive(Clone, Debug)]
struct Known {
    size: u64,
    from: TensorRef,
}

/// The sizes learnt so far from the tensors given for one cell.
pub(super) struct SizeBinder<'c> {
    cell: &'c Cell,
    dims: Vec<Option<Known>>,
    batch: Option<Known>,
    seq_len: Option<Known>,
}

impl<'c> SizeBinder<'c> {
    /// A binder that knows no size yet.
    pub(super) fn new(cell: &'c Cell) -> Self {
        SizeBinder { cell, dims: vec![None; cell.dims.len()], batch: None, seq_len: None }
    }

    /// The size of dim `name`, if some tensor gave it.
    pub(super) fn dim_size(&self, name: &str) -> Option<u64> {
        let dim = self.cell.find_dim(name)?;
        self.dims.get(dim.index())?.as_ref().map(|known| known.size)
    }

    /// The batch size, if some tensor gave it.
    pub(super) fn batch(&self) -> Option<u64> {
        self.batch.as_ref().map(|known| known.size)
    }

    /// The sequence length, if some tensor gave it.
    pub(super) fn seq_len(&self) -> Option<u64> {
        self.seq_len.as_ref().map(|known| known.size)
    }

    /// Checks `actual`, the shape of `tensor`, against `axes`, learning the sizes not
    /// known yet.
    pub(super) fn check(&mut self, tensor: &TensorRef, actual: &[usize], axes: &[Axis]) -> Result<(), DataError> {
        let block_note = block_note(axes, self.cell);
        if actual.len() != axes.len() {
            let axes_word = |n: usize| if n == 1 { "1 axis".to_owned() } else { format!("{n} axes") };
            let mut because = format!("{} instead of {}", axes_word(actual.len()), axes.len());
            if let Some(note) = block_note {
                because = format!("{because}; {note}");
            }
            return Err(self.mismatch(tensor, actual, axes, because));
        }
        self.check_block_divides(tensor, axes)?;
        for (&found, &axis) in actual.iter().zip(axes) {
            let found = found as u64;
            match self.expected(axis) {
                Some((size, _)) if size == found => {}
                Some((_, because)) => {
                    let because = if because.is_empty() { block_note.clone().unwrap_or_default() } else { because };
                    return Err(self.mismatch(tensor, actual, axes, because));
                }
                None => {
                    if let Axis::Size(Size::Scaled(factor, dim)) = axis
                        && !found.is_multiple_of(factor)
                    {
                        let name = &self.cell.dims[dim].name;
                        let because =
                            format!("{found} is not a multiple of {factor}, so no {name} gives {factor} * {name}");
                        return Err(self.mismatch(tensor, actual, axes, because));
                    }
                    self.learn(tensor, actual, axis, found)?
                }
            }
        }
        Ok(())
    }

    /// The size of `axis` if known, with why it is that size (empty for a block side);
    /// `None` if no tensor has fixed it yet.
    fn expected(&self, axis: Axis) -> Option<(u64, String)> {
        let dims = &self.cell.dims;
        match axis {
            Axis::Batch => self.batch.as_ref().map(|known| (known.size, origin("B", known))),
            Axis::SeqLen => self.seq_len.as_ref().map(|known| (known.size, origin("T", known))),
            Axis::Size(Size::Fixed(n)) => Some((n, format!("the cell fixes this size to {n}"))),
            Axis::Size(Size::Dim(dim)) => {
                self.dims[dim.index()].as_ref().map(|known| (known.size, origin(&dims[dim].name, known)))
            }
            Axis::Size(Size::Scaled(factor, dim)) => self.dims[dim.index()].as_ref().map(|known| {
                let size = factor.saturating_mul(known.size);
                (size, format!("{}, so {factor} * {} = {size}", origin(&dims[dim].name, known), dims[dim].name))
            }),
            // `size_axes` gives a matrix its two sides.
            Axis::Size(size @ Size::Matrix(..)) => {
                let (rows, cols) = size.matrix()?;
                let rows = self.expected(Axis::Size(rows.size()))?.0;
                let cols = self.expected(Axis::Size(cols.size()))?.0;
                Some((rows.saturating_mul(cols), String::new()))
            }
            // The checker refuses `block[K * DIM, ..]`.
            Axis::Blocks { size: Size::Scaled(..) | Size::Matrix(..), .. } => None,
            Axis::Block(block) => Some((block, String::new())),
            // The checker makes fixed sides multiples of their (positive) block size.
            Axis::Blocks { size: Size::Fixed(n), block } => {
                let blocks = n / block.max(1);
                Some((blocks, format!("block[{n}, {block}] has {blocks} blocks")))
            }
            Axis::Blocks { size: Size::Dim(dim), block } => self.dims[dim.index()].as_ref().map(|known| {
                let blocks = known.size / block.max(1);
                let name = &dims[dim].name;
                (blocks, format!("{}, so {name}/{block} = {blocks}", origin(name, known)))
            }),
        }
    }

    /// Fixes the size that `axis` stands for from `found`, its size in `tensor`.
    fn learn(&mut self, tensor: &TensorRef, actual: &[usize], axis: Axis, found: u64) -> Result<(), DataError> {
        let zero = |symbol: String| DataError::ZeroSize { tensor: tensor.clone(), actual: shape_text(actual), symbol };
        let known = |size: u64| Some(Known { size, from: tensor.clone() });
        match axis {
            Axis::Batch if found == 0 => return Err(zero("B".to_owned())),
            Axis::Batch => self.batch = known(found),
            Axis::SeqLen if found == 0 => return Err(zero("T".to_owned())),
            Axis::SeqLen => self.seq_len = known(found),
            Axis::Size(Size::Dim(dim) | Size::Scaled(_, dim)) | Axis::Blocks { size: Size::Dim(dim), .. } => {
                let side = match axis {
                    Axis::Blocks { block, .. } => found.checked_mul(block),
                    // `check` made sure the factor divides what was found.
                    Axis::Size(Size::Scaled(factor, _)) => Some(found / factor.max(1)),
                    _ => Some(found),
                };
                match side {
                    Some(0) => return Err(zero(self.cell.dims[dim].name.clone())),
                    Some(side) => self.dims[dim.index()] = known(side),
                    None => return Err(DataError::SizeOverflow { shape: shape_text(actual) }),
                }
            }
            // Fixed sizes and block sides are always known.
            Axis::Size(Size::Fixed(_) | Size::Matrix(..))
            | Axis::Blocks { size: Size::Fixed(_) | Size::Scaled(..) | Size::Matrix(..), .. }
            | Axis::Block(_) => {}
        }
        Ok(())
    }

    /// Refuses a block-diagonal parameter `tensor` whose matrix side is known and not a
    /// multiple of its block size.
    fn check_block_divides(&self, tensor: &TensorRef, axes: &[Axis]) -> Result<(), DataError> {
        for &axis in axes {
            if let Axis::Blocks { size: Size::Dim(dim), block } = axis
                && let Some(known) = &self.dims[dim.index()]
                && (block == 0 || !known.size.is_multiple_of(block))
            {
                return Err(DataError::BlockDoesNotDivide {
                    tensor: tensor.clone(),
                    dim: self.cell.dims[dim].name.clone(),
                    block,
                    size: known.size,
                    from: known.from.clone(),
                });
            }
        }
        Ok(())
    }

    /// A shape mismatch for `tensor`, with the sizes known so far.
    fn mismatch(&self, tensor: &TensorRef, actual: &[usize], axes: &[Axis], because: String) -> DataError {
        let expected: Vec<String> = axes
            .iter()
            .map(|&axis| match self.expected(axis) {
                Some((size, _)) => size.to_string(),
                None => axis.symbol(self.cell),
            })
            .collect();
        DataError::ShapeMismatch(Box::new(ShapeMismatch {
            tensor: tensor.clone(),
            actual: shape_text(actual),
            expected: format!("[{}]", expected.join(", ")),
            declared: axes_text(axes, self.cell),
            because,
        }))
    }
}

/// `block[H, 4] is stored as [H/4, 4, 4]`, if `axes` are a block parameter's.
fn block_note(axes: &[Axis], cell: &Cell) -> Option<String> {
    axes.iter().find_map(|&axis| match axis {
        Axis::Blocks { size, block } => {
            let side = size.text(&cell.dims);
            Some(format!("block[{side}, {block}] is stored as [{side}/{block}, {block}, {block}]"))
        }
        _ => None,
    })
}

/// ``H = 1024 from parameter `Bz` ``.
fn origin(symbol: &str, known: &Known) -> String {
    format!("{symbol} = {} from {}", known.size, known.from)
}
