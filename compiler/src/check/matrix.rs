//! Matrix-shaped values: `state h: [D, N]`, `input u: [D, N]`, a `[D, N]`
//! parameter used elementwise, and what combines them. A matrix value is the
//! vector of its elements, row-major, whose size is a [`Size::Matrix`], so
//! elementwise operations, scalars, reductions and every later pass treat it
//! as a vector. Three things are matrix-specific, each written with the two
//! expressions [`ExprKind::Spread`] and [`ExprKind::Fold`]:
//! - a vector meeting a matrix in an elementwise operation (`dt * A`, `A` of
//!   `[D, N]`): a `[D]` vector repeats along each row, an `[N]` one down each
//!   column (a vector matching both sides of a square matrix is an error);
//! - `outer(u, v)`: `u` spread along the rows times `v` spread down the columns;
//! - `M @ v` for a matrix value `M`: the row sums of `M` times `v` spread down
//!   the columns.
//!
//! Each side of a matrix is a dim or an integer (not `K * DIM`), so the
//! runtime binds a matrix's data by its two axes.

use super::cell::{Along, BinaryOp, ExprKind, Shape, Side, Size};
use super::checker::{Checker, Typed};
use crate::arena::Handle;
use crate::check::Expr;
use crate::error::{Error, ErrorKind};
use crate::span::Span;
use crate::syntax::ast;

