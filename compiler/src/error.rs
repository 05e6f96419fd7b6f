//! Compile errors: values with spans, never panics and never printed here.
//!
//! Every problem the compiler finds in a source text is an [`Error`]: a typed
//! [`ErrorKind`] (its `Display` is the one-line message), the [`Span`] it points at,
//! a short label for that span, and related locations or notes. Rendering them with
//! the source line is the command line's job.

use crate::span::Span;

/// One problem in a source text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Where.
    pub span: Span,
    /// A few words shown under `span` (may be empty).
    pub label: String,
    /// Related places and hints.
    pub notes: Vec<Note>,
}

/// A related place (a secondary label) or, without a span, a hint.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// The related place, if any.
    pub span: Option<Span>,
    /// What to say about it.
    pub message: String,
}

impl Error {
    /// An error of `kind` at `span`, labelled `label`.
    pub fn new(kind: ErrorKind, span: Span, label: impl Into<String>) -> Self {
        Error { kind, span, label: label.into(), notes: Vec::new() }
    }

    /// Adds a secondary label at `span`.
    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Self {
        self.notes.push(Note { span: Some(span), message: message.into() });
        self
    }

    /// Adds a hint with no location.
    pub fn with_hint(mut self, message: impl Into<String>) -> Self {
        self.notes.push(Note { span: None, message: message.into() });
        self
    }
}

