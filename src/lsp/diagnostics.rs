//! Compile errors as LSP diagnostics: the errors are `rnnc check`'s, exactly
//! (`rnnc::compiler::check_source`), converted here and nowhere else.
//!
//! An [`Error`]'s message and primary label make the diagnostic's message; its
//! notes with a place become `relatedInformation` and, since many editors do
//! not show related information inline, also hint diagnostics at their place
//! (as rust-analyzer does with rustc's secondary labels); notes without a place
//! are appended as `help:` lines.

use lsp_types::{Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Uri};
use rnnc::{Error, ErrorKind};

use super::position::LineIndex;

/// The source named in every diagnostic.
pub const SOURCE: &str = "rnnc";

/// The diagnostics of `errors` found in `text`.
pub fn to_diagnostics(uri: &Uri, text: &str, index: &LineIndex, errors: &[Error]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for error in errors {
        let range = index.range(text, error.span);
        let mut message = error.kind.to_string();
        if !error.label.is_empty() {
            message.push_str(&format!("\n{}", error.label));
        }
        let mut related = Vec::new();
        for note in &error.notes {
            match note.span {
                Some(span) => related.push(DiagnosticRelatedInformation {
                    location: Location { uri: uri.clone(), range: index.range(text, span) },
                    message: note.message.clone(),
                }),
                None => message.push_str(&format!("\nhelp: {}", note.message)),
            }
        }
        let primary = Location { uri: uri.clone(), range };
        for info in &related {
            diagnostics.push(Diagnostic {
                range: info.location.range,
                severity: Some(DiagnosticSeverity::HINT),
                code: Some(code(&error.kind)),
                source: Some(SOURCE.to_owned()),
                message: info.message.clone(),
                related_information: Some(vec![DiagnosticRelatedInformation {
                    location: primary.clone(),
                    message: "original diagnostic".to_owned(),
                }]),
                ..Diagnostic::default()
            });
        }
        diagnostics.push(Diagnostic {
            range,
            severity: Some(DiagnosticSeverity::ERROR),
            code: Some(code(&error.kind)),
            source: Some(SOURCE.to_owned()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Diagnostic::default()
        });
    }
    diagnostics
}

/// The kind's name in snake case (`ShapeMismatch` -> `shape_mismatch`), the
/// names of the fixtures in `tests/diagnostics/`.
fn code(kind: &ErrorKind) -> NumberOrString {
    let debug = format!("{kind:?}");
    let variant = debug.split([' ', '{', '(']).next().unwrap_or("");
    let mut code = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                code.push('_');
            }
            code.push(c.to_ascii_lowercase());
        } else {
            code.push(c);
        }
    }
    NumberOrString::String(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsp::analysis::check_errors;
    use crate::lsp::position::Encoding;

    #[test]
    fn labels_related_places_and_hints_all_reach_the_diagnostic() {
        let text = "cell c {\n  dim H; dim D;\n  input x: [D];\n  state h: [H];\n  param W: [H, D];\n  h' = W @ h;\n  output h;\n}\n";
        let uri: Uri = "file:///c.rnn".parse().expect("a uri");
        let index = LineIndex::new(text, Encoding::Utf16);
        let diagnostics = to_diagnostics(&uri, text, &index, &check_errors(text));
        let error = diagnostics.iter().find(|d| d.severity == Some(DiagnosticSeverity::ERROR)).expect("an error");
        assert_eq!(error.message, "shape mismatch in `@`: [H, D] times [H]\nthis is [H], expected [D]");
        assert_eq!((error.range.start.line, error.range.start.character), (5, 11));
        assert_eq!(error.code, Some(NumberOrString::String("mat_vec_mismatch".into())));
        let related = error.related_information.as_ref().expect("related");
        assert_eq!(related[0].message, "this is [H, D]");
        assert_eq!(related[0].location.range.start.character, 7);
        let hint = diagnostics.iter().find(|d| d.severity == Some(DiagnosticSeverity::HINT)).expect("a hint");
        assert_eq!(hint.message, "this is [H, D]");

        let unknown = "cell c { dim H; input x: [H]; state memory: [H]; memory' = x + memroy; output memory; }";
        let index = LineIndex::new(unknown, Encoding::Utf16);
        let diagnostics = to_diagnostics(&uri, unknown, &index, &check_errors(unknown));
        assert_eq!(diagnostics[0].message, "unknown name `memroy`\nnot defined\nhelp: did you mean `memory`?");
    }
}
