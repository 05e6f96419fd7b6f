//! The checked cell: names resolved, shapes known, statements in evaluation order.
//!
//! This is what every later pass reads. Invariants, established by `check`:
//! - every name refers to a declaration of the right kind (handles, not strings);
//! - every expression has a [`Shape`] that is a scalar or a vector; matrix
//!   parameters occur only as the parameter of [`ExprKind::MatVec`] (a slice of
//!   rows of one is the [`ExprKind::Slice`] of the product); a matrix-shaped
//!   value (`state h: [D, N]`) is the vector of its elements, row-major, whose
//!   size is a [`Size::Matrix`];
//! - operands precede their users in [`Cell::exprs`];
//! - every state has exactly one update, and [`ExprKind::Next`] only reads a state
//!   whose update comes earlier in [`Cell::body`];
//! - there is at least one input, at least one state and at least one output.

use crate::arena::{Arena, Handle};
use crate::span::Span;

/// A checked cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The cell's name.
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// Where the cell is defined.
    pub span: Span,
    /// Size variables, bound when the cell is used.
    pub dims: Arena<Dim>,
    /// Per-step inputs.
    pub inputs: Arena<Input>,
    /// Recurrent states.
    pub states: Arena<State>,
    /// Parameters.
    pub params: Arena<Param>,
    /// `let` definitions.
    pub lets: Arena<Let>,
    /// Outputs, in declaration order.
    pub outputs: Arena<Output>,
    /// The statements, in evaluation order.
    pub body: Vec<Statement>,
    /// Every expression.
    pub exprs: Arena<Expr>,
}

/// `dim NAME;`
#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    /// The name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
}

/// The length of a vector or a side of a matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// A dim, bound later.
    Dim(Handle<Dim>),
    /// A literal size.
    Fixed(u64),
    /// `K * DIM`, `K` at least 2 (`1 * H` is `Dim(H)`).
    Scaled(u64, Handle<Dim>),
    /// The elements of a `[ROWS, COLS]` matrix-shaped value (a state, input,
    /// `let` or parameter used elementwise), row-major: element `(r, c)` is
    /// at `r * COLS + c`. Its data has the two axes.
    Matrix(Side, Side),
}

/// One side of a matrix-shaped value: a dim or an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// A dim, bound later.
    Dim(Handle<Dim>),
    /// A literal size.
    Fixed(u64),
}

impl Side {
    /// The side as a vector's size.
    pub fn size(self) -> Size {
        match self {
            Side::Dim(dim) => Size::Dim(dim),
            Side::Fixed(n) => Size::Fixed(n),
        }
    }

    /// The side a vector's size is, if it can be one (a dim or an integer).
    pub fn of(size: Size) -> Option<Side> {
        match size {
            Size::Dim(dim) => Some(Side::Dim(dim)),
            Size::Fixed(n) => Some(Side::Fixed(n)),
            Size::Scaled(..) | Size::Matrix(..) => None,
        }
    }
}

/// How a vector is laid along a `[ROWS, COLS]` matrix, or a matrix summed back
/// into a vector: [`ExprKind::Spread`] and [`ExprKind::Fold`] (and the IR's
/// ops of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Along {
    /// One value per row: a `[ROWS]` vector, element `r` repeated along row
    /// `r`; folded, each row's sum.
    Rows,
    /// One value per column: a `[COLS]` vector, element `c` repeated down
    /// column `c`; folded, each column's sum.
    Cols,
}

impl Along {
    /// The word of the text forms: `rows` or `cols`.
    pub fn name(self) -> &'static str {
        match self {
            Along::Rows => "rows",
            Along::Cols => "cols",
        }
    }

    /// The number of columns of a matrix of `elements` elements that a vector
    /// of `vector_len` elements is laid along (`elements / vector_len` for
    /// rows, `vector_len` for columns): the one fact every evaluator of
    /// [`ExprKind::Spread`] and [`ExprKind::Fold`] needs besides the lengths.
    pub fn matrix_cols(self, elements: u64, vector_len: u64) -> u64 {
        match self {
            Along::Rows => elements / vector_len.max(1),
            Along::Cols => vector_len,
        }
    }

    /// The vector element that matrix element `index` of a matrix with `cols`
    /// columns reads (spread) or adds into (fold).
    pub fn vector_index(self, index: u64, cols: u64) -> u64 {
        match self {
            Along::Rows => index / cols.max(1),
            Along::Cols => index % cols.max(1),
        }
    }
}

