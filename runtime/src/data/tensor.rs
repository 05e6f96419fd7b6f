//! The in-memory array: [`Tensor`], a row-major (C order) float32 array with its shape,
//! and the shape text used in every message (`[2, 3]`).

use super::error::DataError;

/// A row-major (C order) array of float32 values.
///
/// Invariant: `data.len()` is the product of `shape` (1 for the empty shape, a scalar).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data` in C order; an error if the number of values
    /// is not the product of the shape.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor, DataError> {
        match element_count(&shape) {
            Some(count) if count == data.len() => Ok(Tensor { shape, data }),
            count => Err(DataError::ElementCount { shape: shape_text(&shape), expected: count, actual: data.len() }),
        }
    }

    /// A tensor of `shape` filled with zeros; an error if its size overflows `usize`.
    pub fn zeros(shape: Vec<usize>) -> Result<Tensor, DataError> {
        Tensor::filled(shape, 0.0)
    }

    /// A tensor of `shape` with every value `value`; an error if its size overflows `usize`.
    pub fn filled(shape: Vec<usize>, value: f32) -> Result<Tensor, DataError> {
        let count = element_count(&shape).ok_or_else(|| DataError::SizeOverflow { shape: shape_text(&shape) })?;
        Ok(Tensor { shape, data: vec![value; count] })
    }

    /// A vector (one axis) holding `data`.
    pub fn vector(data: Vec<f32>) -> Tensor {
        Tensor { shape: vec![data.len()], data }
    }

    /// The sizes of its axes, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Its values in C order.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Its values in C order, for writing.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Its shape and values, taken apart.
    pub fn into_parts(self) -> (Vec<usize>, Vec<f32>) {
        (self.shape, self.data)
    }

    /// Its values, dropping the shape.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it holds no value (some axis has size 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Its shape as written in messages: `[2, 3]`.
    pub fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }

    /// The position of the first NaN or infinite value, in C order.
    pub fn first_non_finite(&self) -> Option<usize> {
        self.data.iter().position(|value| !value.is_finite())
    }

    /// The index along each axis of the value at `flat` in C order, or `None` if
    /// `flat` is out of range.
    pub fn multi_index(&self, flat: usize) -> Option<Vec<usize>> {
        if flat >= self.data.len() {
            return None;
        }
        let mut index = vec![0; self.shape.len()];
        let mut rest = flat;
        for (axis, &size) in self.shape.iter().enumerate().rev() {
            // size > 0 here: the tensor is non-empty since flat < len.
            index[axis] = rest % size;
            rest /= size;
        }
        Some(index)
    }
}

/// The number of values of an array of `shape`, or `None` if it overflows `usize`.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |count, &size| count.checked_mul(size))
}

/// A shape as written in messages: `[2, 3]`, `[]` for a scalar.
pub fn shape_text(shape: &[usize]) -> String {
    let sizes: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", sizes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_number_of_values() {
        let tensor = Tensor::new(vec![2, 3], (0..6).map(|v| v as f32).collect()).expect("six values fit [2, 3]");
        assert_eq!(tensor.shape(), &[2, 3]);
        assert_eq!(tensor.len(), 6);
        assert_eq!(tensor.rank(), 2);
        let error = Tensor::new(vec![2, 3], vec![0.0; 5]).expect_err("five values do not fit [2, 3]");
        assert_eq!(error.to_string(), "a tensor of shape [2, 3] holds 6 values, but 5 were given");
        let error = Tensor::new(vec![usize::MAX, 2], vec![]).expect_err("overflow");
        assert!(error.to_string().contains("holds more values than memory can address"), "{error}");
    }

    #[test]
    fn scalars_and_empty_tensors() {
        let scalar = Tensor::new(vec![], vec![2.5]).expect("a scalar holds one value");
        assert_eq!(scalar.shape_text(), "[]");
        assert_eq!(scalar.multi_index(0), Some(vec![]));
        let empty = Tensor::zeros(vec![2, 0]).expect("small");
        assert!(empty.is_empty());
        assert_eq!(empty.multi_index(0), None);
        assert!(Tensor::zeros(vec![usize::MAX, 3]).is_err());
    }

    #[test]
    fn multi_index_is_c_order_and_finds_the_first_bad_value() {
        let mut tensor = Tensor::zeros(vec![2, 3, 4]).expect("small");
        assert_eq!(tensor.first_non_finite(), None);
        tensor.data_mut()[17] = f32::NAN;
        tensor.data_mut()[20] = f32::INFINITY;
        assert_eq!(tensor.first_non_finite(), Some(17));
        assert_eq!(tensor.multi_index(17), Some(vec![1, 1, 1]));
        assert_eq!(tensor.multi_index(23), Some(vec![1, 2, 3]));
        assert_eq!(tensor.multi_index(24), None);
    }
}
