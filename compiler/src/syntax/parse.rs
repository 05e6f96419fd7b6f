//! From source text to [`ast::File`]: the pest grammar, then a walk over its pairs.
//!
//! Never panics and never recurses deeper than the source's parenthesis nesting,
//! which [`prescan`] bounds first. A syntax error is one [`Error`] that says what was
//! expected and what was found.

use pest::Parser as _;
use pest::iterators::{Pair, Pairs};

use super::ast::{self, BinaryOp, Expr, ExprKind, Ident, Integer, Item, ItemKind, Size};
use super::prescan::prescan;
use crate::arena::{Arena, Handle};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct Grammar;

/// Parses a whole file. A file must define at least one cell.
pub fn parse(source: &str) -> Result<ast::File, Error> {
    crate::limits::check_source_len(source.len())?;
    prescan(source)?;
    let pairs = Grammar::parse(Rule::file, source).map_err(|_| detailed_syntax_error(source))?;
    let cells: Vec<ast::Cell> = pairs
        .flat_map(Pair::into_inner)
        .filter(|pair| pair.as_rule() == Rule::cell)
        .map(|pair| CellBuilder::new(source).build(pair))
        .collect();
    if cells.is_empty() {
        return Err(Error::new(ErrorKind::EmptyFile, Span::at(0), "expected `cell NAME { ... }`"));
    }
    Ok(ast::File { cells })
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident { name: pair.as_str().to_owned(), span: span_of(&pair) }
}

fn integer(pair: Pair<'_, Rule>) -> Integer {
    Integer { value: pair.as_str().parse().unwrap_or(u64::MAX), span: span_of(&pair) }
}

fn size(pair: Pair<'_, Rule>) -> Size {
    match pair.as_rule() {
        Rule::integer => Size::Literal(integer(pair)),
        Rule::scaled_size => {
            let mut inner = pair.into_inner();
            let factor = integer(next(&mut inner));
            Size::Scaled(factor, ident(next(&mut inner)))
        }
        _ => Size::Dim(ident(pair)),
    }
}

fn shape(pair: Pair<'_, Rule>) -> ast::Shape {
    ast::Shape { span: span_of(&pair), sizes: pair.into_inner().map(size).collect() }
}

/// The next pair of a sequence the grammar guarantees.
fn next<'i>(pairs: &mut Pairs<'i, Rule>) -> Pair<'i, Rule> {
    pairs.next().expect("the grammar guarantees this pair")
}

/// Builds one cell; owns the cell's expression arena while it grows.
struct CellBuilder<'s> {
    source: &'s str,
    exprs: Arena<Expr>,
}

impl<'s> CellBuilder<'s> {
    fn new(source: &'s str) -> Self {
        CellBuilder { source, exprs: Arena::new() }
    }

    fn build(mut self, pair: Pair<'_, Rule>) -> ast::Cell {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let name = ident(next(&mut inner));
        let items = inner.map(|item| self.item(item)).collect();
        ast::Cell { name, doc: doc_before(self.source, span.start), span, items, exprs: self.exprs }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let kind = match rule {
            Rule::dim_decl => ItemKind::Dim(ident(next(&mut inner))),
            Rule::input_decl => ItemKind::Input(ident(next(&mut inner)), shape(next(&mut inner))),
            Rule::state_decl => ItemKind::State(ident(next(&mut inner)), shape(next(&mut inner))),
            Rule::param_decl => {
                let name = ident(next(&mut inner));
                let shape_pair = next(&mut inner);
                let param_shape = if shape_pair.as_rule() == Rule::scalar_shape {
                    ast::ParamShape::Scalar(span_of(&shape_pair))
                } else if shape_pair.as_rule() == Rule::block_shape {
                    let block_span = span_of(&shape_pair);
                    let mut parts = shape_pair.into_inner();
                    let side = size(next(&mut parts));
                    ast::ParamShape::Block { size: side, block: integer(next(&mut parts)), span: block_span }
                } else {
                    ast::ParamShape::Dense(shape(shape_pair))
                };
                ItemKind::Param(name, param_shape)
            }
            Rule::let_stmt => {
                let name = ident(next(&mut inner));
                ItemKind::Let(name, self.expr(next(&mut inner)))
            }
            Rule::update_stmt => {
                let target = next(&mut inner);
                let target_span = span_of(&target);
                let name = next(&mut target.into_inner()).as_str().to_owned();
                ItemKind::Update(Ident { name, span: target_span }, self.expr(next(&mut inner)))
            }
            Rule::output_stmt => {
                let name = ident(next(&mut inner));
                ItemKind::Output(name, inner.next().map(|value| self.expr(value)))
            }
            other => unreachable!("the grammar has no item {other:?}"),
        };
        Item { kind, doc: doc_before(self.source, span.start), span }
    }

