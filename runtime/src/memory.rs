//! Host memory: how much a run needs at least, and whether the host has it.
//!
//! Every size a user controls (dims, `B`, `T`, the lengths a file header claims)
//! is checked here before the buffers it sizes are allocated, so an impossible
//! request is an error naming the size and the limit instead of an allocation
//! failure (an abort), a `capacity overflow` panic, or a machine driven into swap.
//!
//! The limit is the host's available memory (`MemAvailable` in `/proc/meminfo`
//! on Linux), lowered by the environment variable `RNNC_MEMORY_LIMIT` (bytes, or
//! with a `K`, `M`, `G` or `T` suffix, powers of 1024) where it is set. Where the
//! host does not say (other systems) and the variable is unset, only arithmetic
//! overflow is refused.

use std::fmt;

use rnnc_compiler::check::{Cell, DimSizes, ParamShape};

/// The environment variable that lowers the memory limit.
pub const MEMORY_LIMIT_VAR: &str = "RNNC_MEMORY_LIMIT";

/// The largest batch size and sequence length: the kernels count sequences and
/// steps in 32 bits.
pub const MAX_BATCH_OR_STEPS: u64 = u32::MAX as u64;

/// A request the host cannot hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// More bytes than the limit.
    #[error("{what} needs at least {} of memory, but {} {}", Bytes(*needed), Bytes(*limit), origin.describe())]
    TooLarge {
        /// What needs the memory, with its sizes.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        limit: u64,
        /// Where the limit comes from.
        origin: LimitSource,
    },
    /// A size whose byte count does not fit in 64 bits.
    #[error("{what} is too large: its size in bytes does not fit in 64 bits")]
    Overflow {
        /// What was sized.
        what: String,
    },
    /// `B` or `T` beyond [`MAX_BATCH_OR_STEPS`].
    #[error("{what} is {size}; the largest is {MAX_BATCH_OR_STEPS} (the kernels count it in 32 bits)")]
    BatchOrSteps {
        /// `the batch size B` or `the sequence length T`.
        what: &'static str,
        /// The size asked for.
        size: u64,
    },
}

/// Where a memory limit comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitSource {
    /// The host's available memory.
    Host,
    /// `RNNC_MEMORY_LIMIT`.
    Variable,
}

impl LimitSource {
    fn describe(self) -> &'static str {
        match self {
            LimitSource::Host => "are available on this host",
            LimitSource::Variable => "is the limit set by RNNC_MEMORY_LIMIT",
        }
    }
}

/// A byte count for people: `1.5 GiB (1610612736 bytes)`.
#[derive(Clone, Copy, Debug)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} bytes", self.0)
        } else {
            write!(f, "{value:.1} {} ({} bytes)", UNITS[unit], self.0)
        }
    }
}

