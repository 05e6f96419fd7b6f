//! Scalars that are not constants: `scalar` parameters and reductions
//! (`sum(v)`, `mean(v)`, `max(v)`, `dot(a, b)`). Each is one number that
//! broadcasts where it meets a vector. The checker types such a value as a
//! scalar, notes at every broadcast the size it meets (one size per parameter,
//! and per reduction, in a cell), and at the end gives it that size: a `scalar`
//! parameter becomes the vector parameter `[size]`, a reduction a vector of
//! `size` equal elements, and the scalar expressions that read one are retyped
//! as vectors of it. So later passes see vectors, and the invariant "a scalar
//! is a constant" holds again.

use super::cell::{ExprKind, ParamShape, Shape, Size};
use super::checker::Checker;
use crate::arena::Handle;
use crate::check::{Expr, Param};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// A scalar that is not a constant: what a broadcast gives a size to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// A `scalar` parameter.
    Param(Handle<Param>),
    /// A reduction expression.
    Reduction(Handle<Expr>),
}

impl Checker<'_> {
    /// Records which non-constant scalars expression `expr` (just appended)
    /// reads while it is a scalar, and the broadcasts it makes.
    pub(super) fn note_scalar_params(&mut self, expr: Handle<Expr>) {
        let (kind, shape) = (self.exprs[expr].kind.clone(), self.exprs[expr].shape);
        let reads = |checker: &Self, operand: Handle<Expr>| -> Vec<Source> {
            checker.scalar_sources.get(operand.index()).cloned().unwrap_or_default()
        };
        let sources = match (kind, shape) {
            (ExprKind::Param(param), Shape::Scalar) if self.params[param].scalar => vec![Source::Param(param)],
            (ExprKind::Reduce(..), Shape::Scalar) => vec![Source::Reduction(expr)],
            (ExprKind::Unary(_, a), Shape::Scalar) => reads(self, a),
            (ExprKind::Let(let_), Shape::Scalar) => reads(self, self.lets[let_].value),
            (ExprKind::Binary(_, a, b), Shape::Scalar) => {
                let mut sources = reads(self, a);
                for source in reads(self, b) {
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                }
                sources
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
        self.scalar_sources.push(sources);
    }

    /// The non-constant scalars expression `expr` reads (none for a vector or a constant).
    pub(super) fn scalar_sources_of(&self, expr: Handle<Expr>) -> &[Source] {
        self.scalar_sources.get(expr.index()).map_or(&[], Vec::as_slice)
    }

    /// Scalar expression `expr` is broadcast to vectors of `size`: so is every
    /// `scalar` parameter and reduction it reads.
    pub(super) fn broadcast_to(&mut self, expr: Handle<Expr>, size: Size) {
        let span = self.exprs[expr].span;
        for source in self.scalar_sources_of(expr).to_vec() {
            match self.broadcast.get(&source).copied() {
                None => {
                    self.broadcast.insert(source, (size, span));
                }
                Some((first, _)) if first == size => {}
                Some((first, first_span)) => self.conflict(source, first, first_span, size, span),
            }
        }
    }

    fn conflict(&mut self, source: Source, first: Size, first_span: Span, second: Size, span: Span) {
        let (first, second) = (format!("[{}]", self.size_text(first)), format!("[{}]", self.size_text(second)));
        let (kind, hint) = match source {
            Source::Param(param) => (
                ErrorKind::ScalarParamSizes {
                    name: self.params[param].name.clone(),
                    first: first.clone(),
                    second: second.clone(),
                },
                "a scalar parameter is broadcast to one size in a cell; declare one per size",
            ),
            Source::Reduction(expr) => {
                let function = match self.exprs[expr].kind {
                    ExprKind::Reduce(reduction, _) => reduction.name(),
                    _ => "sum",
                };
                (
                    ErrorKind::ReductionSizes {
                        function: function.to_owned(),
                        first: first.clone(),
                        second: second.clone(),
                    },
                    "a reduction's value is broadcast to one size; write the reduction once per size",
                )
            }
        };
        self.error(
            Error::new(kind, span, format!("broadcast to {second} here"))
                .with_related(first_span, format!("broadcast to {first} here"))
                .with_hint(hint),
        );
    }

    /// Gives every `scalar` parameter and reduction its size (1 where it never
    /// meets a vector) and retypes the scalar expressions that read one.
    pub(super) fn broadcast_scalar_params(&mut self) {
        let size_of =
            |checker: &Self, source: Source| checker.broadcast.get(&source).map_or(Size::Fixed(1), |&(s, _)| s);
        for param in self.params.handles() {
            if self.params[param].scalar {
                self.params[param].shape = ParamShape::Vector(size_of(self, Source::Param(param)));
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
                ExprKind::Reduce(..) => Some(size_of(self, Source::Reduction(handle))),
                ExprKind::Unary(_, a) => vector(self, a),
                ExprKind::Let(let_) => vector(self, self.lets[let_].value),
                ExprKind::Binary(_, a, b) => match (vector(self, a), vector(self, b)) {
                    (Some(x), Some(y)) if x != y => {
                        let sources = self.scalar_sources_of(handle).to_vec();
                        let (span_a, span_b) = (self.exprs[a].span, self.exprs[b].span);
                        if let Some(&source) = sources.first() {
                            self.conflict(source, x, span_a, y, span_b);
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
