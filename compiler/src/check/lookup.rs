//! Names at places: which declaration a name written in a cell refers to, by the
//! checker's scoping rules, and which typed expression covers a place. For tools
//! that point into the source (the language server: hover, go to definition,
//! completion).
//!
//! The scoping rules are the checker's (`checker.rs`): dims are bound first, then
//! inputs, states and params in source order, all visible in the whole cell;
//! `let`s and `output NAME = EXPR` are bound when reached, so an expression sees
//! only those above its statement; the first binding of a name wins (a second is
//! the checker's `DuplicateName`), and built-in function names are never bound.
//! [`name_at`] works on the syntax tree alone, so a cell with errors still
//! answers; a test checks it against the checker's own resolution on every
//! shipped cell.

use super::cell::{Builtin, Cell, Expr};
use crate::arena::Handle;
use crate::span::Span;
use crate::syntax::ast::{self, ExprKind, ItemKind, ParamShape, Size};

/// What a declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclarationKind {
    /// `cell NAME { ... }`
    Cell,
    /// `dim NAME;`
    Dim,
    /// `input NAME: [SIZE];`
    Input,
    /// `state NAME: [SIZE];`
    State,
    /// `param NAME: SHAPE;`
    Param,
    /// `let NAME = EXPR;`
    Let,
    /// `output NAME = EXPR;` (an output with an expression of its own)
    Output,
}

impl DeclarationKind {
    /// The keyword that declares it.
    pub fn keyword(self) -> &'static str {
        match self {
            DeclarationKind::Cell => "cell",
            DeclarationKind::Dim => "dim",
            DeclarationKind::Input => "input",
            DeclarationKind::State => "state",
            DeclarationKind::Param => "param",
            DeclarationKind::Let => "let",
            DeclarationKind::Output => "output",
        }
    }
}

/// A name bound by a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// What it declares.
    pub kind: DeclarationKind,
    /// The name.
    pub name: String,
    /// The name where it is declared.
    pub span: Span,
    /// The index of the declaring item in [`ast::Cell::items`] (`None` for the cell).
    pub item: Option<usize>,
}

/// How a name at a place is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRole {
    /// The name of a declaration, where it is declared (the cell's name too).
    Declaration,
    /// A use as a value in an expression.
    Use,
    /// The name in `output NAME;`: a state's or a `let`'s sequence of values.
    Output,
    /// `NAME'` in an expression: a state's next value.
    Next,
    /// `NAME' = ...`: the target of a state's update.
    UpdateTarget,
    /// A size in a declared shape.
    Size,
    /// The function of a call.
    Function,
}

/// A name written at a place, and what it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAt {
    /// The name (without `'`).
    pub name: String,
    /// Where it is written (with the `'` of `NAME'`).
    pub span: Span,
    /// How it is written.
    pub role: NameRole,
    /// The declaration it refers to; `None` for an unknown name or a built-in
    /// function.
    pub declaration: Option<Declaration>,
    /// For a state (and `NAME'`): where its first update `NAME' = ...` is written.
    pub update: Option<Span>,
}

/// Every binding of `cell` in the checker's order (dims, then inputs, states and
/// params, then `let`s and outputs with an expression, each group in source
/// order), the first binding of each name only, without built-in names.
pub fn declarations(cell: &ast::Cell) -> Vec<Declaration> {
    let mut bound: Vec<Declaration> = Vec::new();
    let mut bind = |kind, ident: &ast::Ident, item| {
        if Builtin::by_name(&ident.name).is_none() && !bound.iter().any(|d| d.name == ident.name) {
            bound.push(Declaration { kind, name: ident.name.clone(), span: ident.span, item: Some(item) });
        }
    };
    for (index, item) in cell.items.iter().enumerate() {
        if let ItemKind::Dim(name) = &item.kind {
            bind(DeclarationKind::Dim, name, index);
        }
    }
    for (index, item) in cell.items.iter().enumerate() {
        match &item.kind {
            ItemKind::Input(name, _) => bind(DeclarationKind::Input, name, index),
            ItemKind::State(name, _) => bind(DeclarationKind::State, name, index),
            ItemKind::Param(name, _) => bind(DeclarationKind::Param, name, index),
            _ => {}
        }
    }
    for (index, item) in cell.items.iter().enumerate() {
        match &item.kind {
            ItemKind::Let(name, _) => bind(DeclarationKind::Let, name, index),
            ItemKind::Output(name, Some(_)) => bind(DeclarationKind::Output, name, index),
            _ => {}
        }
    }
    bound
}

