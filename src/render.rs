//! Rendering compile errors for people: `FILE:LINE:COL`, the source line, labels.
//! The only place where errors become text (the compiler only makes values).
//!
//! Lines are broken at `\n`, `\r\n` and a lone `\r`. A source line longer than
//! [`MAX_SHOWN_LINE`] bytes (a generated file, a minified one) is shown as a
//! window around the error, so one diagnostic stays a few lines whatever the file.

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};
use rnnc_compiler::LineCol;

use crate::Error;

/// The longest source line shown whole, in bytes.
pub const MAX_SHOWN_LINE: usize = 240;

/// Characters shown on each side of an error on a long line.
const CONTEXT_CHARS: usize = 60;

/// The most characters of one label's span underlined on a long line.
const MAX_UNDERLINE: usize = 80;

/// Renders `errors` found in the source `text` named `file_name`.
pub fn render_errors(file_name: &str, text: &str, errors: &[Error]) -> String {
    // A lone `\r` becomes `\n`, byte for byte, so spans still point at the same text.
    let normalised;
    let text = if text.contains('\r') {
        normalised = lone_carriage_returns_to_newlines(text);
        normalised.as_str()
    } else {
        text
    };
    let file = SimpleFile::new(file_name, text);
    let config = Config { chars: Chars::ascii(), ..Config::default() };
    let mut out = String::new();
    for error in errors {
        if labelled_spans(error, text.len()).any(|span| line_of(text, span.start).len() > MAX_SHOWN_LINE) {
            out.push_str(&render_windowed(file_name, text, error));
            continue;
        }
        let diagnostic = to_diagnostic(error, text.len());
        match term::emit_into_string(&config, &file, &diagnostic) {
            Ok(rendered) => out.push_str(&rendered),
            Err(_) => out.push_str(&format!("error: {error}\n  --> {file_name}\n")),
        }
    }
    out
}

fn lone_carriage_returns_to_newlines(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for i in 0..bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            bytes[i] = b'\n';
        }
    }
    // Only ASCII bytes changed, so the text is still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A span clamped to the text, on character boundaries.
fn clamp(span: crate::Span, text: &str) -> std::ops::Range<usize> {
    let boundary = |mut at: usize| {
        at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = boundary(span.start as usize);
    start..boundary((span.end as usize).max(start))
}

/// The spans shown with source text: the primary one and the related places.
fn labelled_spans(error: &Error, len: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    std::iter::once(error.span).chain(error.notes.iter().filter_map(|note| note.span)).map(move |span| {
        let start = (span.start as usize).min(len);
        start..(span.end as usize).clamp(start, len)
    })
}

/// The line holding byte `offset`, without its line break.
fn line_of(text: &str, offset: usize) -> &str {
    let offset = offset.min(text.len());
    let start = text.as_bytes()[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let end = text.as_bytes()[offset..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| offset + i);
    let line = text.get(start..end).unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
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

/// An error whose line is too long to show whole: the message, the place, a
/// window of the line around the primary span, and the related places as notes.
fn render_windowed(file_name: &str, text: &str, error: &Error) -> String {
    let range = clamp(error.span, text);
    let place = LineCol::of(text, range.start as u32);
    let gutter = " ".repeat(place.line.to_string().len() + 1);
    let mut out = format!("error: {}\n{gutter}--> {file_name}:{place}\n{gutter}|\n", error.kind);
    let line_start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let line = line_of(text, range.start);
    let chars: Vec<char> = line.chars().collect();
    let start = text[line_start..range.start].chars().count().min(chars.len());
    let end = text[line_start..range.end.clamp(range.start, line_start + line.len())].chars().count();
    let underline = (end.max(start + 1) - start).min(MAX_UNDERLINE);
    let from = start.saturating_sub(CONTEXT_CHARS);
    let to = (start + underline + CONTEXT_CHARS).min(chars.len());
    let (before, after) = (if from > 0 { "..." } else { "" }, if to < chars.len() { "..." } else { "" });
    let shown: String = chars[from..to].iter().collect();
    out.push_str(&format!("{} | {before}{shown}{after}\n", place.line));
    let pad = " ".repeat(before.len() + start - from);
    let label = if error.label.is_empty() { String::new() } else { format!(" {}", error.label) };
    out.push_str(&format!("{gutter}| {pad}{}{label}\n", "^".repeat(underline)));
    for note in &error.notes {
        match note.span {
            Some(span) => {
                let at = LineCol::of(text, clamp(span, text).start as u32);
                out.push_str(&format!("{gutter}= note: {file_name}:{at}: {}\n", note.message));
            }
            None => out.push_str(&format!("{gutter}= help: {}\n", note.message)),
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_shown_as_a_window_with_the_right_column() {
        let text = format!(
            "cell c {{\n  dim H; input x: [H];\n  h' = {}q;\n  state h: [H];\n  output h;\n}}\n",
            "h + ".repeat(100_000)
        );
        let errors = rnnc_compiler::check_source(&text).expect_err("`q` is unknown");
        let rendered = render_errors("long.rnn", &text, &errors);
        assert!(rendered.len() < 1000, "{} bytes", rendered.len());
        assert!(rendered.contains("--> long.rnn:3:400008"), "{rendered}");
        assert!(rendered.contains("...h + h + ") && rendered.contains("h + q;"), "{rendered}");
        let caret_line = rendered.lines().find(|l| l.contains('^')).expect("a caret");
        let source_line = rendered.lines().find(|l| l.contains("h + q")).expect("the window");
        assert_eq!(caret_line.find('^'), source_line.find('q'), "{rendered}");
    }

    #[test]
    fn lone_carriage_returns_break_lines() {
        let text = "cell c {\r  dim H; input x: [H];\r  state h: [H];\r  h' = q;\r  output h;\r}\r";
        let errors = rnnc_compiler::check_source(text).expect_err("`q` is unknown");
        let rendered = render_errors("cr.rnn", text, &errors);
        assert!(rendered.contains("--> cr.rnn:4:8"), "{rendered}");
        assert!(!rendered.contains('\r'), "{rendered:?}");
    }
}
