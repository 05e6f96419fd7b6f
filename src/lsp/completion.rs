//! Completion: the item keywords where a statement starts, dims inside a
//! declared shape, and in an expression the names it may use (by
//! `check::visible_in_item`: every declaration, the `let`s above, `NAME'` of
//! the states updated above) and the built-in functions with their signatures.
//! The context is read from the text before the cursor, since the statement
//! being typed rarely parses.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation};
use rnnc::compiler::check::{self, DeclarationKind};
use rnnc::compiler::syntax::ast::{self, ItemKind};

use super::builtins::{BUILTINS, signature_line};
use super::document::Document;
use super::hover::{declaration_doc, declaration_line};

/// The keywords that begin an item.
const ITEM_KEYWORDS: [&str; 6] = ["dim", "input", "state", "param", "let", "output"];

/// Where the cursor is, for completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    /// Outside every cell.
    TopLevel,
    /// Where an item begins.
    Statement,
    /// Inside a declared shape `[...]`.
    Shape,
    /// After `output`: a state or a `let`.
    OutputName,
    /// In an expression.
    Expression,
    /// Where a new name is written, or in a comment: nothing to offer.
    Nothing,
}

/// The completions at byte `offset` of `document`.
pub fn completion(document: &Document, offset: u32) -> Vec<CompletionItem> {
    let text = document.text.as_str();
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let word_start = before.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').len();
    let analysis = document.analysis();
    let cell = analysis.cell_at(offset as u32);
    let context = match cell {
        _ if in_comment(before) => Context::Nothing,
        None => Context::TopLevel,
        Some(_) => context_in_cell(&before[..word_start]),
    };
    match (context, cell) {
        (Context::TopLevel, _) => vec![keyword("cell")],
        (Context::Statement, Some((_, cell))) => {
            let mut items: Vec<CompletionItem> = ITEM_KEYWORDS.iter().map(|k| keyword(k)).collect();
            items.extend(check::declarations(cell).into_iter().filter(|d| d.kind == DeclarationKind::State).map(|d| {
                CompletionItem {
                    label: format!("{}'", d.name),
                    kind: Some(CompletionItemKind::FIELD),
                    detail: Some(format!("the next value of state {}", d.name)),
                    ..CompletionItem::default()
                }
            }));
            items
        }
        (Context::Shape, Some(cell)) => names(document, cell, offset as u32, |kind| kind == DeclarationKind::Dim),
        (Context::OutputName, Some(cell)) => {
            names(document, cell, offset as u32, |kind| matches!(kind, DeclarationKind::State | DeclarationKind::Let))
        }
        (Context::Expression, Some((index, cell))) => {
            let mut items = names(document, (index, cell), offset as u32, |kind| {
                !matches!(kind, DeclarationKind::Dim | DeclarationKind::Output | DeclarationKind::Cell)
            });
            items.extend(updated_above(cell, offset as u32).into_iter().map(|name| CompletionItem {
                label: format!("{name}'"),
                kind: Some(CompletionItemKind::FIELD),
                detail: Some(format!("the next value of state {name}, defined above")),
                ..CompletionItem::default()
            }));
            items.extend(BUILTINS.iter().map(|b| CompletionItem {
                label: b.name.to_owned(),
                kind: Some(CompletionItemKind::FUNCTION),
                detail: Some(signature_line(b)),
                documentation: Some(Documentation::String(format!("{}, elementwise", b.meaning))),
                ..CompletionItem::default()
            }));
            items
        }
        _ => Vec::new(),
    }
}

/// The context of the statement that `before` (the text up to the word being
/// typed) ends in.
fn context_in_cell(before: &str) -> Context {
    let start = before.rfind([';', '{', '}']).map_or(0, |i| i + 1);
    let statement = strip_comments(&before[start..]);
    let statement = statement.trim_start();
    let first = statement.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
    let has_equals = statement.contains('=');
    match first {
        _ if statement.is_empty() => Context::Statement,
        "dim" | "cell" => Context::Nothing,
        "input" | "state" | "param" => {
            let open = statement.rfind('[');
            if open.is_some_and(|open| !statement[open..].contains(']')) { Context::Shape } else { Context::Nothing }
        }
        "let" if !has_equals => Context::Nothing,
        "output" if !has_equals => {
            if statement.trim_end() == "output" {
                Context::OutputName
            } else {
                Context::Nothing
            }
        }
        _ if has_equals => Context::Expression,
        _ => Context::Nothing,
    }
}

/// `text` without its comments (a line comment runs to the end of its line).
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('/') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if after.starts_with("//") {
            rest = after.find('\n').map_or("", |end| &after[end..]);
        } else if after.starts_with("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else {
            out.push('/');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether the end of `before` is inside a comment.
fn in_comment(before: &str) -> bool {
    let bytes = before.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            match bytes[i..].iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => i += end,
                None => return true,
            }
        } else if bytes[i..].starts_with(b"/*") {
            match before[i + 2..].find("*/") {
                Some(end) => i += 2 + end + 2,
                None => return true,
            }
        } else {
            i += 1;
        }
    }
    false
}

fn keyword(word: &str) -> CompletionItem {
    CompletionItem { label: word.to_owned(), kind: Some(CompletionItemKind::KEYWORD), ..CompletionItem::default() }
}

/// The names visible at `offset` whose kind `wanted` accepts.
fn names(
    document: &Document,
    (index, cell): (usize, &ast::Cell),
    offset: u32,
    wanted: impl Fn(DeclarationKind) -> bool,
) -> Vec<CompletionItem> {
    let checked = document.analysis().checked(index);
    check::visible_in_item(cell, check::item_at(cell, offset))
        .into_iter()
        .filter(|d| wanted(d.kind))
        .map(|d| CompletionItem {
            label: d.name.clone(),
            kind: Some(match d.kind {
                DeclarationKind::Dim => CompletionItemKind::TYPE_PARAMETER,
                DeclarationKind::State => CompletionItemKind::FIELD,
                DeclarationKind::Param => CompletionItemKind::CONSTANT,
                _ => CompletionItemKind::VARIABLE,
            }),
            detail: Some(declaration_line(cell, checked, &d)),
            documentation: declaration_doc(cell, &d).map(|doc| Documentation::String(doc.to_owned())),
            ..CompletionItem::default()
        })
        .collect()
}

/// The states whose update comes before `offset`.
fn updated_above(cell: &ast::Cell, offset: u32) -> Vec<String> {
    cell.items
        .iter()
        .filter(|item| item.span.end <= offset)
        .filter_map(|item| match &item.kind {
            ItemKind::Update(target, _) => Some(target.name.clone()),
            _ => None,
        })
        .collect()
}
