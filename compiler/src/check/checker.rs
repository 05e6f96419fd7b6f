//! The checking pass: [`ast::Cell`] in, [`Cell`] or every error found out.
//!
//! Declarations (`dim`, `input`, `state`, `param`) are visible everywhere in their
//! cell; `let`s, updates and outputs are read in order. Expressions are typed in
//! arena order, so no step recurses. A subexpression that has an error is
//! "poisoned": it produces no further errors, so each mistake is reported once.

use std::collections::HashMap;

use super::cell::{
    BinaryOp, Builtin, Cell, Dim, Expr, ExprKind, Input, Let, Output, OutputValue, Param, ParamShape, Shape, Size,
    State, Statement, UnaryOp,
};
use crate::arena::{Arena, Handle};
use crate::error::{Error, ErrorKind};
use crate::span::Span;
use crate::syntax::ast::{self, Ident, ItemKind};

/// Checks every cell of a file; cell names must be distinct.
pub fn check_file(file: &ast::File) -> Result<Vec<Cell>, Vec<Error>> {
    let mut cells = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for cell in &file.cells {
        if let Some(&first) = seen.get(cell.name.name.as_str()) {
            errors.push(
                Error::new(
                    ErrorKind::DuplicateCell { name: cell.name.name.clone() },
                    cell.name.span,
                    "defined again here",
                )
                .with_related(first, "first defined here"),
            );
        } else {
            seen.insert(&cell.name.name, cell.name.span);
        }
        match check_cell(cell) {
            Ok(checked) => cells.push(checked),
            Err(mut cell_errors) => errors.append(&mut cell_errors),
        }
    }
    if errors.is_empty() { Ok(cells) } else { Err(errors) }
}

/// Checks one cell.
pub fn check_cell(ast: &ast::Cell) -> Result<Cell, Vec<Error>> {
    let mut checker = Checker::new(ast);
    checker.declare();
    checker.body();
    checker.finish()
}

/// What a name refers to.
#[derive(Clone, Copy, Debug)]
enum Symbol {
    Dim(Handle<Dim>),
    Input(Handle<Input>),
    State(Handle<State>),
    Param(Handle<Param>),
    Let(Handle<Let>),
    /// A declaration or `let` that has an error: uses are silently poisoned.
    Poisoned,
    /// `output NAME = EXPR`: a name, but not a value.
    Output,
}

impl Symbol {
    fn what(self) -> &'static str {
        match self {
            Symbol::Dim(_) => "a dim",
            Symbol::Input(_) => "an input",
            Symbol::State(_) => "a state",
            Symbol::Param(_) => "a parameter",
            Symbol::Let(_) => "a `let`",
            Symbol::Poisoned => "a definition with an error",
            Symbol::Output => "an output",
        }
    }
}

/// The result of typing one syntax node.
#[derive(Clone, Copy, Debug)]
enum Typed {
    Value(Handle<Expr>),
    /// A matrix parameter, legal only as the left operand of `@`.
    Matrix(Handle<Param>),
    Poison,
}

struct StateDecl {
    name: String,
    doc: Option<String>,
    span: Span,
    size: Option<Size>,
    update: Option<(Handle<Expr>, Span)>,
}

struct Checker<'a> {
    ast: &'a ast::Cell,
    errors: Vec<Error>,
    names: HashMap<String, (Symbol, Span)>,
    /// Names of `let`s not reached yet, for "defined later" notes.
    later_lets: HashMap<&'a str, Span>,
    /// The first update of each name, for "defined later" notes.
    update_sites: HashMap<&'a str, Span>,
    dims: Arena<Dim>,
    inputs: Arena<Input>,
    states: Vec<StateDecl>,
    params: Arena<Param>,
    lets: Arena<Let>,
    outputs: Arena<Output>,
    body: Vec<Statement>,
    exprs: Arena<Expr>,
    typed: Vec<Typed>,
    matmul_lhs: Vec<bool>,
}

