//! `rnnc lsp` driven over stdio, as an editor drives it: initialize, a cell with
//! errors opened and its diagnostics published (labels as related information,
//! help notes); hover, definition, completion, symbols, code lens and inlay
//! hints; shutdown and exit. And the response time: diagnostics of every shipped
//! cell after a change, measured from the change's write to the publication's
//! read (`cargo test --release --test lsp -- --nocapture` prints the figures).

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use lsp_server::{Message, Notification, Request, RequestId};
use lsp_types::{Position, Range};
use serde_json::{Value, json};

/// How long any answer may take before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `rnnc lsp` and what it has sent.
struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Message>,
    next_id: i32,
    pending: Vec<Notification>,
}

impl Server {
    /// Starts the server and initializes it (positions in UTF-16).
    fn start() -> Server {
        Server::start_with(json!({}), "utf-16")
    }

    /// Starts the server with the client's `capabilities`; it must choose `encoding`.
    fn start_with(client_capabilities: Value, encoding: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rnnc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rnnc lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            while let Ok(Some(message)) = Message::read(&mut stdout) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, stdin, messages, next_id: 0, pending: Vec::new() };
        let capabilities = server.request("initialize", json!({ "capabilities": client_capabilities }));
        let capabilities = &capabilities["capabilities"];
        for provider in ["hoverProvider", "definitionProvider", "completionProvider", "documentSymbolProvider"] {
            assert!(!capabilities[provider].is_null(), "{provider}: {capabilities}");
        }
        assert_eq!(capabilities["positionEncoding"], encoding);
        server.notify("initialized", json!({}));
        server
    }

    fn send(&mut self, message: Message) {
        message.write(&mut self.stdin).expect("the server reads");
        self.stdin.flush().expect("the server reads");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(Message::Notification(Notification::new(method.to_owned(), params)));
    }

    fn next(&mut self) -> Message {
        self.messages.recv_timeout(PATIENCE).expect("the server answers in time")
    }

    /// Sends a request and waits for its response, keeping notifications.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Message::Request(Request::new(id.clone(), method.to_owned(), params)));
        loop {
            match self.next() {
                Message::Response(response) if response.id == id => match response.response_result {
                    Ok(value) => return value,
                    Err(error) => panic!("{method}: {error:?}"),
                },
                Message::Notification(notification) => self.pending.push(notification),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next diagnostics published for `version`.
    fn diagnostics(&mut self, version: i32) -> Vec<Value> {
        loop {
            let notification = match self.pending.iter().position(|n| n.method == "textDocument/publishDiagnostics") {
                Some(index) => self.pending.remove(index),
                None => match self.next() {
                    Message::Notification(notification) => notification,
                    other => panic!("unexpected {other:?}"),
                },
            };
            if notification.params["version"] == version {
                return notification.params["diagnostics"].as_array().expect("a list").clone();
            }
        }
    }

    fn open(&mut self, uri: &str, text: &str, version: i32) {
        let document = json!({ "uri": uri, "languageId": "rnn", "version": version, "text": text });
        self.notify("textDocument/didOpen", json!({ "textDocument": document }));
    }

    fn at(&mut self, method: &str, uri: &str, position: Position) -> Value {
        self.request(method, json!({ "textDocument": { "uri": uri }, "position": position }))
    }

    /// Shuts the server down; it must exit with status 0.
    fn stop(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().expect("the server exits");
        assert!(status.success(), "{status}");
    }
}

/// The position of the first `needle` in `text` (ASCII texts).
fn find(text: &str, needle: &str) -> Position {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle} in the text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    Position::new(line, (offset - before.rfind('\n').map_or(0, |i| i + 1)) as u32)
}

const WRONG: &str = "/// A cell with a mistake.
cell wrong {
    dim H;
    dim D;
    input x: [D];
    state h: [H];
    /// The input weights.
    param W: [H, D];
    param u: [H];
    let pre = W @ h + u * h;
    h' = tanh(pre);
    output h;
}
";