    fn push(&mut self, kind: ExprKind, span: Span) -> Handle<Expr> {
        self.exprs.append(Expr { kind, span })
    }

    /// Left-associative chains: `expr` (`+ -`), `term` (`* /`), `product` (`@`).
    fn chain(&mut self, pair: Pair<'_, Rule>) -> Handle<Expr> {
        let mut inner = pair.into_inner();
        let mut lhs = self.operand(next(&mut inner));
        while let Some(op) = inner.next() {
            let op = match op.as_str() {
                "+" => BinaryOp::Add,
                "-" => BinaryOp::Sub,
                "*" => BinaryOp::Mul,
                "/" => BinaryOp::Div,
                _ => BinaryOp::MatMul,
            };
            let rhs = self.operand(next(&mut inner));
            let span = self.exprs[lhs].span.to(self.exprs[rhs].span);
            lhs = self.push(ExprKind::Binary(op, lhs, rhs), span);
        }
        lhs
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Handle<Expr> {
        self.operand(pair)
    }

    fn operand(&mut self, pair: Pair<'_, Rule>) -> Handle<Expr> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::expr | Rule::term | Rule::product => self.chain(pair),
            Rule::power => {
                let mut inner = pair.into_inner();
                let base = self.operand(next(&mut inner));
                match inner.nth(1) {
                    Some(exponent) => {
                        let exponent = self.operand(exponent);
                        self.push(ExprKind::Binary(BinaryOp::Pow, base, exponent), span)
                    }
                    None => base,
                }
            }
            Rule::factor | Rule::exponent => {
                let parts: Vec<Pair<'_, Rule>> = pair.into_inner().collect();
                let (negs, product) = parts.split_at(parts.len() - 1);
                let mut value = self.operand(product[0].clone());
                for neg in negs.iter().rev() {
                    let neg_span = Span::new(neg.as_span().start(), span.end as usize);
                    value = self.push(ExprKind::Neg(value), neg_span);
                }
                value
            }
            Rule::number => self.push(ExprKind::Number(pair.as_str().to_owned()), span),
            Rule::ident => self.push(ExprKind::Name(pair.as_str().to_owned()), span),
            Rule::next_name => {
                let name = next(&mut pair.into_inner()).as_str().to_owned();
                self.push(ExprKind::Next(name), span)
            }
            Rule::slice => {
                let mut inner = pair.into_inner();
                let operand = self.expr(next(&mut inner));
                let start = size(next(&mut inner));
                let end = size(next(&mut inner));
                self.push(ExprKind::Slice(operand, start, end), span)
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let function = ident(next(&mut inner));
                let args = inner.map(|arg| self.expr(arg)).collect();
                self.push(ExprKind::Call(function, args), span)
            }
            other => unreachable!("the grammar has no operand {other:?}"),
        }
    }
}

/// The `///` lines directly above `offset`, without their slashes.
fn doc_before(source: &str, offset: u32) -> Option<String> {
    let before = &source[..offset as usize];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    if !before[line_start..].trim().is_empty() {
        return None;
    }
    let mut lines: Vec<&str> = Vec::new();
    for line in before[..line_start].lines().rev() {
        let line = line.trim_start();
        match line.strip_prefix("///") {
            Some(text) if !text.starts_with('/') => lines.push(text.strip_prefix(' ').unwrap_or(text)),
            _ => break,
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n").trim_end().to_owned())
}

/// Parses again, collecting the tokens pest tried (which halves parsing speed, so
/// only once a file is known to be wrong), and describes the error.
fn detailed_syntax_error(source: &str) -> Error {
    pest::set_error_detail(true);
    let result = Grammar::parse(Rule::file, source);
    pest::set_error_detail(false);
    match result {
        Err(error) => syntax_error(source, &error),
        // Parsing is deterministic, so this cannot happen; answer sensibly anyway.
        Ok(_) => Error::new(
            ErrorKind::Syntax { expected: "valid syntax".to_owned(), found: "an error".to_owned() },
            Span::at(0),
            "",
        ),
    }
}

fn syntax_error(source: &str, error: &pest::error::Error<Rule>) -> Error {
    let offset = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((start, _)) => start,
    };
    let found = describe_found(source, offset);
    let mut expected: Vec<String> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            push_unique(&mut expected, describe_rule(*rule).to_owned());
        }
    }
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            if PUNCTUATION.contains(&token.as_str()) {
                push_unique(&mut expected, describe_token(&token).to_owned());
            }
        }
    }
    if expected.iter().any(|e| e == "`;`")
        && let Some(end) = end_of_previous_token(source, offset)
        && source[end..offset].contains(['\n', '\r'])
    {
        return missing_semicolon(end, offset, &found);
    }
    // Tokens of a call's argument list or a parenthesis are what pest tried
    // deeper down; at the end of a statement they only lengthen the list.
    if expected.iter().any(|e| e == "`;`") {
        expected.retain(|e| e != "`)`" && e != "`,`");
    }
    if expected.is_empty() {
        expected.push("something else".to_owned());
    }
    let expected = match expected.len() {
        1 => expected.remove(0),
        n => format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    let end = (offset + found.width).min(source.len());
    let mut err = Error::new(
        ErrorKind::Syntax { expected, found: found.words },
        Span::new(offset, end.max(offset)),
        "unexpected here",
    );
    if found.is_keyword {
        err = err.with_hint("this word is a keyword and cannot be used as a name");
    }
    err
}

