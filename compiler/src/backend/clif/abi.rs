//! The calling convention of the generated kernels: one argument, a pointer to a
//! record of 8-byte fields that the runtime fills (`#[repr(C)]`, every field a
//! pointer or an `i64`), and no result.
//!
//! Every kernel loops over rows (time steps, or `B x T` rows for the hoisting
//! kernel). At row `t` it reads `pre + t * pre_width`, the previous state
//! `prev_first` when `t = 0` and `prev_base + (t - 1) * prev_stride` after (so a
//! stride of 0 evaluates every step from one state, and `prev_base = out` runs the
//! recurrence), and writes `out + t * out_width` and `jac + t * jacobian_len`.
//! Widths are in floats and fixed when the kernel is generated; see
//! [`super::CpuLayout`].
//!
//! The backward kernel walks its rows from the last to the first. At row `t` it
//! reads the state cotangent `mu_t` from `seed_last` when `t = rows - 1` and from
//! `out + (t + 1) * state_width` before (the row it wrote one step earlier),
//! the output cotangents from the `douts` table, and writes `mu_{t-1}` to
//! `out + t * state_width`, the projections' cotangents to `projection_grads`,
//! the inputs' to the `input_grads` table, and adds the parameters' shares to
//! `param_grads`.

/// The fields of the argument record, in order; each is 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    /// `*const f32`: every parameter, packed at [`super::CpuLayout::params`].
    Params,
    /// `*const f32`: the kernel's constant table ([`super::CpuLayout::consts`]).
    Consts,
    /// `*const f32`: the hoisted values of row 0 (the projections, for the hoisting
    /// kernel).
    Pre,
    /// `*const f32`: the state before row 0.
    PrevFirst,
    /// `*const f32`: the state before row 1; later rows follow at `PrevStride`.
    PrevBase,
    /// `i64`: floats from one previous state to the next (0: all rows read
    /// `PrevBase`).
    PrevStride,
    /// `*mut f32`: row 0 of the results.
    Out,
    /// `*mut f32`: row 0 of the state Jacobians (linearisation kernel only).
    Jac,
    /// `i64`: the number of rows.
    Rows,
    /// `*mut f32`: per-thread scratch of [`super::CpuLayout::scratch_len`] floats.
    Scratch,
    /// `i64`: the first channel (channel-split kernels only).
    ChannelStart,
    /// `i64`: one past the last channel (channel-split kernels only).
    ChannelEnd,
    /// `*const *const f32`: row 0 of each input (hoisting and backward kernels).
    Inputs,
    /// `*const f32`: the state cotangent entering the last row (backward kernel).
    SeedLast,
    /// `*const *const f32`: row 0 of each output's cotangent (backward kernel).
    Douts,
    /// `*const f32`: row 0 of the input projections (backward kernel).
    Projections,
    /// `*mut f32`: row 0 of the projections' cotangents (backward kernel).
    ProjectionGrads,
    /// `*const *mut f32`: row 0 of each input's cotangent (backward kernel).
    InputGrads,
    /// `*mut f32`: the parameters' gradient, packed like the parameters, which
    /// the backward kernel adds to.
    ParamGrads,
}

impl Field {
    /// Every field, in order.
    pub const ALL: [Field; 19] = [
        Field::Params,
        Field::Consts,
        Field::Pre,
        Field::PrevFirst,
        Field::PrevBase,
        Field::PrevStride,
        Field::Out,
        Field::Jac,
        Field::Rows,
        Field::Scratch,
        Field::ChannelStart,
        Field::ChannelEnd,
        Field::Inputs,
        Field::SeedLast,
        Field::Douts,
        Field::Projections,
        Field::ProjectionGrads,
        Field::InputGrads,
        Field::ParamGrads,
    ];

    /// The field's byte offset in the record.
    pub const fn offset(self) -> i32 {
        self as i32 * 8
    }
}

/// The size of the argument record in bytes.
pub const ARGS_SIZE: usize = Field::ALL.len() * 8;
