//! The compiler's resource limits, in one place: how large a source may be, and
//! (with sizes bound) how large the buffers a kernel indexes may be. Every limit
//! is checked before the work it protects, and its error names the size and the
//! limit (docs/RELIABILITY.md lists them all).

use crate::check::{Cell, DimSizes, ParamShape};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// The largest source text, in bytes (16 MiB). Spans are 32-bit offsets, and no
/// cell needs more: a cell of 20,000 `let`s is under 1 MiB.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// Refuses a source text longer than [`MAX_SOURCE_BYTES`].
pub fn check_source_len(len: usize) -> Result<(), Error> {
    if len <= MAX_SOURCE_BYTES {
        return Ok(());
    }
    Err(Error::new(ErrorKind::SourceTooLarge { size: len, limit: MAX_SOURCE_BYTES }, Span::at(0), "in this file"))
}

/// The most 32-bit values one buffer may hold: kernels index buffers with
/// 32-bit unsigned integers (WGSL's `u32`, and every size is a `u32` constant).
pub const MAX_BUFFER_WORDS: u64 = u32::MAX as u64;

/// The most values before an offset the CPU kernels write as a constant: they
/// address with 32-bit signed byte offsets (cranelift's immediate offsets), so
/// `4 x offset` must stay below 2 GiB.
pub const MAX_CONSTANT_OFFSET_WORDS: u64 = i32::MAX as u64 / 4;

/// Why [`MAX_BUFFER_WORDS`] is the limit, for messages.
pub const BUFFER_WORDS_REASON: &str = "kernels index their buffers with 32-bit integers";

/// Why [`MAX_CONSTANT_OFFSET_WORDS`] is the limit, for messages.
pub const CONSTANT_OFFSET_REASON: &str = "the CPU kernels address it with 32-bit byte offsets, below 2 GiB";

/// An error for `what`, of `words` values, beyond `limit`, at `span`.
pub fn buffer_too_large(what: String, words: u128, limit: u64, why: &'static str, span: Span) -> Error {
    Error::new(ErrorKind::BufferTooLarge { what, words, limit, why }, span, "too large for a kernel buffer")
}

/// The `cell` keyword of `cell`: where an error about the whole cell points.
pub fn cell_head(cell: &Cell) -> Span {
    let start = cell.span.start as usize;
    Span::new(start, start + "cell".len())
}

/// Checks what the dims alone size, before any back end runs: every parameter
/// and all of them packed together (the kernels' parameter buffer), and per
/// step the inputs, the states and the outputs (one row of their buffers) must
/// hold at most [`MAX_BUFFER_WORDS`] values. The first problem is returned.
pub fn check_buffer_sizes(cell: &Cell, sizes: &DimSizes) -> Result<(), Error> {
    let too_large = |what: String, words: u128, span: Span| {
        if words > u128::from(MAX_BUFFER_WORDS) {
            Err(buffer_too_large(what, words, MAX_BUFFER_WORDS, BUFFER_WORDS_REASON, span))
        } else {
            Ok(())
        }
    };
    let mut packed = 0u128;
    for param in cell.params.values() {
        let (words, numbers) = match param.shape {
            ParamShape::Vector(size) => (u128::from(sizes.of(size)), format!("{}", sizes.of(size))),
            ParamShape::Matrix { rows, cols } => (
                u128::from(sizes.of(rows)) * u128::from(sizes.of(cols)),
                format!("{} x {}", sizes.of(rows), sizes.of(cols)),
            ),
            ParamShape::Block { size, block } => {
                (u128::from(sizes.of(size)) * u128::from(block), format!("{} x {block}", sizes.of(size)))
            }
        };
        let declared = param.shape.text(&cell.dims);
        too_large(format!("parameter `{}` ({declared} = {numbers})", param.name), words, param.span)?;
        packed += words;
    }
    too_large(format!("the packed parameters of cell `{}`", cell.name), packed, cell_head(cell))?;
    let rows = [
        ("inputs", cell.inputs.values().map(|i| u128::from(sizes.of(i.size))).sum::<u128>()),
        ("states", cell.states.values().map(|s| u128::from(sizes.of(s.size))).sum()),
        ("outputs", cell.outputs.values().map(|o| u128::from(sizes.of(o.size))).sum()),
    ];
    for (what, words) in rows {
        too_large(format!("one step of the {what} of cell `{}`", cell.name), words, cell_head(cell))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_beyond_32_bit_indices_are_refused_at_the_parameter() {
        let source = "cell c { dim H; dim D; input x: [D]; state h: [H]; param W: [H, D]; param u: [H];\n\
                      h' = tanh(W @ x + u * h); output h; }";
        let cell = crate::check_source(source).expect("valid").remove(0);
        let bind = |h: u64, d: u64| cell.bind_dims(|name| Some(if name == "H" { h } else { d }));
        assert!(bind(65535, 65535).is_ok());
        let errors = bind(65536, 65536).expect_err("W holds 2^32 values");
        assert_eq!(
            errors[0].to_string(),
            "parameter `W` ([H, D] = 65536 x 65536) would hold 4294967296 values, more than the 4294967295 one kernel \
             buffer can hold (kernels index their buffers with 32-bit integers)"
        );
        assert_eq!(&source[errors[0].span.range()], "W");
        let errors = bind(4_294_967_295, 1).expect_err("W and u packed");
        assert!(errors[0].to_string().starts_with("the packed parameters of cell `c` would hold 8589934590"));
        let errors = bind(4_294_967_295, 4_294_967_295).expect_err("W alone");
        assert!(errors[0].to_string().contains("would hold 18446744065119617025 values"), "{}", errors[0]);
    }

    #[test]
    fn sources_up_to_the_limit_are_accepted() {
        assert!(check_source_len(MAX_SOURCE_BYTES).is_ok());
        let error = check_source_len(MAX_SOURCE_BYTES + 1).expect_err("one byte too many");
        assert_eq!(
            error.to_string(),
            "this source is 16777217 bytes; the largest source rnnc reads is 16777216 bytes (16 MiB)"
        );
    }
}
