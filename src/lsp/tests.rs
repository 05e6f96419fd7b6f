//! The server in process, message by message: every request on every prefix
//! of every shipped cell answers (no error, no panic), and what hover,
//! definition, completion and the lens say on a small cell. `tests/lsp.rs`
//! drives the real binary over stdio.

use std::time::Instant;

use lsp_server::{Notification, Request, RequestId, Response};
use lsp_types::{Position, Range, TextDocumentContentChangeEvent, Uri};
use serde_json::{Value, json};

use super::position::Encoding;
use super::server::Server;

const URI: &str = "file:///cell.rnn";

/// A client of an in-process server.
struct Client {
    server: Server,
    next_id: i32,
    version: i32,
}

impl Client {
    fn new() -> Client {
        Client { server: Server::new(Encoding::Utf16), next_id: 0, version: 0 }
    }

    fn notify(&mut self, method: &str, params: Value) -> Vec<Notification> {
        self.server.notify(Notification::new(method.to_owned(), params))
    }

    fn open(&mut self, text: &str) -> Vec<Notification> {
        self.version += 1;
        let document = json!({ "uri": URI, "languageId": "rnn", "version": self.version, "text": text });
        self.notify("textDocument/didOpen", json!({ "textDocument": document }))
    }

    fn change(&mut self, range: Option<Range>, text: &str) -> Vec<Notification> {
        self.version += 1;
        let change = TextDocumentContentChangeEvent { range, range_length: None, text: text.to_owned() };
        let document = json!({ "uri": URI, "version": self.version });
        self.notify("textDocument/didChange", json!({ "textDocument": document, "contentChanges": [change] }))
    }

    fn request(&mut self, method: &str, params: Value) -> Response {
        self.next_id += 1;
        self.server.request(Request::new(RequestId::from(self.next_id), method.to_owned(), params))
    }

    fn at(&mut self, method: &str, position: Position) -> Value {
        let params = json!({ "textDocument": { "uri": URI }, "position": position, "context": { "triggerKind": 1 } });
        answer(self.request(method, params))
    }

    fn whole(&mut self, method: &str) -> Value {
        let range = Range::new(Position::new(0, 0), Position::new(u32::MAX, 0));
        answer(self.request(method, json!({ "textDocument": { "uri": URI }, "range": range })))
    }
}

fn answer(response: Response) -> Value {
    match response.response_result {
        Ok(value) => value,
        Err(error) => panic!("{error:?}"),
    }
}

/// The position of byte `offset` of `text` (UTF-16 columns; no `\r` in these texts).
fn position(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    Position::new(line, before[start..].encode_utf16().count() as u32)
}

const POSITIONAL: [&str; 3] = ["textDocument/hover", "textDocument/definition", "textDocument/completion"];
const WHOLE: [&str; 3] = ["textDocument/documentSymbol", "textDocument/codeLens", "textDocument/inlayHint"];

/// Types every shipped cell character by character (an incremental change per
/// character) and asks every request at the cursor and at seven places spread
/// over the text so far; then every positional request at every character of
/// the whole cell.
#[test]
fn every_request_answers_on_every_prefix_of_every_shipped_cell() {
    let started = Instant::now();
    let mut requests = 0usize;
    for shipped in rnnc::stdlib::CELLS {
        let source = shipped.source;
        let mut client = Client::new();
        client.open("");
        let mut typed = 0;
        for (at, c) in source.char_indices().chain(std::iter::once((source.len(), ' '))) {
            let text = &source[..at];
            if at > typed {
                let end = position(source, typed);
                let published = client.change(Some(Range::new(end, end)), &source[typed..at]);
                assert_eq!(published.len(), 1, "one publication per change");
                assert_eq!(published[0].params["version"], client.version);
                typed = at;
            }
            let mut places: Vec<usize> = (0..7).map(|i| text.len() * i / 7).collect();
            places.push(text.len());
            for place in places {
                let mut place = place;
                while !text.is_char_boundary(place) {
                    place -= 1;
                }
                for method in POSITIONAL {
                    client.at(method, position(text, place));
                    requests += 1;
                }
            }
            for method in WHOLE {
                client.whole(method);
                requests += 1;
            }
            let _ = c;
        }
        for (at, _) in source.char_indices() {
            for method in POSITIONAL {
                client.at(method, position(source, at));
                requests += 1;
            }
        }
        let lens = client.whole("textDocument/codeLens");
        assert_eq!(lens.as_array().map(Vec::len), Some(1), "{}: {lens}", shipped.name);
    }
    // Through `commands::stdio` (a closed stream is no panic), and shown without
    // `--nocapture`: the figure docs/EDITORS.md quotes.
    crate::commands::stdio::err(&format!(
        "{requests} requests on every prefix of every shipped cell in {:.2?}\n",
        started.elapsed()
    ));
}

