//! Slices and concatenation: `v[START : END]`, `W[START : END] @ x` (rows of a
//! matrix parameter, as PyTorch packs a GRU's three gates in one `[3H, D]`
//! weight) and `concat(a, b)`. Every size involved is a size of the language
//! (an integer, a dim, or `K * DIM`), so a slice's bounds and the sliced size
//! must be multiples of one dim (or integers), and a bound of 0 goes with any
//! dim: the checker then proves `START < END <= SIZE` by comparing factors, and
//! the length `END - START` is a size again. Each mistake is an error at the
//! bound that makes it.

use super::cell::{ExprKind, ParamShape, Shape, Size};
use super::checker::{Checker, Typed};
use crate::arena::Handle;
use crate::error::{Error, ErrorKind};
use crate::span::Span;
use crate::syntax::ast;

impl Checker<'_> {
    /// `operand[start : end]`.
    pub(super) fn slice(
        &mut self,
        operand: Handle<ast::Expr>,
        start: &ast::Size,
        end: &ast::Size,
        span: Span,
    ) -> Typed {
        let (Some(first), Some(last)) = (self.bound(start), self.bound(end)) else { return Typed::Poison };
        let operand_span = self.ast.exprs[operand].span;
        match self.typed[operand.index()] {
            Typed::Value(value) => {
                let Shape::Vector(size) = self.exprs[value].shape else {
                    self.error(Error::new(
                        ErrorKind::BadSlice { reason: "a scalar has no elements to slice".to_owned() },
                        operand_span,
                        "this is a scalar",
                    ));
                    return Typed::Poison;
                };
                if size.matrix().is_some() {
                    self.error(Error::new(
                        ErrorKind::BadSlice { reason: "a matrix value cannot be sliced".to_owned() },
                        operand_span,
                        format!("this is [{}]", self.size_text(size)),
                    ));
                    return Typed::Poison;
                }
                let Some(length) = self.slice_length(size, (first, start), (last, end)) else { return Typed::Poison };
                let expr = self.exprs.append(crate::check::Expr {
                    kind: ExprKind::Slice(value, first),
                    shape: Shape::Vector(length),
                    span,
                });
                self.note_scalar_params(expr);
                Typed::Value(expr)
            }
            Typed::Matrix(param) => {
                let rows = match self.params[param].shape {
                    ParamShape::Matrix { rows, .. } => rows,
                    _ => {
                        self.error(Error::new(
                            ErrorKind::BadSlice { reason: "only a dense matrix's rows can be sliced".to_owned() },
                            operand_span,
                            "a block-diagonal matrix",
                        ));
                        return Typed::Poison;
                    }
                };
                match self.slice_length(rows, (first, start), (last, end)) {
                    Some(length) => Typed::MatrixRows { param, start: first, rows: length },
                    None => Typed::Poison,
                }
            }
            Typed::MatrixRows { .. } => {
                self.error(Error::new(
                    ErrorKind::BadSlice { reason: "a slice of a slice".to_owned() },
                    operand_span,
                    "already a slice",
                ));
                Typed::Poison
            }
            Typed::Poison => Typed::Poison,
        }
    }

    /// A slice bound: a size, or 0.
    fn bound(&mut self, size: &ast::Size) -> Option<Size> {
        match size {
            ast::Size::Literal(integer) if integer.value == 0 => Some(Size::Fixed(0)),
            _ => self.size(size),
        }
    }

    /// `end - start` for a slice of a vector of `size`, or an error at the
    /// bound that is wrong.
    fn slice_length(&mut self, size: Size, start: (Size, &ast::Size), end: (Size, &ast::Size)) -> Option<Size> {
        let (start_factor, start_dim) = start.0.parts();
        let (end_factor, end_dim) = end.0.parts();
        let (size_factor, size_dim) = size.parts();
        let size_text = format!("[{}]", self.size_text(size));
        let fail = |checker: &mut Self, at: &ast::Size, reason: String| {
            checker.error(Error::new(ErrorKind::BadSlice { reason }, at.span(), "this bound").with_hint(
                "slice bounds are integers, dims or `K * DIM`, in units of the sliced size's dim: `W[H : 2 * H]` of `[3 * H, D]`",
            ));
            None
        };
        if start_factor != 0 && start_dim != end_dim {
            let reason = format!("`{}` and `{}` are not multiples of one dim", start.1.text(), end.1.text());
            return fail(self, start.1, reason);
        }
        if end_dim != size_dim {
            let reason = format!("`{}` cannot be compared with the sliced size {size_text}", end.1.text());
            return fail(self, end.1, reason);
        }
        if end_factor <= start_factor {
            let reason = format!("the slice `{} : {}` is empty or reversed", start.1.text(), end.1.text());
            return fail(self, end.1, reason);
        }
        if end_factor > size_factor {
            self.error(Error::new(
                ErrorKind::SliceOutOfRange { end: end.1.text(), size: size_text.clone() },
                end.1.span(),
                format!("the sliced value is {size_text}"),
            ));
            return None;
        }
        Size::from_parts(end_factor - start_factor, end_dim)
    }

    /// `concat(a, b)`.
    pub(super) fn concat(&mut self, a: Handle<crate::check::Expr>, b: Handle<crate::check::Expr>, span: Span) -> Typed {
        let (sa, sb) = (self.exprs[a].shape, self.exprs[b].shape);
        let total = match (sa, sb) {
            (Shape::Vector(x), Shape::Vector(y)) if x.matrix().is_none() && y.matrix().is_none() => {
                let ((fx, dx), (fy, dy)) = (x.parts(), y.parts());
                if dx == dy { Size::from_parts(fx + fy, dx) } else { None }
            }
            _ => None,
        };
        let Some(total) = total else {
            let (left, right) = (self.shape_text(sa), self.shape_text(sb));
            self.error(
                Error::new(
                    ErrorKind::ConcatSizes { left: left.clone(), right: right.clone() },
                    self.exprs[a].span,
                    format!("this is {left}"),
                )
                .with_related(self.exprs[b].span, format!("this is {right}"))
                .with_hint("concatenate vectors whose sizes are multiples of one dim (or integers)"),
            );
            return Typed::Poison;
        };
        let expr =
            self.exprs.append(crate::check::Expr { kind: ExprKind::Concat(a, b), shape: Shape::Vector(total), span });
        self.note_scalar_params(expr);
        Typed::Value(expr)
    }
}
