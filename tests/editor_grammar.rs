//! The TextMate grammar of `editors/vscode/` on every shipped cell and every
//! filetest cell: a small TextMate tokenizer (match rules with captures,
//! begin/end regions, repository includes; regexes compiled by `fancy-regex`,
//! which reads Oniguruma's syntax) runs the grammar, and every token the
//! compiler's syntax tree locates must carry its scope: keywords, names
//! declared, numbers, built-in calls, `NAME'`; every comment byte a comment
//! scope, and no other byte one. The extension's JSON files are checked to
//! agree with each other.

use std::path::Path;

use fancy_regex::Regex;
use rnnc::compiler::syntax::{self, ast};
use serde_json::Value;

/// One rule of the grammar, includes resolved.
enum Rule {
    Match { regex: Regex, name: Option<String>, captures: Vec<(usize, String)> },
    Region { begin: Regex, end: Regex, name: String },
}

/// A scoped range of the text, in bytes.
#[derive(Debug)]
struct Token {
    start: usize,
    end: usize,
    scope: String,
}

fn editors() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn regex(pattern: &Value) -> Regex {
    let pattern = pattern.as_str().expect("a regex string");
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// The rules of `patterns`, includes resolved in order.
fn rules(patterns: &Value, repository: &Value, depth: usize, out: &mut Vec<Rule>) {
    assert!(depth < 8, "includes nest too deep");
    for pattern in patterns.as_array().expect("a list of patterns") {
        if let Some(include) = pattern["include"].as_str() {
            let entry = &repository[include.strip_prefix('#').expect("a repository include")];
            assert!(!entry.is_null(), "{include} is not in the repository");
            if entry["patterns"].is_array() {
                rules(&entry["patterns"], repository, depth + 1, out);
            } else {
                rules(&Value::Array(vec![entry.clone()]), repository, depth + 1, out);
            }
        } else if let Some(begin) = pattern.get("begin") {
            let name = pattern["name"].as_str().expect("a region's name").to_owned();
            out.push(Rule::Region { begin: regex(begin), end: regex(&pattern["end"]), name });
        } else {
            let captures = pattern["captures"]
                .as_object()
                .map(|captures| {
                    captures
                        .iter()
                        .map(|(group, scope)| {
                            (group.parse().expect("a group number"), scope["name"].as_str().expect("a name").to_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let name = pattern["name"].as_str().map(str::to_owned);
            out.push(Rule::Match { regex: regex(&pattern["match"]), name, captures });
        }
    }
}

/// Tokenizes `text` line by line, as TextMate does: at each place the rule
/// matching earliest (the first listed of equals) wins; a region runs until
/// its end matches, across lines.
fn tokenize<'a>(rules: &'a [Rule], text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut open: Option<(&'a Regex, &'a str, usize)> = None;
    let mut line_start = 0;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        let mut pos = 0;
        loop {
            if let Some((end, scope, start)) = open {
                match end.find_from_pos(line, pos).expect("the regex runs") {
                    Some(m) => {
                        tokens.push(Token { start, end: line_start + m.end(), scope: scope.to_owned() });
                        open = None;
                        pos = m.end();
                        continue;
                    }
                    None => break,
                }
            }
            let regex_of = |rule: &'a Rule| match rule {
                Rule::Match { regex, .. } => regex,
                Rule::Region { begin, .. } => begin,
            };
            let mut best: Option<(usize, &Rule)> = None;
            for rule in rules {
                if let Some(m) = regex_of(rule).find_from_pos(line, pos).expect("the regex runs")
                    && best.is_none_or(|(best_start, _)| m.start() < best_start)
                {
                    best = Some((m.start(), rule));
                }
            }
            let Some((start, rule)) = best else { break };
            let captures = regex_of(rule).captures_from_pos(line, pos).expect("the regex runs").expect("it matched");
            let whole = captures.get(0).expect("a match");
            match rule {
                Rule::Match { name, captures: groups, .. } => {
                    if let Some(name) = name {
                        tokens.push(Token {
                            start: line_start + start,
                            end: line_start + whole.end(),
                            scope: name.clone(),
                        });
                    }
                    for (group, scope) in groups {
                        if let Some(m) = captures.get(*group) {
                            let (start, end) = (line_start + m.start(), line_start + m.end());
                            tokens.push(Token { start, end, scope: scope.clone() });
                        }
                    }
                }
                Rule::Region { end, name, .. } => open = Some((end, name.as_str(), line_start + start)),
            }
            pos = if whole.end() > pos { whole.end() } else { pos + 1 };
            if pos > line.len() {
                break;
            }
        }
        line_start += raw.len();
    }
    if let Some((_, scope, start)) = open {
        tokens.push(Token { start, end: text.len(), scope: scope.to_owned() });
    }
    tokens
}

/// The innermost scope at byte `at`.
fn scope_at(tokens: &[Token], at: usize) -> &str {
    tokens
        .iter()
        .filter(|t| t.start <= at && at < t.end)
        .min_by_key(|t| t.end - t.start)
        .map_or("", |t| t.scope.as_str())
}

/// A token covering exactly `span` with a scope starting with `prefix`.
fn assert_token(tokens: &[Token], text: &str, span: rnnc::Span, prefix: &str, what: &str) {
    let found = tokens
        .iter()
        .any(|t| t.start == span.start as usize && t.end == span.end as usize && t.scope.starts_with(prefix));
    let near: Vec<&Token> =
        tokens.iter().filter(|t| t.start <= span.end as usize && span.start as usize <= t.end).collect();
    assert!(found, "{what}: `{}` at {span:?} is not `{prefix}...`; tokens there: {near:?}", &text[span.range()]);
}

/// Which bytes are comments, and which of those are doc comments.
fn comments(text: &str) -> (Vec<bool>, Vec<bool>) {
    let bytes = text.as_bytes();
    let (mut comment, mut doc) = (vec![false; bytes.len()], vec![false; bytes.len()]);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            let end = bytes[i..].iter().position(|&b| b == b'\n' || b == b'\r').map_or(bytes.len(), |p| i + p);
            let is_doc = bytes[i..].starts_with(b"///") && !bytes[i..].starts_with(b"////");
            for j in i..end {
                comment[j] = true;
                doc[j] = is_doc;
            }
            i = end;
        } else if bytes[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 2);
            comment[i..end].iter_mut().for_each(|c| *c = true);
            i = end;
        } else {
            i += 1;
        }
    }
    (comment, doc)
}