/// `input NAME: [SIZE];`
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// The name.
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// Where it is declared.
    pub span: Span,
    /// Its length.
    pub size: Size,
}

/// `state NAME: [SIZE];` with its update `NAME' = EXPR;`.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The name.
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// Where it is declared.
    pub span: Span,
    /// Its length.
    pub size: Size,
    /// The expression of its next value.
    pub update: Handle<Expr>,
}

/// `param NAME: SHAPE;`
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The name.
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// Where it is declared.
    pub span: Span,
    /// Its shape. A parameter declared `scalar` is stored as one number; inside
    /// the compiler it is the vector `ParamShape::Vector(size)` of that number
    /// repeated, `size` being the one size it is broadcast to (1 if it never meets
    /// a vector): every pass and back end reads it as a vector parameter, the
    /// runtime repeats the number when it binds the data and sums the
    /// gradient's entries.
    pub shape: ParamShape,
    /// Whether it is declared `scalar`.
    pub scalar: bool,
}

/// The shape of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamShape {
    /// `[SIZE]`
    Vector(Size),
    /// `[ROWS, COLS]`, a dense matrix.
    Matrix {
        /// Rows.
        rows: Size,
        /// Columns.
        cols: Size,
    },
    /// `block[SIZE, K]`: a SIZE x SIZE block-diagonal matrix of K x K blocks,
    /// stored as `[SIZE/K, K, K]`.
    Block {
        /// The side of the matrix.
        size: Size,
        /// The side of a block.
        block: u64,
    },
}

/// `let NAME = EXPR;`
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    /// The name.
    pub name: String,
    /// Where it is defined.
    pub span: Span,
    /// Its value.
    pub value: Handle<Expr>,
}

/// `output NAME;` or `output NAME = EXPR;`
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
    /// What it yields each step.
    pub value: OutputValue,
    /// Its length.
    pub size: Size,
}

/// What an output yields each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputValue {
    /// The new value of a state.
    State(Handle<State>),
    /// The value of a `let`.
    Let(Handle<Let>),
    /// An expression of its own.
    Expr(Handle<Expr>),
}

/// A statement of the body, in evaluation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statement {
    /// A `let`.
    Let(Handle<Let>),
    /// A state's update.
    Update(Handle<State>),
    /// An output.
    Output(Handle<Output>),
}

/// A typed expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its shape.
    pub shape: Shape,
    /// Where it is written.
    pub span: Span,
}

/// The shape of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One number, broadcast in elementwise operations.
    Scalar,
    /// A vector.
    Vector(Size),
}

/// The kinds of typed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A float literal.
    Const(f64),
    /// An input at this step.
    Input(Handle<Input>),
    /// A state's previous value.
    State(Handle<State>),
    /// A state's next value, defined earlier in the body.
    Next(Handle<State>),
    /// A vector parameter.
    Param(Handle<Param>),
    /// The value of a `let`.
    Let(Handle<Let>),
    /// An elementwise function of one operand.
    Unary(UnaryOp, Handle<Expr>),
    /// An elementwise function of two operands (a scalar broadcasts).
    Binary(BinaryOp, Handle<Expr>, Handle<Expr>),
    /// A matrix or block-matrix parameter times a vector.
    MatVec(Handle<Param>, Handle<Expr>),
    /// A reduction of a vector to one number. Typed as a scalar while the
    /// checker reads the body; at the end it becomes a vector of the one size
    /// it is broadcast to (`[1]` where it meets no vector), every element
    /// the reduction's value (see `check/broadcast.rs`).
    Reduce(Reduction, Handle<Expr>),
    /// Elements `start .. start + length` of a vector (the length is the
    /// expression's size): `v[START : END]`, and `W[START : END] @ x` as the
    /// slice of `W @ x`.
    Slice(Handle<Expr>, Size),
    /// `concat(a, b)`: `a`'s elements, then `b`'s.
    Concat(Handle<Expr>, Handle<Expr>),
    /// A vector laid along the matrix of the expression's size (a
    /// [`Size::Matrix`]): a `[ROWS]` vector repeated along each row, or a
    /// `[COLS]` vector down each column. Written by the checker where a vector
    /// meets a matrix (`dt * A`) and for `outer(u, v)`.
    Spread(Handle<Expr>, Along),
    /// A matrix value summed into the vector of the expression's size: each
    /// row's sum, or each column's. `M @ v` of a matrix value `M` is the row
    /// sums of `M * v` spread along the columns.
    Fold(Handle<Expr>, Along),
}