#[test]
fn an_erroneous_cell_gets_its_diagnostics_and_every_request_answers() {
    let uri = "file:///work/wrong.rnn";
    let mut server = Server::start();
    server.open(uri, WRONG, 1);
    let diagnostics = server.diagnostics(1);
    let error = diagnostics.iter().find(|d| d["severity"] == 1).expect("an error");
    assert_eq!(error["message"], "shape mismatch in `@`: [H, D] times [H]\nthis is [H], expected [D]");
    assert_eq!(error["range"]["start"], json!(find(WRONG, "h + u")));
    assert_eq!(error["source"], "rnnc");
    let related = &error["relatedInformation"][0];
    assert_eq!(related["message"], "this is [H, D]");
    assert_eq!(related["location"]["range"]["start"], json!(find(WRONG, "W @ h")));
    assert_eq!(related["location"]["uri"], uri);

    let hover = server.at("textDocument/hover", uri, find(WRONG, "W @ h"));
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert_eq!(text, "```rnn\nparam W: [H, D]\n```\n\nThe input weights.");
    let cell_hover = server.at("textDocument/hover", uri, find(WRONG, "wrong {"));
    assert!(cell_hover["contents"]["value"].as_str().expect("markdown").contains("has errors"), "{cell_hover}");

    let definition = server.at("textDocument/definition", uri, find(WRONG, "pre);"));
    assert_eq!(definition["uri"], uri);
    assert_eq!(definition["range"]["start"], json!(find(WRONG, "pre =")));

    let completion = server.at("textDocument/completion", uri, find(WRONG, "pre);"));
    let labels: Vec<&str> = completion.as_array().expect("items").iter().filter_map(|i| i["label"].as_str()).collect();
    for name in ["pre", "x", "h", "u", "W", "tanh", "sigmoid", "max"] {
        assert!(labels.contains(&name), "{name} in {labels:?}");
    }
    let max = completion.as_array().expect("items").iter().find(|i| i["label"] == "max").expect("max");
    assert_eq!(max["detail"], "max(a, b) -> shape of a or b");

    let symbols = server.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    assert_eq!(symbols[0]["name"], "wrong");
    let children: Vec<&str> =
        symbols[0]["children"].as_array().expect("children").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(children, ["H", "D", "x", "h", "W", "u", "pre", "h'", "h"]);

    // Fixed: the diagnostics clear, the lens and the hint appear.
    let fixed_range = Range::new(find(WRONG, "W @ h"), find(WRONG, " + u * h;"));
    let change = json!({ "range": fixed_range, "text": "W @ x" });
    server.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [change] }),
    );
    assert_eq!(server.diagnostics(2), Vec::<Value>::new());
    let lens = server.request("textDocument/codeLens", json!({ "textDocument": { "uri": uri } }));
    assert_eq!(lens[0]["command"]["title"], "diagonal Jacobian · 1 value hoisted");
    let range = Range::new(Position::new(0, 0), Position::new(99, 0));
    let hints = server.request("textDocument/inlayHint", json!({ "textDocument": { "uri": uri }, "range": range }));
    assert_eq!(hints[0]["label"], ": diagonal Jacobian · 1 value hoisted");
    let cell_hover = server.at("textDocument/hover", uri, find(WRONG, "wrong {"));
    let text = cell_hover["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("**diagonal** (every block is diagonal or zero)"), "{text}");
    assert!(text.contains("`W @ x + u * h`") || text.contains("`W @ x`"), "{text}");
    server.stop();
}