impl<'a> Checker<'a> {
    fn new(ast: &'a ast::Cell) -> Self {
        let mut matmul_lhs = vec![false; ast.exprs.len()];
        for expr in ast.exprs.values() {
            if let ast::ExprKind::Binary(ast::BinaryOp::MatMul, lhs, _) = expr.kind {
                matmul_lhs[lhs.index()] = true;
            }
        }
        let mut later_lets = HashMap::new();
        let mut update_sites = HashMap::new();
        for item in &ast.items {
            match &item.kind {
                ItemKind::Let(name, _) => {
                    later_lets.entry(name.name.as_str()).or_insert(name.span);
                }
                ItemKind::Update(name, _) => {
                    update_sites.entry(name.name.as_str()).or_insert(name.span);
                }
                _ => {}
            }
        }
        Checker {
            ast,
            errors: Vec::new(),
            names: HashMap::new(),
            later_lets,
            update_sites,
            dims: Arena::new(),
            inputs: Arena::new(),
            states: Vec::new(),
            params: Arena::new(),
            lets: Arena::new(),
            outputs: Arena::new(),
            body: Vec::new(),
            exprs: Arena::new(),
            typed: Vec::with_capacity(ast.exprs.len()),
            matmul_lhs,
        }
    }

    fn error(&mut self, error: Error) {
        self.errors.push(error);
    }

    /// Binds `name` to `symbol`, or reports a clash. Returns whether it was bound.
    fn define(&mut self, name: &Ident, symbol: Symbol) -> bool {
        if Builtin::by_name(&name.name).is_some() {
            self.error(Error::new(
                ErrorKind::ReservedName { name: name.name.clone() },
                name.span,
                "choose another name",
            ));
            return false;
        }
        if let Some(&(_, first)) = self.names.get(&name.name) {
            self.error(
                Error::new(ErrorKind::DuplicateName { name: name.name.clone() }, name.span, "defined again here")
                    .with_related(first, "first defined here"),
            );
            return false;
        }
        self.names.insert(name.name.clone(), (symbol, name.span));
        true
    }

    // ---- declarations ----

    fn declare(&mut self) {
        let ast = self.ast;
        for item in &ast.items {
            if let ItemKind::Dim(name) = &item.kind {
                let dim = self.dims.append(Dim { name: name.name.clone(), span: name.span });
                self.define(name, Symbol::Dim(dim));
            }
        }
        for item in &ast.items {
            let doc = item.doc.clone();
            match &item.kind {
                ItemKind::Input(name, shape) => match self.vector_shape(shape, "an input") {
                    Some(size) => {
                        let input = self.inputs.append(Input { name: name.name.clone(), doc, span: name.span, size });
                        self.define(name, Symbol::Input(input));
                    }
                    None => {
                        self.define(name, Symbol::Poisoned);
                    }
                },
                ItemKind::State(name, shape) => {
                    let size = self.vector_shape(shape, "a state");
                    let state = Handle::from_index(self.states.len());
                    self.states.push(StateDecl { name: name.name.clone(), doc, span: name.span, size, update: None });
                    self.define(name, Symbol::State(state));
                }
                ItemKind::Param(name, shape) => match self.param_shape(&name.name, shape) {
                    Some(shape) => {
                        let param = self.params.append(Param { name: name.name.clone(), doc, span: name.span, shape });
                        self.define(name, Symbol::Param(param));
                    }
                    None => {
                        self.define(name, Symbol::Poisoned);
                    }
                },
                _ => {}
            }
        }
    }

    fn size(&mut self, size: &ast::Size) -> Option<Size> {
        match size {
            ast::Size::Literal(integer) => self.integer(*integer).and_then(|n| {
                if n == 0 {
                    self.error(Error::new(ErrorKind::SizeZero, integer.span, "must be at least 1"));
                    None
                } else {
                    Some(Size::Fixed(n))
                }
            }),
            ast::Size::Dim(name) => match self.names.get(&name.name) {
                Some(&(Symbol::Dim(dim), _)) => Some(Size::Dim(dim)),
                _ => {
                    self.error(
                        Error::new(ErrorKind::UnknownDim { name: name.name.clone() }, name.span, "not a declared dim")
                            .with_hint(format!("declare it with `dim {};`", name.name)),
                    );
                    None
                }
            },
        }
    }

    fn integer(&mut self, integer: ast::Integer) -> Option<u64> {
        if integer.value > u64::from(u32::MAX) {
            self.error(Error::new(ErrorKind::IntegerTooLarge, integer.span, "too large"));
            return None;
        }
        Some(integer.value)
    }

