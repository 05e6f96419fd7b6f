//! Property tests of the front end's robustness: thousands of random and mutated
//! sources go through parsing, checking and rendering. None may panic, hang, or
//! overflow the (2 MiB) test thread's stack; every error must point inside the text.

use std::time::{Duration, Instant};

use proptest::prelude::*;

/// Checks `source` and renders whatever errors it has, as `rnnc check` does.
fn check_and_render(source: &str) {
    let start = Instant::now();
    if let Err(errors) = rnnc::compiler::check_source(source) {
        assert!(!errors.is_empty());
        for error in &errors {
            assert!(error.span.start <= error.span.end && error.span.end as usize <= source.len() + 1, "{error:?}");
        }
        let rendered = rnnc::render_errors("fuzz.rnn", source, &errors);
        assert!(rendered.contains("fuzz.rnn:"), "{rendered}");
    }
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

fn stdlib_source() -> impl Strategy<Value = String> {
    proptest::sample::select(rnnc_stdlib::CELLS.iter().map(|c| c.source.to_owned()).collect::<Vec<_>>())
}

/// Fragments that matter to the grammar, to splice into sources.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ";",
    ":",
    ",",
    "'",
    "=",
    "+",
    "-",
    "*",
    "/",
    "@",
    "//",
    "/*",
    "*/",
    "///",
    "cell",
    "dim",
    "input",
    "state",
    "param",
    "let",
    "output",
    "block",
    "tanh(",
    "min(",
    "max(",
    "h'",
    "1e39",
    "1e-45",
    "0.5",
    "99999999999999999999",
    "H",
    "x",
    "\n",
    " ",
    "\u{0}",
    "é",
    "\u{feff}",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, fragment: usize },
    Replace { at: usize, len: usize, fragment: usize },
    Duplicate { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(at, fragment)| Mutation::Insert { at, fragment }),
        (any::<usize>(), 1..8usize, 0..FRAGMENTS.len()).prop_map(|(at, len, fragment)| Mutation::Replace {
            at,
            len,
            fragment
        }),
        (any::<usize>(), 1..200usize).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, mutation: &Mutation) {
    match *mutation {
        Mutation::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len);
            text.replace_range(start..end.max(start), "");
        }
        Mutation::Insert { at, fragment } => text.insert_str(boundary(text, at), FRAGMENTS[fragment]),
        Mutation::Replace { at, len, fragment } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len).max(start);
            text.replace_range(start..end, FRAGMENTS[fragment]);
        }
        Mutation::Duplicate { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len).max(start);
            let copy = text[start..end].to_owned();
            text.insert_str(end, &copy);
        }
        Mutation::Truncate { at } => {
            let at = boundary(text, at);
            text.truncate(at);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_stdlib_cells_never_crash(source in stdlib_source(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut text = source;
        for m in &mutations {
            apply(&mut text, m);
        }
        check_and_render(&text);
    }

    #[test]
    fn random_text_never_crashes(text in "[ -~\\n\\t]{0,400}") {
        check_and_render(&text);
    }

    #[test]
    fn random_token_soup_never_crashes(tokens in proptest::collection::vec(0..FRAGMENTS.len(), 0..300)) {
        let text: String = tokens.iter().map(|&t| FRAGMENTS[t]).collect::<Vec<_>>().join(" ");
        check_and_render(&format!("cell c {{ {text} }}"));
    }

    #[test]
    fn random_bytes_never_crash(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match rnnc::compiler::source_text(&bytes) {
            Ok(text) => check_and_render(text),
            Err(error) => {
                let shown = String::from_utf8_lossy(&bytes);
                assert!(rnnc::render_errors("fuzz.rnn", &shown, &[error]).contains("not valid UTF-8"));
            }
        }
    }
}

/// Deep and long inputs, at every depth around the nesting limit.
#[test]
fn nesting_around_the_limit_is_accepted_or_rejected_cleanly() {
    let limit = rnnc::compiler::syntax::MAX_NESTING;
    for depth in [limit - 1, limit, limit + 1, 10 * limit, 100_000] {
        for (open, close) in [("(", ")"), ("tanh(", ")"), ("max(h, ", ")"), ("-(", ")")] {
            let source = format!(
                "cell c {{ dim H; input x: [H]; state h: [H]; h' = x + {}h{}; output h; }}",
                open.repeat(depth),
                close.repeat(depth)
            );
            let result = rnnc::compiler::check_source(&source);
            assert_eq!(result.is_ok(), depth <= limit, "depth {depth} with {open}");
            check_and_render(&source);
        }
    }
}
