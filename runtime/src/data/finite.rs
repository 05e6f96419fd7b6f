//! Non-finite results: how many values of a run's outputs (or of its gradients)
//! are NaN or infinite, and which came first. Inputs are refused when they hold
//! one ([`super::BoundData::bind`]); a cell can still compute one (`log(h - 1)`,
//! `exp(exp(h))`), and the report says so instead of `converged: true`.
//!
//! "First" is the earliest in time: the smallest step, then batch, then output
//! (in the cell's order), then element; for gradients, the first in key order,
//! then in C order. Every backend's results go through the same count, so the
//! CPU and the GPU report a run the same way.

use serde::Serialize;

use super::tensor::Tensor;

/// The non-finite values of a run's outputs (each `[B, T, size]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NonFiniteOutputs {
    /// How many there are, over every output.
    pub count: u64,
    /// The earliest one, if any.
    pub first: Option<FirstNonFiniteOutput>,
}

/// Where a non-finite output value is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirstNonFiniteOutput {
    /// The output's name.
    pub output: String,
    /// The sequence (`b` of `[B, T, size]`).
    pub batch: usize,
    /// The step (`t`).
    pub step: usize,
    /// The element.
    pub element: usize,
    /// `NaN`, `inf` or `-inf`.
    pub value: String,
}

impl NonFiniteOutputs {
    /// Counts the non-finite values of `outputs`, each `[B, T, size]` (another
    /// shape is read as `[1, 1, len]`).
    pub fn of(outputs: &[(String, Tensor)]) -> NonFiniteOutputs {
        let mut count = 0u64;
        // (step, batch, output, element, value) of the earliest so far.
        let mut first: Option<(usize, usize, usize, usize, f32)> = None;
        for (index, (_, tensor)) in outputs.iter().enumerate() {
            let (steps, size) = match tensor.shape() {
                [_, steps, size] => (*steps, *size),
                _ => (1, tensor.len()),
            };
            for (flat, &value) in tensor.data().iter().enumerate() {
                if value.is_finite() {
                    continue;
                }
                count += 1;
                let (row, element) = (flat / size.max(1), flat % size.max(1));
                let key = (row % steps.max(1), row / steps.max(1), index, element, value);
                if first.is_none_or(|f| (key.0, key.1, key.2, key.3) < (f.0, f.1, f.2, f.3)) {
                    first = Some(key);
                }
            }
        }
        let first = first.map(|(step, batch, index, element, value)| FirstNonFiniteOutput {
            output: outputs[index].0.clone(),
            batch,
            step,
            element,
            value: value.to_string(),
        });
        NonFiniteOutputs { count, first }
    }
}

/// The non-finite values of named tensors of any shape (gradients).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NonFiniteTensors {
    /// How many there are, over every tensor.
    pub count: u64,
    /// The first one, if any.
    pub first: Option<FirstNonFiniteValue>,
}

/// Where a non-finite value of a named tensor is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirstNonFiniteValue {
    /// The tensor's name (`param.W`).
    pub tensor: String,
    /// The index along each axis.
    pub index: Vec<usize>,
    /// `NaN`, `inf` or `-inf`.
    pub value: String,
}

impl NonFiniteTensors {
    /// Counts the non-finite values of `tensors`.
    pub fn of<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> NonFiniteTensors {
        let mut result = NonFiniteTensors::default();
        for (name, tensor) in tensors {
            result.count += tensor.data().iter().filter(|value| !value.is_finite()).count() as u64;
            if result.first.is_none()
                && let Some(flat) = tensor.first_non_finite()
            {
                result.first = Some(FirstNonFiniteValue {
                    tensor: name.to_owned(),
                    index: tensor.multi_index(flat).unwrap_or_default(),
                    value: tensor.data()[flat].to_string(),
                });
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_step_comes_first_whatever_the_batch_or_output() {
        let mut a = Tensor::zeros(vec![2, 3, 2]).expect("small");
        let mut b = Tensor::zeros(vec![2, 3, 2]).expect("small");
        assert_eq!(NonFiniteOutputs::of(&[("a".into(), a.clone())]), NonFiniteOutputs::default());
        a.data_mut()[4] = f32::NAN; // batch 0, step 2, element 0
        a.data_mut()[9] = f32::INFINITY; // batch 1, step 1, element 1
        b.data_mut()[8] = f32::NEG_INFINITY; // batch 1, step 1, element 0
        let found = NonFiniteOutputs::of(&[("a".into(), a), ("b".into(), b)]);
        assert_eq!(found.count, 3);
        assert_eq!(
            found.first,
            Some(FirstNonFiniteOutput { output: "a".into(), batch: 1, step: 1, element: 1, value: "inf".into() })
        );
    }

    #[test]
    fn tensors_are_searched_in_order() {
        let ok = Tensor::zeros(vec![2, 2]).expect("small");
        let mut bad = Tensor::zeros(vec![2, 2]).expect("small");
        bad.data_mut()[3] = f32::NAN;
        let found = NonFiniteTensors::of([("param.W", &ok), ("param.u", &bad), ("init.h", &bad)]);
        assert_eq!(found.count, 2);
        assert_eq!(
            found.first,
            Some(FirstNonFiniteValue { tensor: "param.u".into(), index: vec![1, 1], value: "NaN".into() })
        );
    }
}