    fn vector_shape(&mut self, shape: &ast::Shape, what: &'static str) -> Option<Size> {
        if let [size] = shape.sizes.as_slice() {
            return self.size(size);
        }
        self.error(Error::new(
            ErrorKind::BadDeclaredShape { what, expected: "`[SIZE]`", found: shape_written(shape) },
            shape.span,
            "a vector has one size",
        ));
        None
    }

    fn param_shape(&mut self, name: &str, shape: &ast::ParamShape) -> Option<ParamShape> {
        match shape {
            ast::ParamShape::Dense(shape) => match shape.sizes.as_slice() {
                [size] => self.size(size).map(ParamShape::Vector),
                [rows, cols] => {
                    let (rows, cols) = (self.size(rows), self.size(cols));
                    Some(ParamShape::Matrix { rows: rows?, cols: cols? })
                }
                _ => {
                    self.error(Error::new(
                        ErrorKind::BadDeclaredShape {
                            what: "a parameter",
                            expected: "`[SIZE]`, `[ROWS, COLS]` or `block[SIZE, K]`",
                            found: shape_written(shape),
                        },
                        shape.span,
                        "a parameter is a vector or a matrix",
                    ));
                    None
                }
            },
            ast::ParamShape::Block { size, block, .. } => {
                let side = self.size(size);
                let k = self.integer(*block)?;
                if k < 1 {
                    self.error(Error::new(
                        ErrorKind::BlockSizeTooSmall { name: name.to_owned(), block: k },
                        block.span,
                        "must be at least 1",
                    ));
                    return None;
                }
                if let Some(Size::Fixed(n)) = side
                    && n % k != 0
                {
                    self.error(Error::new(
                        ErrorKind::BlockSizeDoesNotDivide { name: name.to_owned(), block: k, size: n.to_string() },
                        block.span,
                        format!("{n} is not a multiple of {k}"),
                    ));
                    return None;
                }
                Some(ParamShape::Block { size: side?, block: k })
            }
        }
    }

    // ---- statements ----

    fn body(&mut self) {
        let ast = self.ast;
        let mut next_node = 0;
        for item in &ast.items {
            let root = match &item.kind {
                ItemKind::Let(_, root) | ItemKind::Update(_, root) | ItemKind::Output(_, Some(root)) => Some(*root),
                _ => None,
            };
            if let Some(root) = root {
                for index in next_node..=root.index() {
                    let typed = self.expr(Handle::from_index(index));
                    self.typed.push(typed);
                }
                next_node = root.index() + 1;
            }
            match &item.kind {
                ItemKind::Let(name, root) => self.let_statement(name, *root),
                ItemKind::Update(name, root) => self.update(name, *root),
                ItemKind::Output(name, value) => self.output(name, *value),
                _ => {}
            }
        }
    }

    fn value_of(&self, node: Handle<ast::Expr>) -> Option<Handle<Expr>> {
        match self.typed[node.index()] {
            Typed::Value(expr) => Some(expr),
            _ => None,
        }
    }

    fn let_statement(&mut self, name: &'a Ident, root: Handle<ast::Expr>) {
        self.later_lets.remove(name.name.as_str());
        match self.value_of(root) {
            Some(value) => {
                let handle = self.lets.append(Let { name: name.name.clone(), span: name.span, value });
                if self.define(name, Symbol::Let(handle)) {
                    self.body.push(Statement::Let(handle));
                }
            }
            None => {
                self.define(name, Symbol::Poisoned);
            }
        }
    }

    fn update(&mut self, target: &Ident, root: Handle<ast::Expr>) {
        let name = &target.name;
        let state = match self.names.get(name) {
            Some(&(Symbol::State(state), _)) => state,
            Some(&(symbol, _)) => {
                let what = symbol.what();
                self.error(Error::new(ErrorKind::NotAState { name: name.clone(), what }, target.span, "not a state"));
                return;
            }
            None => {
                self.error(Error::new(
                    ErrorKind::UnknownName { name: name.clone() },
                    target.span,
                    "no state has this name",
                ));
                return;
            }
        };
        let decl = &self.states[state.index()];
        if let Some((_, first)) = decl.update {
            self.error(
                Error::new(ErrorKind::DuplicateUpdate { name: name.clone() }, target.span, "updated again here")
                    .with_related(first, "first updated here"),
            );
            return;
        }
        let Some(value) = self.value_of(root) else { return };
        let expected = decl.size.map(Shape::Vector);
        let found = self.exprs[value].shape;
        if let Some(expected) = expected
            && found != expected
            && found != Shape::Scalar
        {
            let what = format!("the next value of `{name}`");
            self.error(Error::new(
                ErrorKind::WrongShape { what, expected: self.shape_text(expected), found: self.shape_text(found) },
                self.exprs[value].span,
                format!("this is {}", self.shape_text(found)),
            ));
            return;
        }
        self.states[state.index()].update = Some((value, target.span));
        self.body.push(Statement::Update(state));
    }

