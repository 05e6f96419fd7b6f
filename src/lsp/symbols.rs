//! Document symbols: each cell, with its declarations and statements as
//! children (dims, inputs, states, params, lets, updates, outputs), from the
//! tolerant syntax tree.

use lsp_types::{DocumentSymbol, SymbolKind};
use rnnc::compiler::syntax::ast::{ItemKind, ParamShape, Shape, Size};

use super::document::Document;

/// The outline of `document`.
pub fn symbols(document: &Document) -> Vec<DocumentSymbol> {
    let analysis = document.analysis();
    analysis
        .cells()
        .iter()
        .map(|cell| {
            let children = cell
                .items
                .iter()
                .map(|item| {
                    let (name, kind, detail) = match &item.kind {
                        ItemKind::Dim(name) => (name, SymbolKind::TYPE_PARAMETER, "dim".to_owned()),
                        ItemKind::Input(name, shape) => {
                            (name, SymbolKind::VARIABLE, format!("input {}", shape_text(shape)))
                        }
                        ItemKind::State(name, shape) => {
                            (name, SymbolKind::FIELD, format!("state {}", shape_text(shape)))
                        }
                        ItemKind::Param(name, ParamShape::Dense(shape)) => {
                            (name, SymbolKind::CONSTANT, format!("param {}", shape_text(shape)))
                        }
                        ItemKind::Param(name, ParamShape::Block { size, block, .. }) => {
                            (name, SymbolKind::CONSTANT, format!("param block[{}, {}]", size_text(size), block.value))
                        }
                        ItemKind::Param(name, ParamShape::Scalar(_)) => {
                            (name, SymbolKind::CONSTANT, "param scalar".to_owned())
                        }
                        ItemKind::Let(name, _) => (name, SymbolKind::VARIABLE, "let".to_owned()),
                        ItemKind::Update(name, _) => (name, SymbolKind::METHOD, "next value".to_owned()),
                        ItemKind::Output(name, _) => (name, SymbolKind::EVENT, "output".to_owned()),
                    };
                    let shown = match &item.kind {
                        ItemKind::Update(..) => format!("{}'", name.name),
                        _ => name.name.clone(),
                    };
                    symbol(document, shown, kind, detail, item.span, name.span, None)
                })
                .collect();
            let detail = cell.doc.as_deref().and_then(|doc| doc.lines().next()).unwrap_or("cell").to_owned();
            symbol(
                document,
                cell.name.name.clone(),
                SymbolKind::CLASS,
                detail,
                cell.span,
                cell.name.span,
                Some(children),
            )
        })
        .collect()
}

fn size_text(size: &Size) -> String {
    size.text()
}

fn shape_text(shape: &Shape) -> String {
    format!("[{}]", shape.sizes.iter().map(size_text).collect::<Vec<_>>().join(", "))
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be given, as `None`.
fn symbol(
    document: &Document,
    name: String,
    kind: SymbolKind,
    detail: String,
    span: rnnc::Span,
    name_span: rnnc::Span,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail: Some(detail),
        kind,
        tags: None,
        deprecated: None,
        range: document.range(span),
        selection_range: document.range(name_span),
        children,
    }
}