/// What was checked, to be sure the test checked something.
#[derive(Default, Debug)]
struct Counts {
    keywords: usize,
    names: usize,
    numbers: usize,
    calls: usize,
    next: usize,
    comment_bytes: usize,
}

fn check_source(rules: &[Rule], name: &str, text: &str, counts: &mut Counts) {
    let tokens = tokenize(rules, text);
    let file = syntax::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let keyword = |start: u32, word: &str| rnnc::Span::new(start as usize, start as usize + word.len());
    for cell in &file.cells {
        assert_token(&tokens, text, keyword(cell.span.start, "cell"), "keyword.", name);
        assert_token(&tokens, text, cell.name.span, "entity.name.type.cell", name);
        counts.keywords += 1;
        for item in &cell.items {
            let (word, declared) = match &item.kind {
                ast::ItemKind::Dim(n) => ("dim", Some(n)),
                ast::ItemKind::Input(n, _) => ("input", Some(n)),
                ast::ItemKind::State(n, _) => ("state", Some(n)),
                ast::ItemKind::Param(n, _) => ("param", Some(n)),
                ast::ItemKind::Let(n, _) => ("let", Some(n)),
                ast::ItemKind::Output(n, Some(_)) => ("output", Some(n)),
                ast::ItemKind::Output(_, None) => ("output", None),
                ast::ItemKind::Update(target, _) => {
                    let name_span = rnnc::Span::new(target.span.start as usize, target.span.end as usize - 1);
                    assert_token(&tokens, text, name_span, "variable.other.state.next", name);
                    counts.next += 1;
                    continue;
                }
            };
            assert_token(&tokens, text, keyword(item.span.start, word), "keyword.", name);
            counts.keywords += 1;
            if let Some(declared) = declared {
                assert_token(&tokens, text, declared.span, "entity.name", name);
                counts.names += 1;
            }
            let sizes: Vec<&ast::Size> = match &item.kind {
                ast::ItemKind::Input(_, shape) | ast::ItemKind::State(_, shape) => shape.sizes.iter().collect(),
                ast::ItemKind::Param(_, ast::ParamShape::Dense(shape)) => shape.sizes.iter().collect(),
                ast::ItemKind::Param(_, ast::ParamShape::Block { size, block, span }) => {
                    assert_token(&tokens, text, keyword(span.start, "block"), "storage.modifier.block", name);
                    assert_token(&tokens, text, block.span, "constant.numeric", name);
                    counts.numbers += 1;
                    vec![size]
                }
                _ => Vec::new(),
            };
            for size in sizes {
                if let ast::Size::Literal(integer) = size {
                    assert_token(&tokens, text, integer.span, "constant.numeric", name);
                    counts.numbers += 1;
                }
            }
        }
        for expr in cell.exprs.values() {
            match &expr.kind {
                ast::ExprKind::Number(_) => {
                    assert_token(&tokens, text, expr.span, "constant.numeric", name);
                    counts.numbers += 1;
                }
                ast::ExprKind::Call(function, _) => {
                    assert_token(&tokens, text, function.span, "support.function.builtin", name);
                    counts.calls += 1;
                }
                ast::ExprKind::Next(_) => {
                    let name_span = rnnc::Span::new(expr.span.start as usize, expr.span.end as usize - 1);
                    assert_token(&tokens, text, name_span, "variable.other.state.next", name);
                    counts.next += 1;
                }
                _ => {}
            }
        }
    }
    let (comment, doc) = comments(text);
    for (at, byte) in text.bytes().enumerate() {
        if byte.is_ascii_whitespace() {
            continue;
        }
        let scope = scope_at(&tokens, at);
        if doc[at] {
            assert!(
                scope.starts_with("comment.line.documentation"),
                "{name}: byte {at} `{}` is `{scope}`",
                byte as char
            );
        } else if comment[at] {
            assert!(scope.starts_with("comment."), "{name}: byte {at} `{}` is `{scope}`", byte as char);
        } else {
            assert!(!scope.starts_with("comment."), "{name}: byte {at} `{}` is `{scope}`", byte as char);
        }
        counts.comment_bytes += usize::from(comment[at]);
    }
}