/// The memory a run may use, and where that limit comes from; `None` where
/// neither the host nor `RNNC_MEMORY_LIMIT` says.
pub fn memory_limit() -> Option<(u64, LimitSource)> {
    let host = host_available().map(|bytes| (bytes, LimitSource::Host));
    let variable =
        std::env::var(MEMORY_LIMIT_VAR).ok().and_then(|v| parse_bytes(&v)).map(|b| (b, LimitSource::Variable));
    match (host, variable) {
        (Some(host), Some(variable)) => Some(if variable.0 < host.0 { variable } else { host }),
        (host, variable) => host.or(variable),
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn host_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.trim_start_matches("MemAvailable:").trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// `123`, `64K`, `512M`, `2G`, `1T` (powers of 1024; an optional `B` or `iB`).
fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_suffix("iB").or_else(|| text.strip_suffix('B')).unwrap_or(text);
    let (digits, shift) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 10),
        'M' | 'm' => (&text[..text.len() - 1], 20),
        'G' | 'g' => (&text[..text.len() - 1], 30),
        'T' | 't' => (&text[..text.len() - 1], 40),
        _ => (text, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// Refuses `needed` bytes for `what` beyond the memory limit.
pub fn check_fits(what: impl fmt::Display, needed: u64) -> Result<(), MemoryError> {
    check_against(what, needed, memory_limit())
}

fn check_against(what: impl fmt::Display, needed: u64, limit: Option<(u64, LimitSource)>) -> Result<(), MemoryError> {
    match limit {
        Some((limit, origin)) if needed > limit => {
            Err(MemoryError::TooLarge { what: what.to_string(), needed, limit, origin })
        }
        _ => Ok(()),
    }
}

/// What one run of a cell needs at least, in bytes: the parameters, and per
/// sequence step the inputs, the states (kept for every step) and the outputs;
/// a backward pass adds the output cotangents and the gradients of everything.
/// The solvers need more (projections, Jacobians), so this is a lower bound: a
/// run refused by it cannot fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// The parameters (twice for a backward pass: values and gradients).
    pub params: u64,
    /// The `B x T` rows of inputs, states and outputs (and cotangents, gradients).
    pub rows: u64,
    /// Of which one copy of the outputs (what a caller keeping several runs'
    /// outputs adds per run).
    pub outputs: u64,
}

impl Footprint {
    /// The footprint of `cell` with `dims` over `batch` sequences of `steps`; an
    /// error on arithmetic overflow or a batch or length beyond 32 bits.
    pub fn of(cell: &Cell, dims: &DimSizes, batch: u64, steps: u64, backward: bool) -> Result<Footprint, MemoryError> {
        for (what, size) in [("the batch size B", batch), ("the sequence length T", steps)] {
            if size > MAX_BATCH_OR_STEPS {
                return Err(MemoryError::BatchOrSteps { what, size });
            }
        }
        let overflow =
            || MemoryError::Overflow { what: format!("a run of cell `{}` with B = {batch}, T = {steps}", cell.name) };
        fn sum(mut sizes: impl Iterator<Item = Option<u64>>) -> Option<u64> {
            sizes.try_fold(0u64, |total, size| total.checked_add(size?))
        }
        let param_words = sum(cell.params.values().map(|p| match p.shape {
            ParamShape::Vector(size) => Some(dims.of(size)),
            ParamShape::Matrix { rows, cols } => dims.of(rows).checked_mul(dims.of(cols)),
            ParamShape::Block { size, block } => dims.of(size).checked_mul(block),
        }))
        .ok_or_else(overflow)?;
        let inputs = sum(cell.inputs.values().map(|i| Some(dims.of(i.size)))).ok_or_else(overflow)?;
        let states = sum(cell.states.values().map(|s| Some(dims.of(s.size)))).ok_or_else(overflow)?;
        let outputs = sum(cell.outputs.values().map(|o| Some(dims.of(o.size)))).ok_or_else(overflow)?;
        // Forward: inputs, states, outputs; backward adds the input gradients and
        // the output cotangents.
        let row_words = if backward {
            2 * inputs as u128 + states as u128 + 2 * outputs as u128
        } else {
            inputs as u128 + states as u128 + outputs as u128
        };
        let copies = if backward { 2 } else { 1 };
        let params = u64::try_from(4 * copies * param_words as u128).map_err(|_| overflow())?;
        let bytes_of = |words_per_row: u128| {
            (batch as u128)
                .checked_mul(steps as u128)
                .and_then(|n| n.checked_mul(words_per_row))
                .and_then(|words| words.checked_mul(4))
                .and_then(|bytes| u64::try_from(bytes).ok())
                .ok_or_else(overflow)
        };
        let rows = bytes_of(row_words)?;
        let outputs = bytes_of(outputs as u128)?;
        params.checked_add(rows).ok_or_else(overflow)?;
        Ok(Footprint { params, rows, outputs })
    }

    /// Bytes in all.
    pub fn total(&self) -> u64 {
        self.params.saturating_add(self.rows)
    }

    /// Refuses the run of `cell` (with `batch` and `steps`) if it cannot fit,
    /// with `kept` more copies of its outputs held (a benchmark keeping every
    /// run's).
    pub fn check(&self, cell: &Cell, batch: u64, steps: u64, kept: u64) -> Result<(), MemoryError> {
        let kept_bytes = self.outputs.saturating_mul(kept);
        let kept_text = if kept == 0 {
            String::new()
        } else {
            format!(", {kept} more copies of the outputs {}", Bytes(kept_bytes))
        };
        check_fits(
            format_args!(
                "a run of cell `{}` with B = {batch}, T = {steps} (parameters {}, inputs, states and outputs {}{kept_text})",
                cell.name,
                Bytes(self.params),
                Bytes(self.rows)
            ),
            self.total().saturating_add(kept_bytes),
        )
    }
}

/// Checks that a run of `cell` with `dims` over `batch` sequences of `steps` can
/// fit in memory (see [`Footprint`]) before anything is allocated for it.
pub fn check_run(cell: &Cell, dims: &DimSizes, batch: u64, steps: u64, backward: bool) -> Result<(), MemoryError> {
    Footprint::of(cell, dims, batch, steps, backward)?.check(cell, batch, steps, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("123"), Some(123));
        assert_eq!(parse_bytes("64K"), Some(64 << 10));
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes(" 2G "), Some(2 << 30));
        assert_eq!(parse_bytes("1T"), Some(1 << 40));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("99999999999T"), None);
        assert_eq!(Bytes(1536 << 20).to_string(), "1.5 GiB (1610612736 bytes)");
        assert_eq!(Bytes(12).to_string(), "12 bytes");
    }

    #[test]
    fn requests_beyond_the_limit_are_refused_naming_both() {
        assert!(check_against("it", 100, None).is_ok());
        assert!(check_against("it", 100, Some((100, LimitSource::Host))).is_ok());
        let error = check_against("a run", 3 << 30, Some((1 << 30, LimitSource::Variable))).expect_err("too large");
        assert_eq!(
            error.to_string(),
            "a run needs at least 3.0 GiB (3221225472 bytes) of memory, but 1.0 GiB (1073741824 bytes) is the limit set \
             by RNNC_MEMORY_LIMIT"
        );
    }

    #[test]
    fn footprints_count_parameters_and_rows_and_refuse_overflow() {
        let source = "cell c { dim H; dim D; input x: [D]; state h: [H]; param W: [H, D]; param b: [H]; \
                      h' = tanh(W @ x + b + h); output h; }";
        let cell = rnnc_compiler::check_source(source).expect("valid").remove(0);
        let dims = cell.bind_dims(|name| Some(if name == "H" { 8 } else { 4 })).expect("bound");
        let forward = Footprint::of(&cell, &dims, 2, 10, false).expect("small");
        assert_eq!(forward, Footprint { params: 4 * (32 + 8), rows: 4 * 20 * (4 + 8 + 8), outputs: 4 * 20 * 8 });
        let backward = Footprint::of(&cell, &dims, 2, 10, true).expect("small");
        assert_eq!(backward, Footprint { params: 8 * 40, rows: 4 * 20 * (8 + 8 + 16), outputs: 4 * 20 * 8 });
        let error = Footprint::of(&cell, &dims, u64::from(u32::MAX) + 1, 1, false).expect_err("B too large");
        assert_eq!(
            error.to_string(),
            "the batch size B is 4294967296; the largest is 4294967295 (the kernels count it in 32 bits)"
        );
        let error = Footprint::of(&cell, &dims, u64::from(u32::MAX), u64::from(u32::MAX), false).expect_err("overflow");
        assert!(error.to_string().contains("does not fit in 64 bits"), "{error}");
    }
}
