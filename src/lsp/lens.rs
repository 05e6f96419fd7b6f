//! The proved Jacobian structure on each cell, as a code lens above it (VS Code,
//! Neovim) and as an inlay hint after its name (Helix, which shows no lenses):
//! "diagonal Jacobian", "block-diagonal Jacobian, K = 4", "dense Jacobian (16
//! unknowns)", from [`super::facts`]. A cell with errors gets neither.

use lsp_types::{CodeLens, Command, InlayHint, InlayHintKind, InlayHintLabel, InlayHintTooltip, Range};

use super::document::Document;
use super::facts::FactsCache;

/// The label of every cell that checks and derives, with the cell's index.
fn labels(document: &Document, facts: &mut FactsCache) -> Vec<(usize, String, String)> {
    let analysis = document.analysis();
    (0..analysis.cells().len())
        .filter_map(|index| {
            let checked = analysis.checked(index)?;
            let facts = facts.facts(analysis.cell_text(index), checked);
            let facts = facts.as_ref().as_ref().ok()?;
            Some((index, facts.label(), facts.reason.clone()))
        })
        .collect()
}

/// One lens per cell, on its first line.
pub fn code_lenses(document: &Document, facts: &mut FactsCache) -> Vec<CodeLens> {
    let cells = document.analysis().cells();
    labels(document, facts)
        .into_iter()
        .map(|(index, label, _)| CodeLens {
            range: document.range(cells[index].name.span),
            // A command that runs nothing: editors show its title as text.
            command: Some(Command { title: label, command: String::new(), arguments: None }),
            data: None,
        })
        .collect()
}

/// One hint per cell within `range`, after its name.
pub fn inlay_hints(document: &Document, facts: &mut FactsCache, range: Range) -> Vec<InlayHint> {
    let span = document.index.span(&document.text, range);
    let cells = document.analysis().cells();
    labels(document, facts)
        .into_iter()
        .filter(|&(index, ..)| cells[index].span.start <= span.end && span.start <= cells[index].span.end)
        .map(|(index, label, reason)| InlayHint {
            position: document.position(cells[index].name.span.end),
            label: InlayHintLabel::String(format!(": {label}")),
            kind: Some(InlayHintKind::TYPE),
            text_edits: None,
            tooltip: Some(InlayHintTooltip::String(reason)),
            padding_left: Some(false),
            padding_right: Some(true),
            data: None,
        })
        .collect()
}