    fn output(&mut self, name: &Ident, value: Option<Handle<ast::Expr>>) {
        let (value, size) = match value {
            None => match self.names.get(&name.name) {
                Some(&(Symbol::State(state), _)) => match self.states[state.index()].size {
                    Some(size) => (OutputValue::State(state), size),
                    None => return,
                },
                Some(&(Symbol::Let(let_), _)) => {
                    let expr = self.lets[let_].value;
                    match self.vector_output(name, expr) {
                        Some(size) => (OutputValue::Let(let_), size),
                        None => return,
                    }
                }
                Some(&(Symbol::Poisoned, _)) => return,
                other => {
                    let mut error = Error::new(
                        ErrorKind::UndefinedOutput { name: name.name.clone() },
                        name.span,
                        "not a state or a `let` defined above",
                    );
                    if let Some(&(symbol, span)) = other {
                        error = error.with_related(span, format!("this is {}", symbol.what()));
                    } else if let Some(&later) = self.later_lets.get(name.name.as_str()) {
                        error = error.with_related(later, "defined later here; statements are read in order");
                    }
                    self.error(error);
                    return;
                }
            },
            Some(root) => {
                let Some(expr) = self.value_of(root) else {
                    self.define(name, Symbol::Output);
                    return;
                };
                if !self.define(name, Symbol::Output) {
                    return;
                }
                match self.vector_output(name, expr) {
                    Some(size) => (OutputValue::Expr(expr), size),
                    None => return,
                }
            }
        };
        if let Some(first) = self.outputs.values().find(|o| o.name == name.name).map(|o| o.span) {
            self.error(
                Error::new(ErrorKind::DuplicateName { name: name.name.clone() }, name.span, "output again here")
                    .with_related(first, "first output here"),
            );
            return;
        }
        let output = self.outputs.append(Output { name: name.name.clone(), span: name.span, value, size });
        self.body.push(Statement::Output(output));
    }

    fn vector_output(&mut self, name: &Ident, expr: Handle<Expr>) -> Option<Size> {
        match self.exprs[expr].shape {
            Shape::Vector(size) => Some(size),
            Shape::Scalar => {
                self.error(Error::new(
                    ErrorKind::WrongShape {
                        what: format!("output `{}`", name.name),
                        expected: "`[SIZE]`".to_owned(),
                        found: "scalar".to_owned(),
                    },
                    self.exprs[expr].span,
                    "this is a scalar",
                ));
                None
            }
        }
    }

    // ---- expressions ----

    fn push(&mut self, kind: ExprKind, shape: Shape, span: Span) -> Typed {
        Typed::Value(self.exprs.append(Expr { kind, shape, span }))
    }

