//! Checking Newton's settings before a solve: tolerances finite and non-negative,
//! the iteration cap between 1 and [`NewtonSettings::MAX_ITERATIONS`]. A NaN
//! tolerance would make every update pass the stopping test (one iteration,
//! `converged: true`, wrong outputs); a negative one none of them (Newton
//! never stops before its cap), and an unbounded cap runs for hours. Every
//! solver calls [`NewtonSettings::validate`] before any work.

use crate::solve::NewtonSettings;

/// Newton's settings that no solve may use.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A tolerance that is NaN, infinite or negative.
    #[error("Newton's {what} tolerance `{name}` must be a finite number at least 0, found {value}")]
    Tolerance {
        /// `absolute` or `relative`.
        what: &'static str,
        /// `atol` or `rtol`.
        name: &'static str,
        /// The value given.
        value: f32,
    },
    /// An iteration cap of 0 or beyond the limit.
    #[error(
        "Newton's iteration cap `max_iterations` must be between 1 and {}, found {value}",
        NewtonSettings::MAX_ITERATIONS
    )]
    Iterations {
        /// The value given.
        value: u32,
    },
}

impl NewtonSettings {
    /// The largest iteration cap per segment. Newton on a segment of `n` steps
    /// is exact after `n` iterations in exact arithmetic, and a segment it has
    /// not solved by then is solved by the sequential method anyway.
    pub const MAX_ITERATIONS: u32 = 1024;

    /// Refuses settings no solve may use (see the [module documentation](self)).
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (what, name, value) in [("absolute", "atol", self.atol), ("relative", "rtol", self.rtol)] {
            if !value.is_finite() || value < 0.0 {
                return Err(SettingsError::Tolerance { what, name, value });
            }
        }
        if !(1..=NewtonSettings::MAX_ITERATIONS).contains(&self.max_iterations) {
            return Err(SettingsError::Iterations { value: self.max_iterations });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_must_be_finite_and_non_negative_and_the_cap_bounded() {
        assert!(NewtonSettings::default().validate().is_ok());
        let zero = NewtonSettings { atol: 0.0, rtol: 0.0, max_iterations: 1 };
        assert!(zero.validate().is_ok());
        let with = |atol: f32, rtol: f32, max_iterations: u32| NewtonSettings { atol, rtol, max_iterations }.validate();
        assert_eq!(
            with(1e-6, f32::NAN, 32).expect_err("NaN").to_string(),
            "Newton's relative tolerance `rtol` must be a finite number at least 0, found NaN"
        );
        assert_eq!(
            with(-1.0, 1e-5, 32).expect_err("negative").to_string(),
            "Newton's absolute tolerance `atol` must be a finite number at least 0, found -1"
        );
        assert!(with(f32::INFINITY, 1e-5, 32).is_err());
        assert_eq!(
            with(1e-6, 1e-5, u32::MAX).expect_err("unbounded").to_string(),
            "Newton's iteration cap `max_iterations` must be between 1 and 1024, found 4294967295"
        );
        assert!(with(1e-6, 1e-5, 0).is_err());
        assert!(with(1e-6, 1e-5, 1024).is_ok());
    }
}
