//! Binding dims to sizes: the checks that need numbers (every dim sized, sizes
//! positive, block sizes dividing their matrix, buffers a kernel can index).

use super::cell::{Cell, Dim, ParamShape, Size};
use crate::arena::Handle;
use crate::error::{Error, ErrorKind};

/// The size of every dim of one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimSizes {
    sizes: Vec<u64>,
}

impl DimSizes {
    /// The number a [`Size`] stands for.
    pub fn of(&self, size: Size) -> u64 {
        match size {
            Size::Dim(dim) => self.sizes[dim.index()],
            Size::Fixed(n) => n,
            // Saturating: a size beyond 64 bits fails the buffer limits.
            Size::Scaled(factor, dim) => factor.saturating_mul(self.sizes[dim.index()]),
            Size::Matrix(rows, cols) => self.of(rows.size()).saturating_mul(self.of(cols.size())),
        }
    }

    /// The size of `dim`.
    pub fn dim(&self, dim: Handle<Dim>) -> u64 {
        self.sizes[dim.index()]
    }
}

/// The least common multiple of `a` and `b`, or `None` if either is zero or it
/// does not fit in 64 bits.
pub fn lcm(a: u64, b: u64) -> Option<u64> {
    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    if a == 0 || b == 0 {
        return None;
    }
    (a / gcd(a, b)).checked_mul(b)
}

impl Cell {
    /// The least multiple that `dim`'s size must be: the lcm of the block sizes of
    /// the `block[dim, K]` parameters (1 if none).
    pub fn block_multiple(&self, dim: Handle<Dim>) -> u64 {
        self.params
            .values()
            .filter_map(|p| match p.shape {
                ParamShape::Block { size: Size::Dim(used), block } if used == dim => Some(block),
                _ => None,
            })
            .fold(1, |multiple, block| lcm(multiple, block).unwrap_or(multiple))
    }

    /// The largest `K` of the cell's `block[.., K]` parameters (1 if none).
    pub fn largest_block(&self) -> u64 {
        self.params
            .values()
            .filter_map(|p| match p.shape {
                ParamShape::Block { block, .. } => Some(block),
                _ => None,
            })
            .fold(1, u64::max)
    }

    /// Binds every dim with `size_of(name)`; reports unsized dims, zero sizes,
    /// block sizes that do not divide their matrix, and buffers too large for a
    /// kernel ([`crate::limits::check_buffer_sizes`]), at their declarations.
    pub fn bind_dims(&self, size_of: impl Fn(&str) -> Option<u64>) -> Result<DimSizes, Vec<Error>> {
        let mut errors = Vec::new();
        let mut sizes = Vec::with_capacity(self.dims.len());
        for dim in self.dims.values() {
            match size_of(&dim.name) {
                Some(0) => errors.push(Error::new(
                    ErrorKind::DimSizeZero { name: dim.name.clone(), size: 0 },
                    dim.span,
                    "declared here",
                )),
                Some(size) => {
                    sizes.push(size);
                    continue;
                }
                None => {
                    errors.push(Error::new(ErrorKind::DimUnbound { name: dim.name.clone() }, dim.span, "declared here"))
                }
            }
            sizes.push(1);
        }
        let bound = DimSizes { sizes };
        for param in self.params.values() {
            if let ParamShape::Block { size, block } = param.shape {
                let n = bound.of(size);
                if errors.is_empty() && !n.is_multiple_of(block) {
                    errors.push(Error::new(
                        ErrorKind::BlockSizeDoesNotDivide {
                            name: param.name.clone(),
                            block,
                            size: format!("{} = {n}", size.text(&self.dims)),
                        },
                        param.span,
                        format!("{n} is not a multiple of {block}"),
                    ));
                }
            }
        }
        if errors.is_empty()
            && let Err(error) = crate::limits::check_buffer_sizes(self, &bound)
        {
            errors.push(error);
        }
        if errors.is_empty() { Ok(bound) } else { Err(errors) }
    }
}
