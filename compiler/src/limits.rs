//! The compiler's resource limits, in one place: how large a source may be, and
//! (with sizes bound) how large the buffers a kernel indexes may be. Every limit
//! is checked before the work it protects, and its error names the size and the
//! limit (docs/RELIABILITY.md lists them all).

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

#[cfg(test)]
mod tests {
    use super::*;

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
