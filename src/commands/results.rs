//! What the commands say about results: non-finite values (the report's
//! `non_finite` fields, the warning on stderr, `--strict`), and the NaN-aware
//! comparison `bench` prints.

use rnnc::ForwardReport;
use rnnc::runtime::data::{NonFiniteOutputs, NonFiniteTensors};
use serde_json::Value;

use super::Failure;
use super::stdio::errln;

/// What a run produced that is not finite: in its outputs, and (for `grad`) in
/// its gradients.
pub struct NonFinite {
    /// In the outputs.
    pub outputs: NonFiniteOutputs,
    /// In the gradients, for a backward pass.
    pub gradients: Option<NonFiniteTensors>,
}

impl NonFinite {
    /// Whether every value is finite.
    pub fn is_clean(&self) -> bool {
        self.outputs.count == 0 && self.gradients.as_ref().is_none_or(|g| g.count == 0)
    }

    /// One line per kind of result holding non-finite values.
    fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(first) = &self.outputs.first {
            lines.push(format!(
                "{} output value(s) are not finite; the first (earliest step) is {} in output `{}` at batch {}, step {}, \
                 element {}",
                self.outputs.count, first.value, first.output, first.batch, first.step, first.element
            ));
        }
        if let Some(first) = self.gradients.as_ref().and_then(|g| g.first.as_ref().map(|f| (g.count, f))) {
            let index: Vec<String> = first.1.index.iter().map(usize::to_string).collect();
            lines.push(format!(
                "{} gradient value(s) are not finite; the first is {} in `{}` at [{}]",
                first.0,
                first.1.value,
                first.1.tensor,
                index.join(", ")
            ));
        }
        lines
    }

    /// With `--strict`, a non-finite value is an error (before anything is
    /// written).
    pub fn check_strict(&self, strict: bool) -> Result<(), Failure> {
        if !strict || self.is_clean() {
            return Ok(());
        }
        Err(Failure::User(format!("{}; nothing was written (--strict)", self.describe().join("; "))))
    }

    /// Without `--strict`, a warning on stderr.
    pub fn warn(&self) {
        for line in self.describe() {
            errln!("warning: {line} (see `non_finite` in the report; --strict makes this an error)");
        }
    }

    /// The `--report` JSON: the solver's report, with `non_finite` (and
    /// `non_finite_gradients`) added, and `converged` false when a result is
    /// not finite (the solver met its stopping test, but not on numbers).
    pub fn report(&self, report: &ForwardReport) -> Result<Value, Failure> {
        rnnc::report_json(report, &self.outputs, self.gradients.as_ref()).map_err(|e| Failure::User(e.to_string()))
    }
}

/// How one method's outputs compare with the reference's (`bench`).
pub struct Comparison {
    /// The largest `|a - b|`; NaN if either side has a NaN anywhere, infinite
    /// where one side is infinite and the other not (equal infinities differ by 0).
    pub max_abs_difference: f32,
    /// The method's outputs that are not finite.
    pub non_finite: usize,
}

/// Compares `outputs` with `reference`, NaN-aware: a NaN is never hidden as a
/// difference of 0 (`f32::max` would drop it).
pub fn compare(outputs: &[f32], reference: &[f32]) -> Comparison {
    let mut largest = 0.0f32;
    for (&a, &b) in outputs.iter().zip(reference) {
        let difference = if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if a == b {
            0.0
        } else {
            (a - b).abs()
        };
        if difference.is_nan() {
            largest = f32::NAN;
            break;
        }
        largest = largest.max(difference);
    }
    Comparison { max_abs_difference: largest, non_finite: outputs.iter().filter(|v| !v.is_finite()).count() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_anywhere_is_a_nan_difference() {
        assert_eq!(compare(&[1.0, 2.0], &[1.0, 2.5]).max_abs_difference, 0.5);
        assert!(compare(&[f32::NAN, 2.0], &[f32::NAN, 2.0]).max_abs_difference.is_nan());
        assert!(compare(&[1.0, 2.0], &[1.0, f32::NAN]).max_abs_difference.is_nan());
        assert_eq!(compare(&[f32::INFINITY], &[f32::INFINITY]).max_abs_difference, 0.0);
        assert_eq!(compare(&[f32::INFINITY], &[1.0]).max_abs_difference, f32::INFINITY);
        assert_eq!(compare(&[f32::INFINITY, f32::NAN, 0.0], &[0.0; 3]).non_finite, 2);
    }
}
