//! Typing expressions: each syntax node, in arena order, becomes a typed
//! expression (or a matrix reference for the left of `@`, or poison after an error).

use super::broadcast::Source;
use super::cell::{BinaryOp, Builtin, Composite, Expr, ExprKind, ParamShape, Reduction, Shape, UnaryOp};
use super::checker::{Checker, Symbol, Typed};
use crate::arena::Handle;
use crate::error::{Error, ErrorKind};
use crate::span::Span;
use crate::syntax::ast::{self, Ident};

impl Checker<'_> {
    fn push(&mut self, kind: ExprKind, shape: Shape, span: Span) -> Typed {
        let expr = self.exprs.append(Expr { kind, shape, span });
        self.note_scalar_params(expr);
        Typed::Value(expr)
    }

    pub(super) fn expr(&mut self, node: Handle<ast::Expr>) -> Typed {
        let ast = self.ast;
        let expr = &ast.exprs[node];
        let span = expr.span;
        match &expr.kind {
            ast::ExprKind::Number(text) => self.number(text, span),
            ast::ExprKind::Name(name) => self.name(name, span, self.matmul_lhs[node.index()]),
            ast::ExprKind::Next(name) => self.next(name, span),
            ast::ExprKind::Call(function, args) => self.call(function, args, span),
            ast::ExprKind::Neg(operand) => match self.typed[operand.index()] {
                Typed::Value(value) => {
                    let shape = self.exprs[value].shape;
                    self.push(ExprKind::Unary(UnaryOp::Neg, value), shape, span)
                }
                _ => Typed::Poison,
            },
            ast::ExprKind::Binary(ast::BinaryOp::MatMul, lhs, rhs) => self.matvec(*lhs, *rhs, span),
            ast::ExprKind::Slice(operand, start, end) => self.slice(*operand, start, end, span),
            ast::ExprKind::Binary(op, lhs, rhs) => {
                let op = match op {
                    ast::BinaryOp::Add => BinaryOp::Add,
                    ast::BinaryOp::Sub => BinaryOp::Sub,
                    ast::BinaryOp::Mul => BinaryOp::Mul,
                    ast::BinaryOp::Pow => BinaryOp::Pow,
                    _ => BinaryOp::Div,
                };
                self.elementwise(op, *lhs, *rhs, span)
            }
        }
    }

    fn number(&mut self, text: &str, span: Span) -> Typed {
        let value: f64 = text.parse().unwrap_or(f64::INFINITY);
        let single = value as f32;
        if !single.is_finite() || (single == 0.0 && value != 0.0) {
            self.error(
                Error::new(ErrorKind::LiteralOutOfRange { text: text.to_owned() }, span, "not a finite float32")
                    .with_hint("float32 holds magnitudes from about 1.2e-38 to 3.4e38"),
            );
            return Typed::Poison;
        }
        self.push(ExprKind::Const(value), Shape::Scalar, span)
    }

    fn name(&mut self, name: &str, span: Span, is_matmul_lhs: bool) -> Typed {
        let Some(&(symbol, _)) = self.names.get(name) else {
            self.unknown_name(name, span);
            return Typed::Poison;
        };
        match symbol {
            Symbol::Dim(_) => {
                self.error(Error::new(
                    ErrorKind::DimUsedAsValue { name: name.to_owned() },
                    span,
                    "a size, not a value",
                ));
                Typed::Poison
            }
            Symbol::Input(input) => {
                let shape = Shape::Vector(self.inputs[input].size);
                self.push(ExprKind::Input(input), shape, span)
            }
            Symbol::State(state) => match self.states[state.index()].size {
                Some(size) => self.push(ExprKind::State(state), Shape::Vector(size), span),
                None => Typed::Poison,
            },
            Symbol::Param(param) => match self.params[param].shape {
                _ if self.params[param].scalar => self.push(ExprKind::Param(param), Shape::Scalar, span),
                ParamShape::Vector(size) => self.push(ExprKind::Param(param), Shape::Vector(size), span),
                _ if is_matmul_lhs => Typed::Matrix(param),
                _ => {
                    self.error(
                        Error::new(
                            ErrorKind::MatrixAsValue { name: name.to_owned() },
                            span,
                            format!("`{name}` is {}", self.param_shape_text(self.params[param].shape)),
                        )
                        .with_hint(
                            "a `[ROWS, COLS]` parameter is a matrix on the left of `@`, or a matrix-shaped value \
                             used elementwise, not both",
                        ),
                    );
                    Typed::Poison
                }
            },
            Symbol::Let(let_) => {
                let shape = self.exprs[self.lets[let_].value].shape;
                self.push(ExprKind::Let(let_), shape, span)
            }
            Symbol::Poisoned => Typed::Poison,
            Symbol::Output => {
                self.error(
                    Error::new(ErrorKind::UnknownName { name: name.to_owned() }, span, "not a value")
                        .with_hint(format!("`{name}` is an output; to reuse its value, define it with `let`")),
                );
                Typed::Poison
            }
        }
    }

    fn unknown_name(&mut self, name: &str, span: Span) {
        let mut error = Error::new(ErrorKind::UnknownName { name: name.to_owned() }, span, "not defined");
        if let Some(&later) = self.later_lets.get(name) {
            error = error.with_related(later, "defined later here; statements are read in order");
        } else if Builtin::by_name(name).is_some() {
            error = error.with_hint(format!("`{name}` is a function: call it as `{name}(...)`"));
        } else if let Some(close) = closest_name(name, self.names.keys()) {
            error = error.with_hint(format!("did you mean `{close}`?"));
        }
        self.error(error);
    }

    fn next(&mut self, name: &str, span: Span) -> Typed {
        match self.names.get(name) {
            Some(&(Symbol::State(state), _)) => {
                let decl = &self.states[state.index()];
                match (decl.update, decl.size) {
                    (Some(_), Some(size)) => self.push(ExprKind::Next(state), Shape::Vector(size), span),
                    (Some(_), None) => Typed::Poison,
                    (None, _) => {
                        let mut error = Error::new(
                            ErrorKind::NextUsedBeforeDefined { name: name.to_owned() },
                            span,
                            "not defined yet",
                        );
                        if let Some(&site) = self.update_sites.get(name) {
                            error = error.with_related(site, "defined later here; statements are read in order");
                        }
                        self.error(error);
                        Typed::Poison
                    }
                }
            }
            Some(&(symbol, _)) => {
                let what = symbol.what();
                self.error(Error::new(ErrorKind::NotAState { name: name.to_owned(), what }, span, "not a state"));
                Typed::Poison
            }
            None => {
                self.unknown_name(name, span);
                Typed::Poison
            }
        }
    }

    fn call(&mut self, function: &Ident, args: &[Handle<ast::Expr>], span: Span) -> Typed {
        let Some(builtin) = Builtin::by_name(&function.name) else {
            let names: Vec<&str> = Builtin::ALL.iter().map(|(n, _)| *n).collect();
            let owned: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            let hint = match closest_name(&function.name, owned.iter()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the functions are: {}", names.join(", ")),
            };
            self.error(
                Error::new(
                    ErrorKind::UnknownFunction { name: function.name.clone() },
                    function.span,
                    "not a built-in function",
                )
                .with_hint(hint),
            );
            return Typed::Poison;
        };
        let builtin = builtin.overload(args.len());
        if args.len() != builtin.arity() {
            let mut error = Error::new(
                ErrorKind::WrongArgumentCount {
                    function: function.name.clone(),
                    expected: builtin.arity(),
                    found: args.len(),
                },
                span,
                format!("called with {} argument{}", args.len(), if args.len() == 1 { "" } else { "s" }),
            );
            if builtin.overload(1) != builtin {
                error = error.with_hint(format!("with one argument, `{}(v)` reduces the vector v", function.name));
            }
            self.error(error);
            return Typed::Poison;
        }
        match builtin {
            Builtin::Unary(op) => match self.typed[args[0].index()] {
                Typed::Value(value) => {
                    let shape = self.exprs[value].shape;
                    self.push(ExprKind::Unary(op, value), shape, span)
                }
                _ => Typed::Poison,
            },
            Builtin::Binary(op) => self.elementwise(op, args[0], args[1], span),
            Builtin::Composite(composite) => self.composite(composite, args, span),
            Builtin::Concat => match (self.value_of(args[0]), self.value_of(args[1])) {
                (Some(a), Some(b)) => self.concat(a, b, span),
                _ => Typed::Poison,
            },
            Builtin::Outer => match (self.value_of(args[0]), self.value_of(args[1])) {
                (Some(u), Some(v)) => self.outer(u, v, span),
                _ => Typed::Poison,
            },
            Builtin::Reduction(reduction) => match self.value_of(args[0]) {
                Some(value) => self.reduce(reduction, value, span),
                None => Typed::Poison,
            },
        }
    }

    /// `reduction(value)`: a scalar that is not a constant (see `broadcast.rs`).
    fn reduce(&mut self, reduction: Reduction, value: Handle<Expr>, span: Span) -> Typed {
        self.reduce_named(reduction, reduction.name(), value, span)
    }

    fn reduce_named(&mut self, reduction: Reduction, function: &str, value: Handle<Expr>, span: Span) -> Typed {
        if self.exprs[value].shape == Shape::Scalar {
            let found = "a scalar".to_owned();
            self.error(
                Error::new(
                    ErrorKind::ReductionOfScalar { function: function.to_owned(), found },
                    self.exprs[value].span,
                    "this is a scalar",
                )
                .with_hint(
                    "a reduction takes a vector: an input, a state, a vector parameter, or an expression of one",
                ),
            );
            return Typed::Poison;
        }
        self.push(ExprKind::Reduce(reduction, value), Shape::Scalar, span)
    }

    /// A composite built-in, written out as the operations that define it (every
    /// node spanning the call).
    fn composite(&mut self, composite: Composite, args: &[Handle<ast::Expr>], span: Span) -> Typed {
        let mut values = Vec::with_capacity(args.len());
        for &arg in args {
            match self.value_of(arg) {
                Some(value) => values.push(value),
                None => return Typed::Poison,
            }
        }
        let x = values[0];
        let shape = self.exprs[x].shape;
        let push = |checker: &mut Self, kind: ExprKind, shape: Shape| match checker.push(kind, shape, span) {
            Typed::Value(value) => value,
            _ => unreachable!("push makes a value"),
        };
        match composite {
            Composite::LogSigmoid => {
                let minus_x = push(self, ExprKind::Unary(UnaryOp::Neg, x), shape);
                let softplus = push(self, ExprKind::Unary(UnaryOp::Softplus, minus_x), shape);
                self.push(ExprKind::Unary(UnaryOp::Neg, softplus), shape, span)
            }
            Composite::Gelu => {
                let scale = push(self, ExprKind::Const(std::f64::consts::FRAC_1_SQRT_2), Shape::Scalar);
                let scaled = push(self, ExprKind::Binary(BinaryOp::Mul, x, scale), shape);
                let erf = push(self, ExprKind::Unary(UnaryOp::Erf, scaled), shape);
                let one = push(self, ExprKind::Const(1.0), Shape::Scalar);
                let sum = push(self, ExprKind::Binary(BinaryOp::Add, one, erf), shape);
                let half = push(self, ExprKind::Const(0.5), Shape::Scalar);
                let half_x = push(self, ExprKind::Binary(BinaryOp::Mul, half, x), shape);
                self.push(ExprKind::Binary(BinaryOp::Mul, half_x, sum), shape, span)
            }
            Composite::Dot => {
                let Some(shape) = self.broadcast("dot", x, values[1]) else { return Typed::Poison };
                let product = push(self, ExprKind::Binary(BinaryOp::Mul, x, values[1]), shape);
                self.reduce_named(Reduction::Sum, "dot", product, span)
            }
            Composite::Clamp => {
                let Some(shape) = self.broadcast("clamp", x, values[1]) else { return Typed::Poison };
                let Some(shape) = self.broadcast_shape("clamp", shape, x, values[2]) else { return Typed::Poison };
                let low = push(self, ExprKind::Binary(BinaryOp::Max, x, values[1]), shape);
                self.push(ExprKind::Binary(BinaryOp::Min, low, values[2]), shape, span)
            }
        }
    }

    /// The shape of an elementwise operation of `a` and `b` (a scalar broadcasts),
    /// or an error naming `op`.
    fn broadcast(&mut self, op: &str, a: Handle<Expr>, b: Handle<Expr>) -> Option<Shape> {
        let shape = self.exprs[a].shape;
        self.broadcast_shape(op, shape, a, b)
    }

    /// As [`Self::broadcast`], with `a`'s shape taken as `sa` (the shape of what
    /// `a` has already been combined with).
    fn broadcast_shape(&mut self, op: &str, sa: Shape, a: Handle<Expr>, b: Handle<Expr>) -> Option<Shape> {
        let sb = self.exprs[b].shape;
        match (sa, sb) {
            (Shape::Scalar, other) | (other, Shape::Scalar) => Some(other),
            _ if sa == sb => Some(sa),
            _ => {
                let (left, right) = (self.shape_text(sa), self.shape_text(sb));
                self.error(
                    Error::new(
                        ErrorKind::ShapeMismatch { op: op.to_owned(), left: left.clone(), right: right.clone() },
                        self.exprs[a].span,
                        format!("this is {left}"),
                    )
                    .with_related(self.exprs[b].span, format!("this is {right}")),
                );
                None
            }
        }
    }

    fn elementwise(&mut self, op: BinaryOp, lhs: Handle<ast::Expr>, rhs: Handle<ast::Expr>, span: Span) -> Typed {
        let (Some(a), Some(b)) = (self.value_of(lhs), self.value_of(rhs)) else {
            return Typed::Poison;
        };
        let reads = self.scalar_sources_of(b).first().copied();
        if op == BinaryOp::Pow && (self.exprs[b].shape != Shape::Scalar || reads.is_some()) {
            let found = match reads {
                Some(Source::Param(param)) => format!("scalar parameter `{}`", self.params[param].name),
                Some(Source::Reduction(_)) => "the value of a reduction".to_owned(),
                None => self.shape_text(self.exprs[b].shape),
            };
            self.error(
                Error::new(ErrorKind::ExponentNotConstant { found: found.clone() }, self.exprs[b].span, format!("this is {found}"))
                    .with_hint("an exponent is a number or a scalar `let` of numbers; for a vector exponent write `exp(p * log(x))`"),
            );
            return Typed::Poison;
        }
        let Some((a, b)) = self.align(op.name(), a, b) else { return Typed::Poison };
        let Some(shape) = self.broadcast(op.name(), a, b) else { return Typed::Poison };
        self.push(ExprKind::Binary(op, a, b), shape, span)
    }

    fn matvec(&mut self, lhs: Handle<ast::Expr>, rhs: Handle<ast::Expr>, span: Span) -> Typed {
        let (param, rows_slice) = match self.typed[lhs.index()] {
            Typed::Matrix(param) => (param, None),
            Typed::MatrixRows { param, start, rows } => (param, Some((start, rows))),
            Typed::Poison => return Typed::Poison,
            Typed::Value(value) if matches!(self.exprs[value].shape, Shape::Vector(size) if size.matrix().is_some()) => {
                return self.matrix_value_times(value, self.ast.exprs[lhs].span, rhs, span);
            }
            Typed::Value(value) => {
                let found = self.shape_text(self.exprs[value].shape);
                self.error(Error::new(
                    ErrorKind::MatVecNotMatrix { found: found.clone() },
                    self.exprs[value].span,
                    format!("this is {found}"),
                ));
                return Typed::Poison;
            }
        };
        let Some(vector) = self.value_of(rhs) else { return Typed::Poison };
        let (rows, cols) = match self.params[param].shape {
            ParamShape::Matrix { rows, cols } => (rows, cols),
            ParamShape::Block { size, .. } => (size, size),
            ParamShape::Vector(_) => unreachable!("vector parameters are values"),
        };
        let found = self.exprs[vector].shape;
        if found != Shape::Vector(cols) {
            let matrix = self.param_shape_text(self.params[param].shape);
            let vector_text = self.shape_text(found);
            let lhs_span = self.ast.exprs[lhs].span;
            self.error(
                Error::new(
                    ErrorKind::MatVecMismatch { matrix: matrix.clone(), vector: vector_text.clone() },
                    self.exprs[vector].span,
                    format!("this is {vector_text}, expected [{}]", self.size_text(cols)),
                )
                .with_related(lhs_span, format!("this is {matrix}")),
            );
            return Typed::Poison;
        }
        let product = self.push(ExprKind::MatVec(param, vector), Shape::Vector(rows), span);
        match (product, rows_slice) {
            // `W[START : END] @ x` is the slice of `W @ x`: hash-consed, the
            // slices of one packed product share it.
            (Typed::Value(product), Some((start, rows))) => {
                self.push(ExprKind::Slice(product, start), Shape::Vector(rows), span)
            }
            (product, _) => product,
        }
    }
}

/// The defined name closest to `name` in edit distance, if close enough.
fn closest_name<'n>(name: &str, candidates: impl Iterator<Item = &'n String>) -> Option<&'n str> {
    let limit = name.chars().count() / 3;
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}