/// A statement that ends at `end` (its last token) without `;`, the next one
/// starting at `next`.
fn missing_semicolon(end: usize, next: usize, found: &Found) -> Error {
    let next_end = next + found.width;
    Error::new(ErrorKind::MissingSemicolon, Span::new(end, end), "expected `;` here")
        .with_related(Span::new(next, next_end.max(next)), format!("the next line starts with {}", found.words))
}

/// Where the last token before `offset` ends (skipping whitespace and
/// comments), or `None` if there is none.
fn end_of_previous_token(source: &str, offset: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let (mut i, mut end) = (0, None);
    while i < offset.min(bytes.len()) {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = source[i + 2..].find("*/").map_or(bytes.len(), |at| i + 2 + at + 2);
            }
            _ => {
                i += 1;
                while i < bytes.len() && bytes[i] & 0xC0 == 0x80 {
                    i += 1;
                }
                end = Some(i);
            }
        }
    }
    end.filter(|&e| e <= offset)
}

/// How an expected token is named: every operator as "an operator".
fn describe_token(token: &str) -> String {
    match token {
        "+" | "*" | "/" | "@" | "^" => "an operator".to_owned(),
        other => format!("`{other}`"),
    }
}

/// The tokens worth naming in "expected ..." (not whitespace, comments, or the
/// characters of names and numbers, which the rule names already cover).
const PUNCTUATION: [&str; 16] = [";", ":", ",", "=", "'", "(", ")", "[", "]", "{", "}", "+", "*", "/", "@", "^"];

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

struct Found {
    words: String,
    width: usize,
    is_keyword: bool,
}

fn describe_found(source: &str, offset: usize) -> Found {
    let rest = source.get(offset..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return Found { words: "the end of the file".to_owned(), width: 0, is_keyword: false };
    };
    let width = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let token = &rest[..width];
    let is_keyword = matches!(token, "cell" | "dim" | "input" | "state" | "param" | "let" | "output");
    let words = if first.is_whitespace() || first.is_control() { format!("{first:?}") } else { format!("`{token}`") };
    Found { words, width, is_keyword }
}

