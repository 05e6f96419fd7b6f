//! The checking pass: [`ast::Cell`] in, [`Cell`] or every error found out.
//!
//! Declarations (`dim`, `input`, `state`, `param`) are visible everywhere in their
//! cell; `let`s, updates and outputs are read in order. Expressions are typed in
//! arena order, so no step recurses. A subexpression that has an error is
//! "poisoned": it produces no further errors, so each mistake is reported once.

use std::collections::HashMap;

use super::broadcast::Source;
use super::cell::{
    Builtin, Cell, Dim, Expr, Input, Let, Output, OutputValue, Param, ParamShape, Shape, Size, State, Statement,
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
pub(super) enum Symbol {
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
    pub(super) fn what(self) -> &'static str {
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
pub(super) enum Typed {
    Value(Handle<Expr>),
    /// A matrix parameter, legal only as the left operand of `@`.
    Matrix(Handle<Param>),
    /// Rows `start .. start + rows` of a matrix parameter (`W[H : 2 * H]`),
    /// legal only as the left operand of `@`.
    MatrixRows {
        param: Handle<Param>,
        start: Size,
        rows: Size,
    },
    Poison,
}

pub(super) struct StateDecl {
    pub(super) name: String,
    pub(super) doc: Option<String>,
    pub(super) span: Span,
    pub(super) size: Option<Size>,
    pub(super) update: Option<(Handle<Expr>, Span)>,
}

pub(super) struct Checker<'a> {
    pub(super) ast: &'a ast::Cell,
    pub(super) errors: Vec<Error>,
    pub(super) names: HashMap<String, (Symbol, Span)>,
    /// Names of `let`s not reached yet, for "defined later" notes.
    pub(super) later_lets: HashMap<&'a str, Span>,
    /// The first update of each name, for "defined later" notes.
    pub(super) update_sites: HashMap<&'a str, Span>,
    pub(super) dims: Arena<Dim>,
    pub(super) inputs: Arena<Input>,
    pub(super) states: Vec<StateDecl>,
    pub(super) params: Arena<Param>,
    pub(super) lets: Arena<Let>,
    pub(super) outputs: Arena<Output>,
    pub(super) body: Vec<Statement>,
    pub(super) exprs: Arena<Expr>,
    pub(super) typed: Vec<Typed>,
    pub(super) matmul_lhs: Vec<bool>,
    /// Names used as values (not on the left of `@`) and on the left of `@`:
    /// a `[ROWS, COLS]` parameter used only as a value is a matrix value.
    value_names: std::collections::HashSet<&'a str>,
    matmul_names: std::collections::HashSet<&'a str>,
    /// For each expression of `exprs` that is a scalar, the `scalar` parameters
    /// and reductions it reads (empty for the others: a vector has been
    /// broadcast already).
    pub(super) scalar_sources: Vec<Vec<Source>>,
    /// For each `scalar` parameter and reduction, the size it is broadcast to
    /// and where that was first decided.
    pub(super) broadcast: HashMap<Source, (Size, Span)>,
}

impl<'a> Checker<'a> {
    fn new(ast: &'a ast::Cell) -> Self {
        let mut matmul_lhs = vec![false; ast.exprs.len()];
        for expr in ast.exprs.values() {
            if let ast::ExprKind::Binary(ast::BinaryOp::MatMul, lhs, _) = expr.kind {
                matmul_lhs[lhs.index()] = true;
                // The rows of a matrix: `W[0 : H] @ x`.
                if let ast::ExprKind::Slice(operand, ..) = ast.exprs[lhs].kind {
                    matmul_lhs[operand.index()] = true;
                }
            }
        }
        let mut value_names = std::collections::HashSet::new();
        let mut matmul_names = std::collections::HashSet::new();
        for (node, expr) in ast.exprs.iter() {
            if let ast::ExprKind::Name(name) = &expr.kind {
                if matmul_lhs[node.index()] {
                    matmul_names.insert(name.as_str());
                } else {
                    value_names.insert(name.as_str());
                }
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
            value_names,
            matmul_names,
            scalar_sources: Vec::new(),
            broadcast: HashMap::new(),
        }
    }

    pub(super) fn error(&mut self, error: Error) {
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
                    Some(param_shape) => {
                        let scalar = matches!(shape, ast::ParamShape::Scalar(_));
                        let param = self.params.append(Param {
                            name: name.name.clone(),
                            doc,
                            span: name.span,
                            shape: param_shape,
                            scalar,
                        });
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

    pub(super) fn size(&mut self, size: &ast::Size) -> Option<Size> {
        match size {
            ast::Size::Literal(integer) => self.integer(*integer).and_then(|n| {
                if n == 0 {
                    self.error(Error::new(ErrorKind::SizeZero, integer.span, "must be at least 1"));
                    None
                } else {
                    Some(Size::Fixed(n))
                }
            }),
            ast::Size::Scaled(factor, name) => {
                let factor = self.integer(*factor)?;
                let dim = self.size(&ast::Size::Dim(name.clone()))?;
                if factor == 0 {
                    self.error(Error::new(ErrorKind::SizeZero, size.span(), "must be at least 1"));
                    return None;
                }
                Size::from_parts(factor, dim.parts().1)
            }
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
        match shape.sizes.as_slice() {
            [size] => return self.size(size),
            [_, _] => return self.matrix_size(shape, what),
            _ => {}
        }
        self.error(Error::new(
            ErrorKind::BadDeclaredShape { what, expected: "`[SIZE]` or `[ROWS, COLS]`", found: shape_written(shape) },
            shape.span,
            "a vector has one size, a matrix two",
        ));
        None
    }

    fn param_shape(&mut self, name: &str, shape: &ast::ParamShape) -> Option<ParamShape> {
        match shape {
            // The size it is broadcast to is found by `broadcast_scalar_params`.
            ast::ParamShape::Scalar(_) => Some(ParamShape::Vector(Size::Fixed(1))),
            ast::ParamShape::Dense(shape) => match shape.sizes.as_slice() {
                [size] => self.size(size).map(ParamShape::Vector),
                // Used only elementwise: a matrix value, the vector of its elements.
                [_, _] if self.value_names.contains(name) && !self.matmul_names.contains(name) => {
                    self.matrix_size(shape, "a parameter used as a value").map(ParamShape::Vector)
                }
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
                if let Some(Size::Scaled(..)) = side {
                    self.error(Error::new(
                        ErrorKind::BadDeclaredShape {
                            what: "a block parameter",
                            expected: "`block[DIM, K]` or `block[N, K]`",
                            found: format!("block[{}, {}]", size.text(), block.value),
                        },
                        size.span(),
                        "the side of a block matrix is a dim or an integer",
                    ));
                    return None;
                }
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

    pub(super) fn value_of(&self, node: Handle<ast::Expr>) -> Option<Handle<Expr>> {
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
        if let Some(Shape::Vector(size)) = expected {
            self.broadcast_to(value, size);
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
        let reduced = self.scalar_sources_of(expr).iter().any(|s| matches!(s, Source::Reduction(_)));
        match self.exprs[expr].shape {
            Shape::Vector(size) => Some(size),
            // A value of a reduction is output as a vector of one element.
            Shape::Scalar if reduced => {
                self.broadcast_to(expr, Size::Fixed(1));
                Some(Size::Fixed(1))
            }
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

    // ---- texts ----

    pub(super) fn size_text(&self, size: Size) -> String {
        size.text(&self.dims)
    }

    pub(super) fn shape_text(&self, shape: Shape) -> String {
        shape.text(&self.dims)
    }

    pub(super) fn param_shape_text(&self, shape: ParamShape) -> String {
        shape.text(&self.dims)
    }

    // ---- the end ----

    fn finish(mut self) -> Result<Cell, Vec<Error>> {
        let ast = self.ast;
        self.broadcast_scalar_params();
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
        if ast.items.iter().all(|item| !matches!(item.kind, ItemKind::Input(..))) {
            self.errors.push(
                Error::new(ErrorKind::NoInput { name: ast.name.name.clone() }, ast.name.span, "this cell").with_hint(
                    "add `input NAME: [DIM];`: a cell runs over sequences of inputs, which give the batch size B \
                         and the length T",
                ),
            );
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
    let sizes: Vec<String> = shape.sizes.iter().map(ast::Size::text).collect();
    format!("[{}]", sizes.join(", "))
}