    fn expr(&mut self, node: Handle<ast::Expr>) -> Typed {
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
            ast::ExprKind::Binary(op, lhs, rhs) => {
                let op = match op {
                    ast::BinaryOp::Add => BinaryOp::Add,
                    ast::BinaryOp::Sub => BinaryOp::Sub,
                    ast::BinaryOp::Mul => BinaryOp::Mul,
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
                ParamShape::Vector(size) => self.push(ExprKind::Param(param), Shape::Vector(size), span),
                _ if is_matmul_lhs => Typed::Matrix(param),
                _ => {
                    self.error(Error::new(
                        ErrorKind::MatrixAsValue { name: name.to_owned() },
                        span,
                        format!("`{name}` is {}", self.param_shape_text(self.params[param].shape)),
                    ));
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
            self.error(
                Error::new(
                    ErrorKind::UnknownFunction { name: function.name.clone() },
                    function.span,
                    "not a built-in function",
                )
                .with_hint(format!("the functions are: {}", names.join(", "))),
            );
            return Typed::Poison;
        };
        if args.len() != builtin.arity() {
            self.error(Error::new(
                ErrorKind::WrongArgumentCount {
                    function: function.name.clone(),
                    expected: builtin.arity(),
                    found: args.len(),
                },
                span,
                format!("called with {} argument{}", args.len(), if args.len() == 1 { "" } else { "s" }),
            ));
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
        }
    }

    fn elementwise(&mut self, op: BinaryOp, lhs: Handle<ast::Expr>, rhs: Handle<ast::Expr>, span: Span) -> Typed {
        let (Some(a), Some(b)) = (self.value_of(lhs), self.value_of(rhs)) else {
            return Typed::Poison;
        };
        let (sa, sb) = (self.exprs[a].shape, self.exprs[b].shape);
        let shape = match (sa, sb) {
            (Shape::Scalar, other) | (other, Shape::Scalar) => other,
            _ if sa == sb => sa,
            _ => {
                let (left, right) = (self.shape_text(sa), self.shape_text(sb));
                self.error(
                    Error::new(
                        ErrorKind::ShapeMismatch { op: op.name().to_owned(), left: left.clone(), right: right.clone() },
                        self.exprs[a].span,
                        format!("this is {left}"),
                    )
                    .with_related(self.exprs[b].span, format!("this is {right}")),
                );
                return Typed::Poison;
            }
        };
        self.push(ExprKind::Binary(op, a, b), shape, span)
    }

    fn matvec(&mut self, lhs: Handle<ast::Expr>, rhs: Handle<ast::Expr>, span: Span) -> Typed {
        let param = match self.typed[lhs.index()] {
            Typed::Matrix(param) => param,
            Typed::Poison => return Typed::Poison,
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
        self.push(ExprKind::MatVec(param, vector), Shape::Vector(rows), span)
    }

    // ---- texts ----

    fn size_text(&self, size: Size) -> String {
        size.text(&self.dims)
    }

    fn shape_text(&self, shape: Shape) -> String {
        shape.text(&self.dims)
    }

    fn param_shape_text(&self, shape: ParamShape) -> String {
        shape.text(&self.dims)
    }

    // ---- the end ----

    fn finish(mut self) -> Result<Cell, Vec<Error>> {
        let ast = self.ast;
        for decl in &self.states {
            if decl.update.is_none() && decl.size.is_some() && !self.update_sites.contains_key(decl.name.as_str()) {
                self.errors.push(Error::new(
                    ErrorKind::MissingUpdate { name: decl.name.clone() },
                    decl.span,
                    "declared here",
                ));
            }
        }
        if ast.items.iter().all(|item| !matches!(item.kind, ItemKind::State(..))) {
            self.errors.push(Error::new(
                ErrorKind::NoState { name: ast.name.name.clone() },
                ast.name.span,
                "this cell",
            ));
        }
        if ast.items.iter().all(|item| !matches!(item.kind, ItemKind::Output(..))) {
            self.errors.push(
                Error::new(ErrorKind::NoOutput { name: ast.name.name.clone() }, ast.name.span, "this cell")
                    .with_hint("add `output NAME;` for a state whose sequence you want"),
            );
        }
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| e.span.start);
            return Err(self.errors);
        }
        let mut states = Arena::new();
        for decl in self.states {
            let (Some(size), Some((update, _))) = (decl.size, decl.update) else {
                unreachable!("states without size or update were reported")
            };
            states.append(State { name: decl.name, doc: decl.doc, span: decl.span, size, update });
        }
        Ok(Cell {
            name: ast.name.name.clone(),
            doc: ast.doc.clone(),
            span: ast.span,
            dims: self.dims,
            inputs: self.inputs,
            states,
            params: self.params,
            lets: self.lets,
            outputs: self.outputs,
            body: self.body,
            exprs: self.exprs,
        })
    }
}

fn shape_written(shape: &ast::Shape) -> String {
    let sizes: Vec<String> = shape
        .sizes
        .iter()
        .map(|size| match size {
            ast::Size::Dim(name) => name.name.clone(),
            ast::Size::Literal(integer) => integer.value.to_string(),
        })
        .collect();
    format!("[{}]", sizes.join(", "))
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