#[test]
fn a_syntax_error_is_one_diagnostic_and_half_typed_text_still_answers() {
    let uri = "file:///work/typing.rnn";
    let typing = WRONG.replace("    h' = tanh(pre);", "    h' = tanh(pr");
    let mut server = Server::start();
    server.open(uri, &typing, 1);
    let diagnostics = server.diagnostics(1);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0]["message"].as_str().expect("text").starts_with("syntax error: expected"), "{diagnostics:?}");
    let end = find(&typing, "tanh(pr");
    let completion = server.at("textDocument/completion", uri, Position::new(end.line, end.character + 7));
    let labels: Vec<&str> = completion.as_array().expect("items").iter().filter_map(|i| i["label"].as_str()).collect();
    assert!(labels.contains(&"pre") && labels.contains(&"tanh"), "{labels:?}");
    let hover = server.at("textDocument/hover", uri, find(&typing, "W @"));
    assert!(hover["contents"]["value"].as_str().expect("markdown").contains("param W: [H, D]"));
    server.stop();
}

#[test]
fn positions_count_bytes_when_the_client_offers_utf8() {
    let text = "cell c { // é𝔸\n  dim H; input x: [H]; state h: [H]; /* é */ h' = q; output h; }\n";
    let column = |units: &dyn Fn(&str) -> usize| {
        units(&text[text.find('\n').expect("two lines") + 1..text.find("q;").expect("q")])
    };
    for (offered, encoding, expected) in [
        (json!(["utf-8", "utf-16"]), "utf-8", column(&|s| s.len())),
        (json!(["utf-32", "utf-16"]), "utf-16", column(&|s| s.encode_utf16().count())),
    ] {
        let mut server = Server::start_with(json!({ "general": { "positionEncodings": offered } }), encoding);
        server.open("file:///c.rnn", text, 1);
        let diagnostics = server.diagnostics(1);
        assert_eq!(diagnostics[0]["range"]["start"], json!({ "line": 1, "character": expected }), "{encoding}");
        let hover = server.at("textDocument/hover", "file:///c.rnn", Position::new(1, expected as u32 - 4));
        assert!(hover["contents"]["value"].as_str().expect("markdown").contains("state h: [H]"), "{encoding}: {hover}");
        server.stop();
    }
}

/// Diagnostics for any shipped cell within 20 ms of a change (the median of 21
/// changes per cell; the largest is printed too).
#[test]
fn diagnostics_follow_a_change_within_20_ms_for_every_shipped_cell() {
    let mut server = Server::start();
    let mut slowest = Duration::ZERO;
    for (number, shipped) in rnnc::stdlib::CELLS.iter().enumerate() {
        let uri = format!("file:///stdlib/{}.rnn", shipped.name);
        let base = (number as i32 + 1) * 1000;
        server.open(&uri, shipped.source, base);
        assert_eq!(server.diagnostics(base), Vec::<Value>::new(), "{}", shipped.name);
        // Type a character at the end of the cell's first statement (a `dim`),
        // then take it back.
        let statement = shipped
            .source
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("dim ") && line.ends_with(';'))
            .unwrap_or_else(|| panic!("{}: a `dim NAME;` line", shipped.name));
        let at = find(shipped.source, statement);
        let end = Position::new(at.line, at.character + statement.len() as u32);
        let mut times = Vec::new();
        for change in 1..=21 {
            let (range, text) = if change % 2 == 1 {
                (Range::new(end, end), "x")
            } else {
                (Range::new(end, Position::new(end.line, end.character + 1)), "")
            };
            let version = base + change;
            let params = json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": range, "text": text }],
            });
            let started = Instant::now();
            server.notify("textDocument/didChange", params);
            let diagnostics = server.diagnostics(version);
            times.push(started.elapsed());
            assert_eq!(diagnostics.len(), change as usize % 2, "{}: {diagnostics:?}", shipped.name);
        }
        times.sort();
        let (median, largest) = (times[times.len() / 2], times[times.len() - 1]);
        slowest = slowest.max(median);
        println!(
            "diagnostics after a change, {:<12} median {:>6.2} ms, largest {:>6.2} ms",
            shipped.name,
            median.as_secs_f64() * 1e3,
            largest.as_secs_f64() * 1e3
        );
        assert!(median < Duration::from_millis(20), "{}: {median:?}", shipped.name);
    }
    println!("slowest median: {:.2} ms", slowest.as_secs_f64() * 1e3);
    server.stop();
}