const CELL: &str = "/// A tiny cell.
cell tiny {
    dim H;
    dim D;
    input x: [D];
    /// The memory.
    state h: [H];
    param W: [H, D];
    param a: [H];
    let z = tanh(a * h + W @ x);
    h' = z;
    output h;
}
";

fn place(needle: &str) -> Position {
    position(CELL, CELL.find(needle).expect("in the cell"))
}

fn markdown(hover: &Value) -> String {
    hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("no markdown in {hover}")).to_owned()
}

#[test]
fn hover_shows_declarations_shapes_and_the_proved_structure() {
    let mut client = Client::new();
    client.open(CELL);
    let param = markdown(&client.at("textDocument/hover", place("W @")));
    assert!(param.starts_with("```rnn\nparam W: [H, D]\n```"), "{param}");
    let state = markdown(&client.at("textDocument/hover", place("h + W")));
    assert!(state.contains("state h: [H]") && state.contains("The memory."), "{state}");
    let sum = markdown(&client.at("textDocument/hover", place("+ W")));
    assert_eq!(sum, "```rnn\na * h + W @ x\n```\n\nshape `[H]`");
    let function = markdown(&client.at("textDocument/hover", place("tanh")));
    assert!(function.contains("tanh(x) -> shape of x") && function.contains("this call: `[H]`"), "{function}");
    let let_ = markdown(&client.at("textDocument/hover", place("z;")));
    assert!(let_.starts_with("```rnn\nlet z: [H]\n```"), "{let_}");
    let output = markdown(&client.at("textDocument/hover", place("h;")));
    assert!(output.contains("the sequence of the state's new values"), "{output}");
    let cell = markdown(&client.at("textDocument/hover", place("tiny {")));
    assert!(cell.contains("A tiny cell.") && cell.contains("**diagonal**"), "{cell}");
    assert!(cell.contains("`W @ x`"), "hoisted work: {cell}");
}

#[test]
fn hover_on_a_dense_cell_says_when_newton_solves_it() {
    let mut client = Client::new();
    let elman = rnnc::stdlib::get("elman").expect("shipped").source;
    client.open(elman);
    let cell = markdown(&client.at("textDocument/hover", position(elman, elman.find("elman {").expect("the cell"))));
    assert!(cell.contains("**dense**") && cell.contains("up to 16 unknowns on the GPU and 128 on the CPU"), "{cell}");
    let lens = client.whole("textDocument/codeLens");
    assert!(
        lens[0]["command"]["title"].as_str().expect("a title").starts_with("dense Jacobian (H unknowns)"),
        "{lens}"
    );
}

#[test]
fn definition_goes_to_the_declaration() {
    let mut client = Client::new();
    client.open(CELL);
    let location = client.at("textDocument/definition", place("a * h"));
    assert_eq!(location["range"]["start"], json!(place("a: [H]")));
    let next = client.at("textDocument/definition", place("h;"));
    assert_eq!(next["range"]["start"], json!(place("h: [H]")));
    assert_eq!(client.at("textDocument/definition", place("tanh")), Value::Null);
}

#[test]
fn completion_offers_what_the_place_allows() {
    let labels = |items: &Value| -> Vec<String> {
        items.as_array().expect("a list").iter().map(|i| i["label"].as_str().expect("a label").to_owned()).collect()
    };
    let mut client = Client::new();
    let typing = CELL.replace("    h' = z;", "    h' = tanh(z) + si");
    client.open(&typing);
    let end = position(&typing, typing.find("+ si").expect("typed") + 4);
    let items = labels(&client.at("textDocument/completion", end));
    for expected in ["x", "h", "a", "z", "sigmoid", "silu", "min"] {
        assert!(items.iter().any(|l| l == expected), "{expected} in {items:?}");
    }
    assert!(!items.iter().any(|l| l == "H" || l == "let"), "{items:?}");
    let shape_text = CELL.replace("    param a: [H];", "    param a: [");
    client.change(None, &shape_text);
    let shape = labels(
        &client.at("textDocument/completion", position(&shape_text, shape_text.find(": [\n").expect("typed") + 3)),
    );
    assert_eq!(shape, ["H", "D"]);
    let statement = labels(&client.at("textDocument/completion", place("    h' = ")));
    assert!(statement.contains(&"let".to_owned()) && statement.contains(&"h'".to_owned()), "{statement:?}");
}

#[test]
fn the_lens_and_the_hint_name_the_structure() {
    let mut client = Client::new();
    client.open(CELL);
    let lens = client.whole("textDocument/codeLens");
    assert_eq!(lens[0]["command"]["title"], "diagonal Jacobian · 1 value hoisted");
    let hints = client.whole("textDocument/inlayHint");
    assert_eq!(hints[0]["label"], ": diagonal Jacobian · 1 value hoisted");
    assert_eq!(hints[0]["position"], json!(place(" {\n    dim H")));
    let broken = CELL.replace("h' = z;", "h' = q;");
    client.change(None, &broken);
    assert_eq!(client.whole("textDocument/codeLens"), json!([]));
}