/// The bindings an expression of item `item` sees: every declaration, and the
/// `let`s and outputs of the items above it. `item` may be `items.len()` (the
/// end of the cell).
pub fn visible_in_item(cell: &ast::Cell, item: usize) -> Vec<Declaration> {
    declarations(cell)
        .into_iter()
        .filter(|d| {
            !matches!(d.kind, DeclarationKind::Let | DeclarationKind::Output) || d.item.is_some_and(|i| i < item)
        })
        .collect()
}

/// The item a place belongs to for scoping: the item whose span holds `offset`,
/// else the first item after it (`items.len()` past the last).
pub fn item_at(cell: &ast::Cell, offset: u32) -> usize {
    cell.items.iter().position(|item| offset < item.span.end).unwrap_or(cell.items.len())
}

/// The name written at byte `offset` of the source (touching it: the cursor just
/// after a name counts) in `cell`, and what it refers to.
pub fn name_at(cell: &ast::Cell, offset: u32) -> Option<NameAt> {
    let touches = |span: Span| span.start <= offset && offset <= span.end;
    if touches(cell.name.span) {
        let declaration =
            Declaration { kind: DeclarationKind::Cell, name: cell.name.name.clone(), span: cell.name.span, item: None };
        return Some(NameAt {
            name: cell.name.name.clone(),
            span: cell.name.span,
            role: NameRole::Declaration,
            declaration: Some(declaration),
            update: None,
        });
    }
    let item_index = cell.items.iter().position(|item| touches(item.span))?;
    let item = &cell.items[item_index];
    let visible = visible_in_item(cell, item_index);
    let found = |name: &str, span: Span, role: NameRole| {
        let declaration = visible.iter().find(|d| d.name == name).cloned();
        let update = match &declaration {
            Some(d) if d.kind == DeclarationKind::State => first_update(cell, name),
            _ => None,
        };
        Some(NameAt { name: name.to_owned(), span, role, declaration, update })
    };
    let declared = |ident: &ast::Ident| {
        if touches(ident.span) { found(&ident.name, ident.span, NameRole::Declaration) } else { None }
    };
    match &item.kind {
        ItemKind::Dim(name) => return declared(name),
        ItemKind::Input(name, shape) | ItemKind::State(name, shape) => {
            return declared(name).or_else(|| size_at(&shape.sizes, offset, &found));
        }
        ItemKind::Param(name, shape) => {
            let sizes = match shape {
                ParamShape::Dense(shape) => shape.sizes.clone(),
                ParamShape::Block { size, .. } => vec![size.clone()],
                ParamShape::Scalar(_) => Vec::new(),
            };
            return declared(name).or_else(|| size_at(&sizes, offset, &found));
        }
        ItemKind::Let(name, _) | ItemKind::Output(name, Some(_)) if touches(name.span) => {
            // The binding itself: the checker binds it after its value, so it
            // is its own declaration unless an earlier binding holds the name.
            let own = declarations(cell).into_iter().find(|d| d.name == name.name);
            return Some(NameAt {
                name: name.name.clone(),
                span: name.span,
                role: NameRole::Declaration,
                declaration: own,
                update: None,
            });
        }
        ItemKind::Output(name, None) if touches(name.span) => return found(&name.name, name.span, NameRole::Output),
        ItemKind::Update(target, _) if touches(target.span) => {
            return found(&target.name, target.span, NameRole::UpdateTarget);
        }
        _ => {}
    }
    // A dim in a slice's bounds (`W[H : 2 * H]`).
    for expr in cell.exprs.values() {
        if let ExprKind::Slice(_, start, end) = &expr.kind
            && item.span.start <= expr.span.start
            && expr.span.end <= item.span.end
            && let Some(at) = size_at(&[start.clone(), end.clone()], offset, &found)
        {
            return Some(at);
        }
    }
    // An expression of the item: the innermost name whose span touches `offset`,
    // preferring one that holds it strictly (`a|+b` is `a`; `a+|b` is `b`).
    let mut best: Option<(bool, Span, NameRole, &str)> = None;
    for expr in cell.exprs.values() {
        let (name, span, role) = match &expr.kind {
            ExprKind::Name(name) => (name.as_str(), expr.span, NameRole::Use),
            ExprKind::Next(name) => (name.as_str(), expr.span, NameRole::Next),
            ExprKind::Call(function, _) => (function.name.as_str(), function.span, NameRole::Function),
            _ => continue,
        };
        if !touches(span) || span.start < item.span.start || span.end > item.span.end {
            continue;
        }
        let strict = offset < span.end;
        if best.is_none_or(|(best_strict, ..)| strict && !best_strict) {
            best = Some((strict, span, role, name));
        }
    }
    let (_, span, role, name) = best?;
    if role == NameRole::Function {
        return Some(NameAt { name: name.to_owned(), span, role, declaration: None, update: None });
    }
    found(name, span, role)
}