/// The kinds of error, each with its message.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    // --- reading and lexing ---
    /// The file's bytes are not UTF-8.
    #[error("this file is not valid UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A source longer than [`crate::limits::MAX_SOURCE_BYTES`].
    #[error("this source is {size} bytes; the largest source rnnc reads is {limit} bytes ({} MiB)", limit >> 20)]
    SourceTooLarge {
        /// Its length in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The file defines no cell.
    #[error("this file defines no cell")]
    EmptyFile,
    /// A `/*` without `*/`.
    #[error("unterminated block comment")]
    UnterminatedComment,
    /// Parentheses nested beyond [`crate::syntax::MAX_NESTING`].
    #[error("expression nested more than {limit} levels deep")]
    NestingTooDeep {
        /// The limit.
        limit: usize,
    },
    /// The grammar does not accept the text here.
    #[error("syntax error: expected {expected}, found {found}")]
    Syntax {
        /// What could come here, in words.
        expected: String,
        /// What is here, in words.
        found: String,
    },
    /// A statement not ended by `;` (the next line starts something else).
    #[error("syntax error: missing `;` at the end of this statement")]
    MissingSemicolon,
    /// A float literal that float32 cannot hold.
    #[error("the literal `{text}` is out of the float32 range")]
    LiteralOutOfRange {
        /// The literal as written.
        text: String,
    },
    /// An integer size beyond 2^32 - 1.
    #[error("this integer is too large (the largest size is 4294967295)")]
    IntegerTooLarge,
    /// A literal size of zero.
    #[error("a size must be at least 1")]
    SizeZero,

    // --- names ---
    /// A name defined twice in one scope.
    #[error("`{name}` is defined more than once")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A name that is a built-in function.
    #[error("`{name}` is a built-in function and cannot be redefined")]
    ReservedName {
        /// The name.
        name: String,
    },
    /// A name with no definition.
    #[error("unknown name `{name}`")]
    UnknownName {
        /// The name.
        name: String,
    },
    /// A call of something that is not a built-in function.
    #[error("unknown function `{name}`")]
    UnknownFunction {
        /// The name.
        name: String,
    },
    /// A shape that names something that is not a dim.
    #[error("unknown dim `{name}`")]
    UnknownDim {
        /// The name.
        name: String,
    },
    /// A dim used as a value.
    #[error("`{name}` is a dim, not a value")]
    DimUsedAsValue {
        /// The name.
        name: String,
    },
    /// The exponent of `^` or `pow` is not a constant scalar.
    #[error("the exponent of a power must be a constant scalar, found {found}")]
    ExponentNotConstant {
        /// The exponent's shape.
        found: String,
    },
    /// A `scalar` parameter broadcast to two different sizes.
    #[error("scalar parameter `{name}` is broadcast to {first} and to {second}")]
    ScalarParamSizes {
        /// The parameter.
        name: String,
        /// The size it met first.
        first: String,
        /// The other size.
        second: String,
    },
    /// A reduction (`sum`, `mean`, `max`, `dot`) of something that is not a vector.
    #[error("`{function}` reduces a vector, found {found}")]
    ReductionOfScalar {
        /// The function.
        function: String,
        /// The argument's shape.
        found: String,
    },
    /// A reduction's value broadcast to two different sizes.
    #[error("the value of `{function}(...)` is broadcast to {first} and to {second}")]
    ReductionSizes {
        /// The function.
        function: String,
        /// The size it met first.
        first: String,
        /// The other size.
        second: String,
    },
    /// A slice whose bounds are not sizes of the sliced vector.
    #[error("bad slice: {reason}")]
    BadSlice {
        /// What is wrong.
        reason: String,
    },
    /// A slice ending beyond the sliced vector or matrix.
    #[error("slice end {end} is beyond {size}")]
    SliceOutOfRange {
        /// The end as written.
        end: String,
        /// The size sliced.
        size: String,
    },
    /// `concat` of values whose sizes do not add up to a size.
    #[error("cannot concatenate {left} and {right}")]
    ConcatSizes {
        /// The first operand's shape.
        left: String,
        /// The second operand's shape.
        right: String,
    },
    /// A built-in called with the wrong number of arguments.
    #[error("`{function}` takes {expected} argument{}, found {found}", plural(*expected))]
    WrongArgumentCount {
        /// The function.
        function: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },

    // --- shapes ---
    /// Operands of an elementwise operator or function whose shapes differ.
    #[error("shape mismatch in `{op}`: {left} vs {right}")]
    ShapeMismatch {
        /// The operator or function.
        op: String,
        /// The left operand's shape.
        left: String,
        /// The right operand's shape.
        right: String,
    },
    /// `M @ v` where `v` does not have `M`'s column dim.
    #[error("shape mismatch in `@`: {matrix} times {vector}")]
    MatVecMismatch {
        /// The matrix's shape.
        matrix: String,
        /// The vector's shape.
        vector: String,
    },
    /// `@` with something other than a matrix parameter on its left.
    #[error("the left operand of `@` must be a matrix parameter, found {found}")]
    MatVecNotMatrix {
        /// What was found.
        found: String,
    },
    /// A vector meeting a square matrix whose two sides it matches: whether it
    /// repeats along the rows or down the columns is not said.
    #[error("ambiguous broadcast in `{op}`: {vector} matches both sides of {matrix}")]
    AmbiguousBroadcast {
        /// The operator or function.
        op: String,
        /// The vector's shape.
        vector: String,
        /// The matrix's shape.
        matrix: String,
    },
    /// `outer(u, v)` of something that is not a vector of a dim or an integer.
    #[error("`outer` takes two vectors, each of a dim or an integer, found {found}")]
    OuterOperand {
        /// What was found.
        found: String,
    },
    /// A matrix where a scalar or vector is required.
    #[error("the matrix `{name}` can only be used on the left of `@`")]
    MatrixAsValue {
        /// The parameter.
        name: String,
    },
    /// A declared shape of the wrong form.
    #[error("{what} must have shape {expected}, found {found}")]
    BadDeclaredShape {
        /// What is declared ("an input", "a state", ...).
        what: &'static str,
        /// The allowed forms.
        expected: &'static str,
        /// The shape written.
        found: String,
    },
    /// A value whose shape is not what its place requires.
    #[error("{what} must have shape {expected}, found {found}")]
    WrongShape {
        /// The place ("the next value of `h`", ...).
        what: String,
        /// The required shape.
        expected: String,
        /// The shape found.
        found: String,
    },
    /// `block[H, K]` with `K < 1`.
    #[error("the block size of `{name}` must be at least 1, found {block}")]
    BlockSizeTooSmall {
        /// The parameter.
        name: String,
        /// The block size written.
        block: u64,
    },
    /// `block[H, K]` with `H` not a multiple of `K`.
    #[error("the block size {block} of `{name}` does not divide {size}")]
    BlockSizeDoesNotDivide {
        /// The parameter.
        name: String,
        /// The block size.
        block: u64,
        /// The size of the matrix's side, as `H = 6` or `6`.
        size: String,
    },
    /// A dim bound to zero.
    #[error("dim `{name}` must be at least 1, found {size}")]
    DimSizeZero {
        /// The dim.
        name: String,
        /// The size given.
        size: u64,
    },
    /// A buffer, with sizes bound, beyond what a kernel can address (see
    /// [`crate::limits`]).
    #[error("{what} would hold {words} values, more than the {limit} one kernel buffer can hold ({why})")]
    BufferTooLarge {
        /// The buffer, with its sizes.
        what: String,
        /// The values it would hold.
        words: u128,
        /// The most it may hold.
        limit: u64,
        /// Why that is the limit.
        why: &'static str,
    },
    /// A dim that was not given a size.
    #[error("dim `{name}` has no size")]
    DimUnbound {
        /// The dim.
        name: String,
    },

    // --- states, updates, outputs ---
    /// A state with no `NAME' = ...`.
    #[error("state `{name}` has no update `{name}' = ...`")]
    MissingUpdate {
        /// The state.
        name: String,
    },
    /// A state with two updates.
    #[error("state `{name}` is updated more than once")]
    DuplicateUpdate {
        /// The state.
        name: String,
    },
    /// `NAME' = ...` where `NAME` is not a state.
    #[error("`{name}` is {what}, not a state, so it has no next value `{name}'`")]
    NotAState {
        /// The name.
        name: String,
        /// What it is ("an input", "a parameter", ...).
        what: &'static str,
    },
    /// `NAME'` read before `NAME' = ...`.
    #[error("`{name}'` is used before it is defined")]
    NextUsedBeforeDefined {
        /// The state.
        name: String,
    },
    /// `output NAME;` where `NAME` is neither a state nor a `let`.
    #[error("output `{name}` is neither a state nor defined")]
    UndefinedOutput {
        /// The name.
        name: String,
    },
    /// A cell with no state.
    #[error("cell `{name}` has no state")]
    NoState {
        /// The cell.
        name: String,
    },
    /// A cell with no input: nothing would give a run its batch size and length.
    #[error("cell `{name}` has no input")]
    NoInput {
        /// The cell.
        name: String,
    },
    /// A cell with no output.
    #[error("cell `{name}` has no output")]
    NoOutput {
        /// The cell.
        name: String,
    },
    /// Two cells with one name in a file.
    #[error("cell `{name}` is defined more than once")]
    DuplicateCell {
        /// The cell.
        name: String,
    },

    // --- derivation ---
    /// A cell whose derivation would exceed one of the compiler's resource limits.
    #[error("cell `{cell}` is too large to derive: {what} is {size}, the limit is {limit}")]
    CellTooLarge {
        /// The cell.
        cell: String,
        /// What was counted.
        what: &'static str,
        /// How many there are.
        size: usize,
        /// How many are allowed.
        limit: usize,
    },
    /// A [`crate::check::Cell`] that breaks one of its documented invariants (one
    /// built by hand rather than by the checker).
    #[error("cell `{cell}` is malformed: {reason}")]
    MalformedCell {
        /// The cell.
        cell: String,
        /// The invariant broken.
        reason: String,
    },

    // --- back ends ---
    /// A cell a back end cannot compile (yet).
    #[error("the {backend} back end cannot compile cell `{cell}`: {reason}")]
    BackendUnsupported {
        /// The back end.
        backend: &'static str,
        /// The cell.
        cell: String,
        /// Why.
        reason: String,
    },
    /// Generated code that a validator rejected: a bug in rnnc.
    #[error("internal error: the generated {language} for cell `{cell}` is invalid: {reason}")]
    InvalidGeneratedCode {
        /// The language.
        language: &'static str,
        /// The cell.
        cell: String,
        /// The validator's message.
        reason: String,
    },
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