fn describe_rule(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the file",
        Rule::cell => "`cell`",
        Rule::dim_decl
        | Rule::input_decl
        | Rule::state_decl
        | Rule::param_decl
        | Rule::let_stmt
        | Rule::update_stmt
        | Rule::output_stmt => "an item (`dim`, `input`, `state`, `param`, `let`, `output` or `NAME' = ...`)",
        Rule::shape => "a shape `[...]`",
        Rule::block_shape => "`block[SIZE, K]`",
        Rule::scalar_shape => "`scalar`",
        Rule::expr | Rule::term | Rule::factor | Rule::product => "an expression",
        Rule::call => "a function call",
        Rule::slice => "a slice `NAME[START : END]`",
        Rule::scaled_size => "a size",
        Rule::add_op | Rule::mul_op | Rule::matmul | Rule::pow_op => "an operator",
        Rule::neg => "`-`",
        Rule::power | Rule::exponent => "an expression",
        Rule::next_name => "`NAME'`",
        Rule::number => "a number",
        Rule::integer => "an integer",
        Rule::ident | Rule::keyword => "a name",
        _ => "something else",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_cell(source: &str) -> ast::Cell {
        parse(source).expect("parses").cells.remove(0)
    }

    #[test]
    fn precedence_is_additive_then_multiplicative_then_negation_then_matmul() {
        let cell = one_cell("cell c { let y = a + -W @ x * b; }");
        let ItemKind::Let(_, root) = &cell.items[0].kind else { panic!("not a let") };
        let ExprKind::Binary(BinaryOp::Add, _, rhs) = cell.exprs[*root].kind else { panic!("not +") };
        let ExprKind::Binary(BinaryOp::Mul, neg, _) = cell.exprs[rhs].kind else { panic!("not *") };
        let ExprKind::Neg(product) = cell.exprs[neg].kind else { panic!("not -") };
        assert!(matches!(cell.exprs[product].kind, ExprKind::Binary(BinaryOp::MatMul, _, _)));
    }

    #[test]
    fn operands_come_before_their_users_in_the_arena() {
        let cell = one_cell("cell c { let y = tanh(a * (b + c)) - d; h' = y; }");
        for (handle, expr) in cell.exprs.iter() {
            let operands: Vec<Handle<Expr>> = match &expr.kind {
                ExprKind::Neg(a) => vec![*a],
                ExprKind::Binary(_, a, b) => vec![*a, *b],
                ExprKind::Call(_, args) => args.clone(),
                _ => vec![],
            };
            assert!(operands.iter().all(|&op| op < handle));
        }
    }

    #[test]
    fn doc_comments_attach_to_the_next_item() {
        let cell =
            one_cell("/// The cell.\n/// Second line.\ncell c {\n  // plain\n  /// The state.\n  state h: [H];\n}");
        assert_eq!(cell.doc.as_deref(), Some("The cell.\nSecond line."));
        assert_eq!(cell.items[0].doc.as_deref(), Some("The state."));
    }

    #[test]
    fn long_operator_chains_do_not_recurse() {
        let source = format!("cell c {{ let y = {}1; }}", "1 + ".repeat(100_000));
        let cell = one_cell(&source);
        assert_eq!(cell.exprs.len(), 200_001);
    }

    #[test]
    fn syntax_errors_say_what_was_expected_and_found() {
        let err = parse("cell c { let x = ; }").unwrap_err();
        let ErrorKind::Syntax { expected, found } = &err.kind else { panic!("{err:?}") };
        assert!(expected.contains("an expression"), "{expected}");
        assert_eq!(found, "`;`");
        assert_eq!(err.span, Span::new(17, 18));
    }

    #[test]
    fn a_missing_semicolon_is_reported_where_the_statement_ends() {
        let source = "cell c {\n  let a = x + 1 // note\n  let b = a;\n}";
        let err = parse(source).unwrap_err();
        assert_eq!(err.kind, ErrorKind::MissingSemicolon);
        let end = source.find("1 //").expect("the statement") + 1;
        assert_eq!(err.span, Span::new(end, end));
        assert_eq!(
            err.notes[0].span,
            Some(Span::new(source.find("let b").expect("next"), source.find("let b").expect("next") + 3))
        );
    }

    #[test]
    fn operators_are_named_once_in_expected_lists() {
        let err = parse("cell c { let a = x y; }").unwrap_err();
        let ErrorKind::Syntax { expected, .. } = &err.kind else { panic!("{err:?}") };
        assert_eq!(expected.matches("an operator").count(), 1, "{expected}");
        assert!(!expected.contains("`+`") && !expected.contains("`@`") && !expected.contains("`)`"), "{expected}");
    }

    #[test]
    fn powers_bind_tighter_than_matmul_and_negation() {
        let cell = one_cell("cell c { let y = -W @ x ^ 2; }");
        let root = cell.exprs.iter().last().expect("root").1;
        let ExprKind::Neg(product) = root.kind else { panic!("{:?}", root.kind) };
        let ExprKind::Binary(BinaryOp::MatMul, _, power) = cell.exprs[product].kind else { panic!() };
        assert!(matches!(cell.exprs[power].kind, ExprKind::Binary(BinaryOp::Pow, ..)));
        assert!(parse("cell c { let y = x ^ 2 ^ 3; }").is_err(), "powers do not chain");
        assert!(parse("cell c { let y = x ^ -1; }").is_ok());
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert_eq!(parse("// nothing\n").unwrap_err().kind, ErrorKind::EmptyFile);
    }
}