fn size_at(sizes: &[Size], offset: u32, found: &dyn Fn(&str, Span, NameRole) -> Option<NameAt>) -> Option<NameAt> {
    sizes.iter().find_map(|size| match size {
        Size::Dim(ident) | Size::Scaled(_, ident) if ident.span.start <= offset && offset <= ident.span.end => {
            found(&ident.name, ident.span, NameRole::Size)
        }
        _ => None,
    })
}

/// Where the first update `NAME' = ...` of `name` is written.
pub fn first_update(cell: &ast::Cell, name: &str) -> Option<Span> {
    cell.items.iter().find_map(|item| match &item.kind {
        ItemKind::Update(target, _) if target.name == name => Some(target.span),
        _ => None,
    })
}

/// The innermost typed expression of `cell` whose span holds byte `offset` (the
/// shortest; of equal spans, the outermost, which holds the others' values;
/// never a spread, whose span is the vector it spreads).
pub fn expr_at(cell: &Cell, offset: u32) -> Option<Handle<Expr>> {
    let mut best: Option<(u32, Handle<Expr>)> = None;
    for (handle, expr) in cell.exprs.iter() {
        let span = expr.span;
        // A spread spans the vector it lays along a matrix: that vector is
        // what is written there.
        if matches!(expr.kind, super::cell::ExprKind::Spread(..)) {
            continue;
        }
        if span.start <= offset && offset < span.end {
            let len = span.end - span.start;
            if best.is_none_or(|(best_len, _)| len <= best_len) {
                best = Some((len, handle));
            }
        }
    }
    best.map(|(_, handle)| handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{ExprKind as Typed, check_cell};
    use crate::syntax::parse;

    const SOURCE: &str = "cell c {
    dim H;
    input x: [H];
    state h: [H];
    param a: [H];
    param W: [H, H];
    let z = tanh(a * h + W @ x);
    h' = z;
    let y = h' + z;
    output h;
    output o = y;
}";

    fn at(source: &str, needle: &str, skip: usize) -> u32 {
        let mut from = 0;
        for _ in 0..skip {
            from += source[from..].find(needle).expect("needle") + 1;
        }
        (from + source[from..].find(needle).expect("needle")) as u32
    }

    #[test]
    fn names_resolve_to_their_declarations() {
        let cell = parse(SOURCE).expect("parses").cells.remove(0);
        let use_of_a = name_at(&cell, at(SOURCE, "a *", 0)).expect("a name");
        assert_eq!(
            (use_of_a.role, use_of_a.declaration.as_ref().map(|d| d.kind)),
            (NameRole::Use, Some(DeclarationKind::Param))
        );
        assert_eq!(use_of_a.declaration.expect("declared").span.start, at(SOURCE, "a: [H]", 0));
        let size = name_at(&cell, at(SOURCE, "H]", 0)).expect("a size");
        assert_eq!((size.role, size.declaration.map(|d| d.kind)), (NameRole::Size, Some(DeclarationKind::Dim)));
        let next = name_at(&cell, at(SOURCE, "h' +", 0) + 1).expect("h'");
        assert_eq!(next.role, NameRole::Next);
        assert_eq!(next.update.map(|s| s.start), Some(at(SOURCE, "h' = z", 0)));
        let function = name_at(&cell, at(SOURCE, "tanh", 0) + 2).expect("tanh");
        assert_eq!((function.role, function.declaration), (NameRole::Function, None));
        let output = name_at(&cell, at(SOURCE, "h;", 0)).expect("output h");
        assert_eq!((output.role, output.declaration.map(|d| d.kind)), (NameRole::Output, Some(DeclarationKind::State)));
        let cell_name = name_at(&cell, at(SOURCE, "c {", 0)).expect("the cell");
        assert_eq!(cell_name.declaration.map(|d| d.kind), Some(DeclarationKind::Cell));
        let touching = name_at(&cell, at(SOURCE, " = z;", 0) + 4).expect("the cursor after z");
        assert_eq!(touching.declaration.map(|d| d.kind), Some(DeclarationKind::Let));
    }

    #[test]
    fn lets_are_visible_only_below_their_statement() {
        let source = "cell c { dim H; input x: [H]; state h: [H]; let a = b; let b = x; h' = a; output h; }";
        let cell = parse(source).expect("parses").cells.remove(0);
        let early = name_at(&cell, at(source, "b;", 0)).expect("b");
        assert_eq!(early.declaration, None, "`b` is used above its `let`");
        let names: Vec<String> =
            visible_in_item(&cell, item_at(&cell, at(source, "h' =", 0))).into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["H", "x", "h", "a", "b"]);
        let first: Vec<String> = visible_in_item(&cell, 0).into_iter().map(|d| d.name).collect();
        assert_eq!(first, ["H", "x", "h"]);
    }

    #[test]
    fn the_first_binding_of_a_name_wins_and_builtins_are_never_bound() {
        let source = "cell c { dim H; input x: [H]; let x = 1; let tanh = x; state h: [H]; h' = x; output h; }";
        let cell = parse(source).expect("parses").cells.remove(0);
        let use_of_x = name_at(&cell, at(source, "x;", 1)).expect("x");
        assert_eq!(use_of_x.declaration.map(|d| d.kind), Some(DeclarationKind::Input));
        assert!(declarations(&cell).iter().all(|d| d.name != "tanh"));
    }

    #[test]
    fn the_innermost_typed_expression_holds_the_place() {
        let cell = check_cell(&parse(SOURCE).expect("parses").cells[0]).expect("checks");
        let product = expr_at(&cell, at(SOURCE, "@", 0)).expect("an expression");
        assert!(matches!(cell.exprs[product].kind, Typed::MatVec(..)));
        let state = expr_at(&cell, at(SOURCE, "h +", 0)).expect("an expression");
        assert!(matches!(cell.exprs[state].kind, Typed::State(_)));
        assert_eq!(expr_at(&cell, 0), None);
    }

    /// A vector spread along a matrix is found as written, with its own shape.
    #[test]
    fn a_spread_vector_is_found_as_the_vector() {
        let source = "cell m { dim D; dim N; input x: [D]; state h: [D, N]; param A: [D, N];
            h' = exp(x * A) * h; output h; }";
        let cell = check_cell(&parse(source).expect("parses").cells[0]).expect("checks");
        let x = expr_at(&cell, at(source, "x *", 0)).expect("an expression");
        assert!(matches!(cell.exprs[x].kind, Typed::Input(_)));
        assert_eq!(cell.exprs[x].shape.text(&cell.dims), "[D]");
        let product = expr_at(&cell, at(source, "*", 0)).expect("an expression");
        assert_eq!(cell.exprs[product].shape.text(&cell.dims), "[D, N]");
    }

    /// The lookup agrees with the checker on every name of every shipped cell.
    #[test]
    fn every_name_of_every_shipped_cell_resolves_as_the_checker_resolves_it() {
        for shipped in rnnc_stdlib::CELLS {
            let ast = parse(shipped.source).expect("parses").cells.remove(0);
            let cell = check_cell(&ast).expect("checks");
            let mut names = 0;
            for expr in cell.exprs.values() {
                let expected = match expr.kind {
                    Typed::Input(input) => (DeclarationKind::Input, cell.inputs[input].span),
                    Typed::State(state) | Typed::Next(state) => (DeclarationKind::State, cell.states[state].span),
                    // `W @ v` starts with the matrix's name.
                    Typed::Param(param) | Typed::MatVec(param, _) => (DeclarationKind::Param, cell.params[param].span),
                    Typed::Let(let_) => (DeclarationKind::Let, cell.lets[let_].span),
                    _ => continue,
                };
                let found = name_at(&ast, expr.span.start).and_then(|n| n.declaration).expect("resolved");
                assert_eq!((found.kind, found.span), expected, "{}: {:?}", shipped.name, expr.span);
                names += 1;
            }
            assert!(names > 3, "{}", shipped.name);
        }
    }
}
