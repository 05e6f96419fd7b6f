//! `scalar` parameters: each is one number that broadcasts where it meets a
//! vector. The checker types its uses as scalars, notes at every broadcast the
//! size it meets (one size per parameter in a cell), and at the end gives the
//! parameter that size and retypes the scalar expressions that read it as
//! vectors of it, so that later passes see an ordinary vector parameter and
//! the invariant "a scalar is a constant" holds again.

use super::cell::{ExprKind, ParamShape, Shape, Size};
use super::checker::Checker;
use crate::arena::Handle;
use crate::check::{Expr, Param};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

impl Checker<'_> {
    /// Records which `scalar` parameters expression `expr` (just appended)
    /// reads while it is a scalar, and the broadcasts it makes.
    pub(super) fn note_scalar_params(&mut self, expr: Handle<Expr>) {
        let (kind, shape) = (self.exprs[expr].kind.clone(), self.exprs[expr].shape);
        let reads = |checker: &Self, operand: Handle<Expr>| -> Vec<Handle<Param>> {
            checker.scalar_params.get(operand.index()).cloned().unwrap_or_default()
        };
        let params = match (kind, shape) {
            (ExprKind::Param(param), Shape::Scalar) if self.params[param].scalar => vec![param],
            (ExprKind::Unary(_, a), Shape::Scalar) => reads(self, a),
            (ExprKind::Let(let_), Shape::Scalar) => reads(self, self.lets[let_].value),
            (ExprKind::Binary(_, a, b), Shape::Scalar) => {
                let mut params = reads(self, a);
                for param in reads(self, b) {
                    if !params.contains(&param) {
                        params.push(param);
                    }
                }
                params
            }
            (ExprKind::Binary(_, a, b), Shape::Vector(size)) => {
                for operand in [a, b] {
                    if self.exprs[operand].shape == Shape::Scalar {
                        self.broadcast_to(operand, size);
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        self.scalar_params.push(params);
    }

    /// Scalar expression `expr` is broadcast to vectors of `size`: so is every
    /// `scalar` parameter it reads.
    pub(super) fn broadcast_to(&mut self, expr: Handle<Expr>, size: Size) {
        let span = self.exprs[expr].span;
        for param in self.scalar_params.get(expr.index()).cloned().unwrap_or_default() {
            if self.broadcast.len() <= param.index() {
                self.broadcast.resize(param.index() + 1, None);
            }
            match self.broadcast[param.index()] {
                None => self.broadcast[param.index()] = Some((size, span)),
                Some((first, _)) if first == size => {}
                Some((first, first_span)) => self.conflict(param, first, first_span, size, span),
            }
        }
    }

    fn conflict(&mut self, param: Handle<Param>, first: Size, first_span: Span, second: Size, span: Span) {
        let (first, second) = (format!("[{}]", self.size_text(first)), format!("[{}]", self.size_text(second)));
        let name = self.params[param].name.clone();
        self.error(
            Error::new(
                ErrorKind::ScalarParamSizes { name, first: first.clone(), second: second.clone() },
                span,
                format!("broadcast to {second} here"),
            )
            .with_related(first_span, format!("broadcast to {first} here"))
            .with_hint("a scalar parameter is broadcast to one size in a cell; declare one per size"),
        );
    }

    /// Gives every `scalar` parameter its size (1 where it never meets a
    /// vector) and retypes the scalar expressions that read one.
    pub(super) fn broadcast_scalar_params(&mut self) {
        for param in self.params.handles() {
            if self.params[param].scalar {
                let size = self.broadcast.get(param.index()).copied().flatten().map_or(Size::Fixed(1), |(s, _)| s);
                self.params[param].shape = ParamShape::Vector(size);
            }
        }
        for handle in self.exprs.handles() {
            if self.exprs[handle].shape != Shape::Scalar {
                continue;
            }
            let vector = |checker: &Self, e: Handle<Expr>| match checker.exprs[e].shape {
                Shape::Vector(size) => Some(size),
                Shape::Scalar => None,
            };
            let retyped = match self.exprs[handle].kind {
                ExprKind::Param(param) if self.params[param].scalar => match self.params[param].shape {
                    ParamShape::Vector(size) => Some(size),
                    _ => None,
                },
                ExprKind::Unary(_, a) => vector(self, a),
                ExprKind::Let(let_) => vector(self, self.lets[let_].value),
                ExprKind::Binary(_, a, b) => match (vector(self, a), vector(self, b)) {
                    (Some(x), Some(y)) if x != y => {
                        let params = self.scalar_params[handle.index()].clone();
                        let (span_a, span_b) = (self.exprs[a].span, self.exprs[b].span);
                        if let Some(&param) = params.first() {
                            self.conflict(param, x, span_a, y, span_b);
                        }
                        Some(x)
                    }
                    (Some(x), _) | (None, Some(x)) => Some(x),
                    (None, None) => None,
                },
                _ => None,
            };
            if let Some(size) = retyped {
                self.exprs[handle].shape = Shape::Vector(size);
            }
        }
    }
}
