//! Hover: on a name, its declaration (kind and shape, e.g. `param W: [H, D]`)
//! and doc comment; on a cell's name, the proved Jacobian structure with its
//! reason and the hoisted work; on a call's function, its signature; on any
//! other place of an expression, the expression's shape. Names are resolved by
//! `check::name_at`, shapes read from the checked cell (`check::expr_at`).

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};
use rnnc::compiler::analyse::JacobianStructure;
use rnnc::compiler::check::{self, Cell, Declaration, DeclarationKind, NameAt, NameRole, Shape};
use rnnc::compiler::plan::Device;
use rnnc::compiler::syntax::ast::{self, ItemKind, ParamShape, Size};

use super::builtins::{builtin, signature_line};
use super::document::Document;
use super::facts::FactsCache;

/// The longest expression quoted in a hover, in characters.
const MAX_QUOTED: usize = 80;

/// The hover at byte `offset` of `document`.
pub fn hover(document: &Document, facts: &mut FactsCache, offset: u32) -> Option<Hover> {
    let analysis = document.analysis();
    let (index, cell) = analysis.cell_at(offset)?;
    let checked = analysis.checked(index);
    let (markdown, span) = match check::name_at(cell, offset) {
        Some(name) if name.role == NameRole::Function => (function(&name, checked, offset), name.span),
        Some(name) if name.declaration.as_ref().is_some_and(|d| d.kind == DeclarationKind::Cell) => {
            (cell_hover(cell, checked, facts, analysis.cell_text(index)), name.span)
        }
        Some(name) if name.declaration.is_some() => (declared(cell, checked, &name), name.span),
        _ => {
            let checked = checked?;
            let expr = check::expr_at(checked, offset)?;
            let expr = &checked.exprs[expr];
            let written = quote(document.text.get(expr.span.range()).unwrap_or(""));
            (format!("{}\n\nshape `{}`", code(&written), expr.shape.text(&checked.dims)), expr.span)
        }
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: markdown }),
        range: Some(document.range(span)),
    })
}

/// A fenced `.rnn` code block.
fn code(text: &str) -> String {
    format!("```rnn\n{text}\n```")
}

/// An expression's text on one line, shortened.
fn quote(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_QUOTED {
        return line;
    }
    let cut: String = line.chars().take(MAX_QUOTED).collect();
    format!("{cut} ...")
}

fn function(name: &NameAt, checked: Option<&Cell>, offset: u32) -> String {
    let Some(doc) = builtin(&name.name) else {
        return format!("{}\n\nnot a built-in function", code(&name.name));
    };
    let mut text = format!("{}\n\n{}, elementwise", code(&signature_line(doc)), doc.meaning);
    if let Some(cell) = checked
        && let Some(call) = check::expr_at(cell, offset)
    {
        text.push_str(&format!("\n\nthis call: `{}`", cell.exprs[call].shape.text(&cell.dims)));
    }
    text
}

/// `[H, D]` as written.
fn sizes_text(sizes: &[Size]) -> String {
    let sizes: Vec<String> = sizes.iter().map(Size::text).collect();
    format!("[{}]", sizes.join(", "))
}

/// A declaration as written, with its shape: `param W: [H, D]`, `let z: [H]`
/// (the shape of a `let` or output known once the cell checks).
pub fn declaration_line(cell: &ast::Cell, checked: Option<&Cell>, declaration: &Declaration) -> String {
    let item = declaration.item.and_then(|i| cell.items.get(i));
    let value_shape = || -> Option<String> {
        let checked = checked?;
        let span = declaration.span;
        let let_value = checked.lets.values().find(|l| l.span == span).map(|l| checked.exprs[l.value].shape);
        let shape =
            let_value.or_else(|| checked.outputs.values().find(|o| o.span == span).map(|o| Shape::Vector(o.size)));
        Some(format!(": {}", shape?.text(&checked.dims)))
    };
    let shape = match item.map(|item| &item.kind) {
        Some(ItemKind::Input(_, shape) | ItemKind::State(_, shape)) => format!(": {}", sizes_text(&shape.sizes)),
        Some(ItemKind::Param(_, ParamShape::Dense(shape))) => format!(": {}", sizes_text(&shape.sizes)),
        Some(ItemKind::Param(_, ParamShape::Block { size, block, .. })) => {
            let side = sizes_text(std::slice::from_ref(size));
            format!(": block[{}, {}]", &side[1..side.len() - 1], block.value)
        }
        Some(ItemKind::Param(_, ParamShape::Scalar(_))) => ": scalar".to_owned(),
        Some(ItemKind::Let(..) | ItemKind::Output(..)) => value_shape().unwrap_or_default(),
        _ => String::new(),
    };
    format!("{} {}{shape}", declaration.kind.keyword(), declaration.name)
}