/// The reductions of a vector to one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reduction {
    /// `sum(v)`: the sum of the elements.
    Sum,
    /// `mean(v)`: the sum divided by the length.
    Mean,
    /// `max(v)`: the largest element (NaN if any element is NaN).
    Max,
}

impl Reduction {
    /// The function as written.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
            Reduction::Max => "max",
        }
    }
}

/// Elementwise functions of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `tanh`
    Tanh,
    /// `sigmoid`: 1 / (1 + exp(-x))
    Sigmoid,
    /// `exp`
    Exp,
    /// `log`
    Log,
    /// `relu`: max(x, 0)
    Relu,
    /// `softplus`: log(1 + exp(x))
    Softplus,
    /// `silu`: x * sigmoid(x)
    Silu,
    /// `sqrt`
    Sqrt,
    /// `abs`
    Abs,
    /// `sin`
    Sin,
    /// `cos`
    Cos,
    /// `log1p`: log(1 + x), exact for small x
    Log1p,
    /// `expm1`: exp(x) - 1, exact for small x
    Expm1,
    /// `erf`: the error function
    Erf,
}

/// Elementwise functions of two operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `pow(x, p)` or `x ^ p`: the exponent `p` is a constant scalar
    Pow,
}

/// A built-in function, as the language names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// A function of one argument.
    Unary(UnaryOp),
    /// A function of two arguments.
    Binary(BinaryOp),
    /// A function the checker writes as other operations (its definition is
    /// [`Composite::expansion`]'s), so every pass after it sees only those.
    Composite(Composite),
    /// A reduction of one vector argument to one number.
    Reduction(Reduction),
    /// `concat(a, b)`: two vectors, one after the other.
    Concat,
    /// `outer(u, v)`: `[R] x [C] -> [R, C]`, element `(r, c)` is `u[r] * v[c]`.
    Outer,
}

/// The built-ins defined as expressions of other operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Composite {
    /// `logsigmoid(x) = -softplus(-x)` (the stable form of `log(sigmoid(x))`).
    LogSigmoid,
    /// `clamp(x, lo, hi) = min(max(x, lo), hi)`.
    Clamp,
    /// `gelu(x) = 0.5 * x * (1 + erf(x / sqrt(2)))` (the exact GELU).
    Gelu,
    /// `dot(a, b) = sum(a * b)`.
    Dot,
}

impl Builtin {
    /// Every built-in function with its name, in the order the docs list them.
    pub const ALL: [(&'static str, Builtin); 25] = [
        ("tanh", Builtin::Unary(UnaryOp::Tanh)),
        ("sigmoid", Builtin::Unary(UnaryOp::Sigmoid)),
        ("exp", Builtin::Unary(UnaryOp::Exp)),
        ("log", Builtin::Unary(UnaryOp::Log)),
        ("relu", Builtin::Unary(UnaryOp::Relu)),
        ("softplus", Builtin::Unary(UnaryOp::Softplus)),
        ("silu", Builtin::Unary(UnaryOp::Silu)),
        ("sqrt", Builtin::Unary(UnaryOp::Sqrt)),
        ("abs", Builtin::Unary(UnaryOp::Abs)),
        ("sin", Builtin::Unary(UnaryOp::Sin)),
        ("cos", Builtin::Unary(UnaryOp::Cos)),
        ("min", Builtin::Binary(BinaryOp::Min)),
        ("max", Builtin::Binary(BinaryOp::Max)),
        ("log1p", Builtin::Unary(UnaryOp::Log1p)),
        ("expm1", Builtin::Unary(UnaryOp::Expm1)),
        ("erf", Builtin::Unary(UnaryOp::Erf)),
        ("pow", Builtin::Binary(BinaryOp::Pow)),
        ("logsigmoid", Builtin::Composite(Composite::LogSigmoid)),
        ("clamp", Builtin::Composite(Composite::Clamp)),
        ("gelu", Builtin::Composite(Composite::Gelu)),
        ("sum", Builtin::Reduction(Reduction::Sum)),
        ("mean", Builtin::Reduction(Reduction::Mean)),
        ("dot", Builtin::Composite(Composite::Dot)),
        ("concat", Builtin::Concat),
        ("outer", Builtin::Outer),
    ];

    /// The built-in called `name`.
    pub fn by_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
    }