impl Checker<'_> {
    /// The size of a declared `[ROWS, COLS]` matrix value, or an error at the
    /// side that is not a dim or an integer.
    pub(super) fn matrix_size(&mut self, shape: &ast::Shape, what: &'static str) -> Option<Size> {
        let [rows, cols] = shape.sizes.as_slice() else { return None };
        let (row_size, col_size) = (self.size(rows), self.size(cols));
        let side = |checker: &mut Self, size: Option<Size>, written: &ast::Size| match size.map(Side::of)? {
            Some(side) => Some(side),
            None => {
                checker.error(Error::new(
                    ErrorKind::BadDeclaredShape {
                        what,
                        expected: "`[SIZE]` or `[ROWS, COLS]` with sides that are dims or integers",
                        found: format!("[{}, {}]", rows.text(), cols.text()),
                    },
                    written.span(),
                    "the side of a matrix value is a dim or an integer",
                ));
                None
            }
        };
        let rows_side = side(self, row_size, rows);
        let cols_side = side(self, col_size, cols);
        Some(Size::Matrix(rows_side?, cols_side?))
    }

    fn spread(&mut self, vector: Handle<Expr>, along: Along, matrix: Size, span: Span) -> Handle<Expr> {
        match self.push_value(ExprKind::Spread(vector, along), Shape::Vector(matrix), span) {
            Typed::Value(value) => value,
            _ => unreachable!("push makes a value"),
        }
    }

    fn push_value(&mut self, kind: ExprKind, shape: Shape, span: Span) -> Typed {
        let expr = self.exprs.append(Expr { kind, shape, span });
        self.note_scalar_params(expr);
        Typed::Value(expr)
    }

    /// The operands of an elementwise operation `op` with a vector meeting a
    /// matrix spread along the side it matches; unchanged otherwise (equal
    /// shapes, a scalar, or a mismatch for [`Checker::broadcast`] to report).
    /// `None` after an error (a vector matching both sides).
    pub(super) fn align(&mut self, op: &str, a: Handle<Expr>, b: Handle<Expr>) -> Option<(Handle<Expr>, Handle<Expr>)> {
        let (sa, sb) = (self.exprs[a].shape, self.exprs[b].shape);
        let (Shape::Vector(x), Shape::Vector(y)) = (sa, sb) else { return Some((a, b)) };
        let (vector, matrix, vector_first) = match (x.matrix(), y.matrix()) {
            (None, Some(_)) => (a, y, true),
            (Some(_), None) => (b, x, false),
            _ => return Some((a, b)),
        };
        let Some((rows, cols)) = matrix.matrix() else { return Some((a, b)) };
        let Shape::Vector(size) = self.exprs[vector].shape else { return Some((a, b)) };
        let along = match (size == rows.size(), size == cols.size()) {
            (true, true) => {
                let (vector_text, matrix_text) =
                    (self.shape_text(Shape::Vector(size)), self.shape_text(Shape::Vector(matrix)));
                let other = if vector_first { b } else { a };
                self.error(
                    Error::new(
                        ErrorKind::AmbiguousBroadcast {
                            op: op.to_owned(),
                            vector: vector_text.clone(),
                            matrix: matrix_text.clone(),
                        },
                        self.exprs[vector].span,
                        format!("this is {vector_text}"),
                    )
                    .with_related(self.exprs[other].span, format!("this is {matrix_text}"))
                    .with_hint("write `outer(v, w)` with the vector on the side it belongs to"),
                );
                return None;
            }
            (true, false) => Along::Rows,
            (false, true) => Along::Cols,
            (false, false) => return Some((a, b)),
        };
        let span = self.exprs[vector].span;
        let spread = self.spread(vector, along, matrix, span);
        Some(if vector_first { (spread, b) } else { (a, spread) })
    }

    /// `outer(u, v)`: `[R] x [C] -> [R, C]`.
    pub(super) fn outer(&mut self, u: Handle<Expr>, v: Handle<Expr>, span: Span) -> Typed {
        let mut sides = [None, None];
        for (slot, operand) in sides.iter_mut().zip([u, v]) {
            let shape = self.exprs[operand].shape;
            match shape {
                Shape::Vector(size) if Side::of(size).is_some() => *slot = Side::of(size),
                _ => {
                    let found = self.shape_text(shape);
                    self.error(
                        Error::new(
                            ErrorKind::OuterOperand { found: found.clone() },
                            self.exprs[operand].span,
                            format!("this is {found}"),
                        )
                        .with_hint("`outer(u, v)` of a `[R]` and a `[C]` vector is the `[R, C]` matrix `u[r] * v[c]`"),
                    );
                    return Typed::Poison;
                }
            }
        }
        let [Some(rows), Some(cols)] = sides else { return Typed::Poison };
        let matrix = Size::Matrix(rows, cols);
        let left = self.spread(u, Along::Rows, matrix, self.exprs[u].span);
        let right = self.spread(v, Along::Cols, matrix, self.exprs[v].span);
        self.push_value(ExprKind::Binary(BinaryOp::Mul, left, right), Shape::Vector(matrix), span)
    }

    /// `m @ v` for a matrix value `m` of `[R, C]` and `v` of `[C]`: `[R]`.
    pub(super) fn matrix_value_times(
        &mut self,
        m: Handle<Expr>,
        lhs_span: Span,
        rhs: Handle<ast::Expr>,
        span: Span,
    ) -> Typed {
        let Shape::Vector(matrix) = self.exprs[m].shape else { return Typed::Poison };
        let Some((rows, cols)) = matrix.matrix() else { return Typed::Poison };
        let Some(vector) = self.value_of(rhs) else { return Typed::Poison };
        let found = self.exprs[vector].shape;
        if found != Shape::Vector(cols.size()) {
            let (matrix_text, vector_text) = (self.shape_text(Shape::Vector(matrix)), self.shape_text(found));
            self.error(
                Error::new(
                    ErrorKind::MatVecMismatch { matrix: matrix_text.clone(), vector: vector_text.clone() },
                    self.exprs[vector].span,
                    format!("this is {vector_text}, expected [{}]", self.size_text(cols.size())),
                )
                .with_related(lhs_span, format!("this is {matrix_text}")),
            );
            return Typed::Poison;
        }
        let spread = self.spread(vector, Along::Cols, matrix, self.exprs[vector].span);
        let product = match self.push_value(ExprKind::Binary(BinaryOp::Mul, m, spread), Shape::Vector(matrix), span) {
            Typed::Value(value) => value,
            _ => return Typed::Poison,
        };
        self.push_value(ExprKind::Fold(product, Along::Rows), Shape::Vector(rows.size()), span)
    }
}