/// The doc comment of the item that declares `declaration`.
pub fn declaration_doc<'c>(cell: &'c ast::Cell, declaration: &Declaration) -> Option<&'c str> {
    match declaration.item {
        Some(item) => cell.items.get(item)?.doc.as_deref(),
        None => cell.doc.as_deref(),
    }
}

/// The declaration `name` refers to, as written, with its doc comment and what
/// the use means.
fn declared(cell: &ast::Cell, checked: Option<&Cell>, name: &NameAt) -> String {
    let Some(declaration) = &name.declaration else { return String::new() };
    let mut text = code(&declaration_line(cell, checked, declaration));
    match (name.role, declaration.kind) {
        (NameRole::Next, _) => text.push_str(&format!("\n\n`{}'`: the state's next value", declaration.name)),
        (NameRole::UpdateTarget, _) => {
            text.push_str(&format!("\n\n`{}' = ...`: the state's next value", declaration.name))
        }
        (NameRole::Output, DeclarationKind::State) => {
            text.push_str(&format!("\n\n`output {};`: the sequence of the state's new values", declaration.name))
        }
        (NameRole::Output, _) => {
            text.push_str(&format!("\n\n`output {};`: the sequence of its values", declaration.name))
        }
        (NameRole::Use, DeclarationKind::State) => {
            text.push_str(&format!("\n\n`{}`: the state's previous value", declaration.name))
        }
        _ => {}
    }
    if let Some(doc) = declaration_doc(cell, declaration) {
        text.push_str(&format!("\n\n{doc}"));
    }
    text
}

/// A cell's doc and what the compiler proved about it.
fn cell_hover(cell: &ast::Cell, checked: Option<&Cell>, facts: &mut FactsCache, text: &str) -> String {
    let mut out = code(&format!("cell {}", cell.name.name));
    if let Some(doc) = &cell.doc {
        out.push_str(&format!("\n\n{doc}"));
    }
    out.push_str("\n\n---\n\n");
    let Some(checked) = checked else {
        out.push_str("This cell has errors: its Jacobian is proved once it checks.");
        return out;
    };
    match &*facts.facts(text, checked) {
        Err(reason) => out.push_str(&format!("Not derived: {reason}")),
        Ok(facts) => {
            let states: Vec<&str> = checked.states.values().map(|s| s.name.as_str()).collect();
            let order = if facts.interleaved { "interleaved channel by channel" } else { "concatenated" };
            out.push_str(&format!(
                "**Jacobian** d state'/d state: **{}** ({}); states {} ({order}), {} unknowns per step",
                facts.structure,
                facts.reason,
                states.join(", "),
                facts.unknowns
            ));
            let list = |items: &[String]| items.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ");
            if facts.hoisted.is_empty() {
                out.push_str("\n\n**Hoisted**: nothing (every value depends on the state)");
            } else {
                out.push_str(&format!(
                    "\n\n**Hoisted** (computed for all B x T steps before the recurrence): {}",
                    list(&facts.hoisted)
                ));
            }
            if facts.structure == JacobianStructure::Dense {
                let (gpu, cpu) = (Device::Gpu.dense_newton_unknowns(), Device::Cpu.dense_newton_unknowns());
                out.push_str(&format!(
                    "\n\n**Dense**: Newton solves it with up to {gpu} unknowns on the GPU and {cpu} on the CPU; \
                     with more, the sequential method runs"
                ));
            }
            if !facts.projections.is_empty() {
                out.push_str(&format!("\n\n**Input projections**: {}", list(&facts.projections)));
            }
        }
    }
    out
}