    /// How many arguments it takes (`max` also takes one: see [`Builtin::overload`]).
    pub fn arity(self) -> usize {
        match self {
            Builtin::Unary(_) | Builtin::Reduction(_) | Builtin::Composite(Composite::LogSigmoid | Composite::Gelu) => {
                1
            }
            Builtin::Binary(_) | Builtin::Composite(Composite::Dot) | Builtin::Concat | Builtin::Outer => 2,
            Builtin::Composite(Composite::Clamp) => 3,
        }
    }

    /// The built-in a call with `count` arguments means: `max(v)`, with one
    /// argument, is the reduction; every other built-in has one meaning.
    pub fn overload(self, count: usize) -> Builtin {
        match (self, count) {
            (Builtin::Binary(BinaryOp::Max), 1) => Builtin::Reduction(Reduction::Max),
            _ => self,
        }
    }
}

impl UnaryOp {
    /// The operator or function as written (`-` for negation).
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Relu => "relu",
            UnaryOp::Softplus => "softplus",
            UnaryOp::Silu => "silu",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Erf => "erf",
        }
    }
}

impl BinaryOp {
    /// The operator or function as written.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
            BinaryOp::Pow => "^",
        }
    }
}

impl Size {
    /// The size as written: the dim's name or the number.
    pub fn text(self, dims: &Arena<Dim>) -> String {
        match self {
            Size::Dim(dim) => dims[dim].name.clone(),
            Size::Fixed(n) => n.to_string(),
            Size::Scaled(factor, dim) => format!("{factor} * {}", dims[dim].name),
            // Inside brackets, `[D, N]`: the matrix's shape as declared.
            Size::Matrix(rows, cols) => format!("{}, {}", rows.size().text(dims), cols.size().text(dims)),
        }
    }

    /// The size as `(factor, dim)`: `(n, None)` for a fixed size. A matrix's
    /// elements are no multiple of one dim: `(0, None)`, which no slice
    /// bound or concatenation accepts (the checker refuses slices and
    /// concatenations of matrices before it asks).
    pub fn parts(self) -> (u64, Option<Handle<Dim>>) {
        match self {
            Size::Dim(dim) => (1, Some(dim)),
            Size::Fixed(n) => (n, None),
            Size::Scaled(factor, dim) => (factor, Some(dim)),
            Size::Matrix(..) => (0, None),
        }
    }

    /// The sides of a matrix-shaped value's size.
    pub fn matrix(self) -> Option<(Side, Side)> {
        match self {
            Size::Matrix(rows, cols) => Some((rows, cols)),
            _ => None,
        }
    }

    /// The size `factor * dim` (`factor` for no dim; `None` for a factor of 0
    /// with a dim).
    pub fn from_parts(factor: u64, dim: Option<Handle<Dim>>) -> Option<Size> {
        match (factor, dim) {
            (n, None) => Some(Size::Fixed(n)),
            (0, Some(_)) => None,
            (1, Some(dim)) => Some(Size::Dim(dim)),
            (factor, Some(dim)) => Some(Size::Scaled(factor, dim)),
        }
    }
}

impl Shape {
    /// The shape as written: `scalar` or `[H]`.
    pub fn text(self, dims: &Arena<Dim>) -> String {
        match self {
            Shape::Scalar => "scalar".to_owned(),
            Shape::Vector(size) => format!("[{}]", size.text(dims)),
        }
    }
}

impl ParamShape {
    /// The shape as declared: `[H]`, `[H, D]` or `block[H, 4]`.
    pub fn text(self, dims: &Arena<Dim>) -> String {
        match self {
            ParamShape::Vector(size) => format!("[{}]", size.text(dims)),
            ParamShape::Matrix { rows, cols } => format!("[{}, {}]", rows.text(dims), cols.text(dims)),
            ParamShape::Block { size, block } => format!("block[{}, {block}]", size.text(dims)),
        }
    }
}

impl Cell {
    /// The input called `name`.
    pub fn find_input(&self, name: &str) -> Option<Handle<Input>> {
        self.inputs.iter().find(|(_, v)| v.name == name).map(|(h, _)| h)
    }

    /// The state called `name`.
    pub fn find_state(&self, name: &str) -> Option<Handle<State>> {
        self.states.iter().find(|(_, v)| v.name == name).map(|(h, _)| h)
    }

    /// The parameter called `name`.
    pub fn find_param(&self, name: &str) -> Option<Handle<Param>> {
        self.params.iter().find(|(_, v)| v.name == name).map(|(h, _)| h)
    }

    /// The dim called `name`.
    pub fn find_dim(&self, name: &str) -> Option<Handle<Dim>> {
        self.dims.iter().find(|(_, v)| v.name == name).map(|(h, _)| h)
    }
}
