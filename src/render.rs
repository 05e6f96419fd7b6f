//! Rendering compile errors for people: `FILE:LINE:COL`, the source line, labels.
//! The only place where errors become text (the compiler only makes values).

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};

use crate::Error;

/// Renders `errors` found in the source `text` named `file_name`.
pub fn render_errors(file_name: &str, text: &str, errors: &[Error]) -> String {
    let file = SimpleFile::new(file_name, text);
    let config = Config { chars: Chars::ascii(), ..Config::default() };
    let mut out = String::new();
    for error in errors {
        let diagnostic = to_diagnostic(error, text.len());
        match term::emit_into_string(&config, &file, &diagnostic) {
            Ok(rendered) => out.push_str(&rendered),
            Err(_) => out.push_str(&format!("error: {error}\n  --> {file_name}\n")),
        }
    }
    out
}

fn to_diagnostic(error: &Error, len: usize) -> Diagnostic<()> {
    let clamp = |span: crate::Span| {
        let start = (span.start as usize).min(len);
        start..(span.end as usize).clamp(start, len)
    };
    let mut labels = vec![Label::primary((), clamp(error.span)).with_message(error.label.clone())];
    let mut notes = Vec::new();
    for note in &error.notes {
        match note.span {
            Some(span) => labels.push(Label::secondary((), clamp(span)).with_message(note.message.clone())),
            None => notes.push(format!("help: {}", note.message)),
        }
    }
    Diagnostic::error().with_message(error.kind.to_string()).with_labels(labels).with_notes(notes)
}