#[test]
fn a_request_for_an_unknown_document_or_method_is_answered() {
    let mut client = Client::new();
    let uri: Uri = "file:///nowhere.rnn".parse().expect("a uri");
    let response = client
        .request("textDocument/hover", json!({ "textDocument": { "uri": uri }, "position": Position::new(0, 0) }));
    assert_eq!(response.response_result.ok(), Some(Value::Null));
    client.open(CELL);
    for method in POSITIONAL {
        client.at(method, Position::new(9999, 9999));
        client.at(method, Position::new(1, 9999));
    }
    let garbled = client.request("textDocument/hover", json!({ "position": "here" }));
    assert_eq!(garbled.response_result.err().map(|e| e.code), Some(lsp_server::ErrorCode::InvalidParams as i32));
    let unknown = client.request("textDocument/rename", json!({}));
    assert_eq!(unknown.response_result.err().map(|e| e.code), Some(lsp_server::ErrorCode::MethodNotFound as i32));
}

/// Every fixture of `tests/diagnostics/` (one per kind of error): one error
/// diagnostic per error `rnnc check` reports, with its message, at the line and
/// column the compiler gives it (`LineCol`, 1-based, counting characters).
#[test]
fn every_diagnostics_fixture_is_published_error_for_error() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut fixtures: Vec<_> =
        std::fs::read_dir(&folder).expect("tests/diagnostics").map(|e| e.expect("entry").path()).collect();
    fixtures.sort();
    let mut checked = 0;
    for path in fixtures.iter().filter(|p| p.extension().is_some_and(|e| e == "rnn")) {
        // An editor's text is always UTF-8: the not-UTF-8 fixture cannot be opened.
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        let errors = rnnc::compiler::check_source(&text).expect_err("a fixture has errors");
        let mut client = Client::new();
        let published = client.open(&text);
        let diagnostics = published[0].params["diagnostics"].as_array().expect("a list").clone();
        let shown: Vec<&Value> = diagnostics.iter().filter(|d| d["severity"] == 1).collect();
        assert_eq!(shown.len(), errors.len(), "{}", path.display());
        for (diagnostic, error) in shown.iter().zip(&errors) {
            let message = diagnostic["message"].as_str().expect("a message");
            assert!(message.starts_with(&error.kind.to_string()), "{}: {message}", path.display());
            let at = rnnc::compiler::LineCol::of(&text, error.span.start);
            let start = &diagnostic["range"]["start"];
            assert_eq!(start["line"], at.line - 1, "{}", path.display());
            let line = text.lines().nth(at.line - 1).unwrap_or("");
            let utf16: usize = line.chars().take(at.column - 1).map(char::len_utf16).sum();
            assert_eq!(start["character"], utf16, "{}", path.display());
            let related = error.notes.iter().filter(|n| n.span.is_some()).count();
            assert_eq!(diagnostic["relatedInformation"].as_array().map_or(0, Vec::len), related, "{}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 20, "{checked} fixtures");
}

/// Pieces of the grammar spliced into the shipped cells by the property below.
const FRAGMENTS: [&str; 24] = [
    "(", ")", "[", "]", "{", "}", ";", ":", ",", "'", "=", "+", "@", "/*", "*/", "//", "///", "cell", "let", "output",
    "block[", "\n", "é𝔸", "1e99",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// A shipped cell with fragments inserted and ranges deleted or repeated:
    /// every request answers, at the edits and at places spread over the text.
    #[test]
    fn every_request_answers_on_mutated_shipped_cells(
        cell in 0..rnnc::stdlib::CELLS.len(),
        edits in proptest::collection::vec((0usize..4096, 0usize..FRAGMENTS.len(), 0usize..3, 1usize..40), 1..6),
    ) {
        let mut text = rnnc::stdlib::CELLS[cell].source.to_owned();
        let mut places = Vec::new();
        for (at, fragment, kind, len) in edits {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            match kind {
                0 => text.insert_str(at, FRAGMENTS[fragment]),
                1 => text.replace_range(at..end, ""),
                _ => {
                    let copy = text[at..end].to_owned();
                    text.insert_str(end, &copy);
                }
            }
            places.push(at);
        }
        let mut client = Client::new();
        client.open(&text);
        places.extend((0..=8).map(|i| text.len() * i / 8));
        for place in places {
            let mut place = place.min(text.len());
            while !text.is_char_boundary(place) {
                place -= 1;
            }
            for method in POSITIONAL {
                client.at(method, position(&text, place));
            }
        }
        for method in WHOLE {
            client.whole(method);
        }
    }
}