#[test]
fn the_grammar_scopes_every_token_of_every_shipped_and_test_cell() {
    let grammar = read_json(&editors().join("syntaxes/rnn.tmLanguage.json"));
    let mut compiled = Vec::new();
    rules(&grammar["patterns"], &grammar["repository"], 0, &mut compiled);
    let mut counts = Counts::default();
    for cell in rnnc::stdlib::CELLS {
        check_source(&compiled, cell.name, cell.source, &mut counts);
    }
    let filetests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests");
    let mut files: Vec<_> =
        std::fs::read_dir(&filetests).expect("tests/filetests").map(|e| e.expect("an entry").path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rnn")) {
        let text = std::fs::read_to_string(path).expect("readable");
        check_source(&compiled, &path.display().to_string(), &text, &mut counts);
    }
    let block_comments = "/* A block comment\n   over lines, with cell and 1.5 in it */\ncell c { dim H; /* inline */ input x: [H];\n  state h: [H]; param U: block[H, 4];\n  h' = max(U @ h + 2.5e-3, x) /* after */; output h; }\n";
    check_source(&compiled, "block comments", block_comments, &mut counts);
    println!("{counts:?}");
    assert!(counts.keywords > 100 && counts.names > 100 && counts.numbers > 20 && counts.calls > 20, "{counts:?}");
    assert!(counts.next > 20 && counts.comment_bytes > 1000, "{counts:?}");
}

#[test]
fn the_extension_declares_the_grammar_the_language_and_the_server() {
    let package = read_json(&editors().join("package.json"));
    let grammar = read_json(&editors().join("syntaxes/rnn.tmLanguage.json"));
    let language = &package["contributes"]["languages"][0];
    assert_eq!(language["id"], "rnn");
    assert_eq!(language["extensions"][0], ".rnn");
    let declared = &package["contributes"]["grammars"][0];
    assert_eq!(declared["scopeName"], grammar["scopeName"]);
    assert_eq!(declared["language"], "rnn");
    for file in [&declared["path"], &language["configuration"], &package["main"]] {
        let path = editors().join(file.as_str().expect("a path"));
        assert!(path.is_file(), "{} is missing", path.display());
    }
    let configuration = read_json(&editors().join("language-configuration.json"));
    assert_eq!(configuration["comments"]["lineComment"], "//");
    assert_eq!(configuration["comments"]["blockComment"], serde_json::json!(["/*", "*/"]));
    assert_eq!(configuration["brackets"].as_array().map(Vec::len), Some(3));
    let client = std::fs::read_to_string(editors().join("extension.js")).expect("the client");
    assert!(client.contains("args: ['lsp']") && client.contains("vscode-languageclient/node"), "{client}");
    // The grammar's built-in functions are the compiler's.
    let builtins = grammar["repository"]["builtin-call"]["match"].as_str().expect("a regex").to_owned();
    for (name, _) in rnnc::compiler::check::Builtin::ALL {
        assert!(
            builtins.contains(&format!("|{name}|"))
                || builtins.contains(&format!("({name}|"))
                || builtins.contains(&format!("|{name})")),
            "{name}"
        );
    }
}
