//! Adam (Kingma & Ba, 2015) over named tensors, with gradient clipping by the global
//! norm (Pascanu et al., 2013): the whole update in a few lines, so that the training
//! loop reads like its PyTorch equivalent.

use std::collections::BTreeMap;

use rnnc::Tensor;

/// Adam's settings and its two moment estimates per tensor.
pub struct Adam {
    /// The step size.
    pub lr: f32,
    /// The decay of the first moment (0.9).
    pub beta1: f32,
    /// The decay of the second moment (0.999).
    pub beta2: f32,
    /// Added to the second moment's square root (1e-8).
    pub eps: f32,
    steps: i32,
    first: BTreeMap<String, Vec<f32>>,
    second: BTreeMap<String, Vec<f32>>,
}

impl Adam {
    /// Adam with step size `lr` and the usual betas (0.9, 0.999) and epsilon (1e-8).
    pub fn new(lr: f32) -> Adam {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, steps: 0, first: BTreeMap::new(), second: BTreeMap::new() }
    }

    /// One update of every tensor of `params` that has a gradient in `grads` (same
    /// name, same length): `p -= lr * m_hat / (sqrt(v_hat) + eps)`.
    pub fn step(
        &mut self,
        params: &mut BTreeMap<String, Tensor>,
        grads: &BTreeMap<String, Tensor>,
    ) -> Result<(), String> {
        self.steps += 1;
        let correction1 = 1.0 - self.beta1.powi(self.steps);
        let correction2 = 1.0 - self.beta2.powi(self.steps);
        for (name, grad) in grads {
            let param = params.get_mut(name).ok_or(format!("a gradient for `{name}`, which is no parameter"))?;
            if param.shape() != grad.shape() {
                return Err(format!("`{name}` is {} but its gradient is {}", param.shape_text(), grad.shape_text()));
            }
            let m = self.first.entry(name.clone()).or_insert_with(|| vec![0.0; grad.len()]);
            let v = self.second.entry(name.clone()).or_insert_with(|| vec![0.0; grad.len()]);
            for (((p, &g), m), v) in param.data_mut().iter_mut().zip(grad.data()).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = self.beta1 * *m + (1.0 - self.beta1) * g;
                *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
                *p -= self.lr * (*m / correction1) / ((*v / correction2).sqrt() + self.eps);
            }
        }
        Ok(())
    }
}

/// Scales every gradient by `max_norm / norm` when their global norm (the norm of all
/// of them as one vector) exceeds `max_norm`; returns the norm before clipping.
pub fn clip_global_norm(grads: &mut BTreeMap<String, Tensor>, max_norm: f64) -> f64 {
    let norm = grads.values().flat_map(|g| g.data()).map(|&g| f64::from(g).powi(2)).sum::<f64>().sqrt();
    if norm > max_norm {
        let scale = (max_norm / norm) as f32;
        for value in grads.values_mut().flat_map(|g| g.data_mut()) {
            *value *= scale;
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_minimises_a_quadratic() {
        // f(p) = sum_i (i + 1) (p_i - i)^2, badly scaled on purpose: Adam does not care.
        let target = [0.0f32, 1.0, 2.0, 3.0];
        let mut params: BTreeMap<String, Tensor> = [("p".to_owned(), Tensor::vector(vec![5.0; 4]))].into();
        let mut adam = Adam::new(0.05);
        for _ in 0..2000 {
            let p = params["p"].data();
            let grad = (0..4).map(|i| 2.0 * (i as f32 + 1.0) * (p[i] - target[i])).collect();
            adam.step(&mut params, &[("p".to_owned(), Tensor::vector(grad))].into()).expect("matching");
        }
        for (p, t) in params["p"].data().iter().zip(target) {
            assert!((p - t).abs() < 1e-2, "{:?}", params["p"].data());
        }
    }

    #[test]
    fn the_first_step_moves_each_value_by_lr() {
        // With bias correction, Adam's first step is lr * sign(g).
        let mut params: BTreeMap<String, Tensor> = [("p".to_owned(), Tensor::vector(vec![1.0, 1.0]))].into();
        let grads = [("p".to_owned(), Tensor::vector(vec![1e-3, -50.0]))].into();
        Adam::new(0.1).step(&mut params, &grads).expect("matching");
        assert!((params["p"].data()[0] - 0.9).abs() < 1e-4 && (params["p"].data()[1] - 1.1).abs() < 1e-4);
        let wrong = [("p".to_owned(), Tensor::vector(vec![1.0]))].into();
        assert!(Adam::new(0.1).step(&mut params, &wrong).expect_err("misshapen").contains("[2]"));
    }

    #[test]
    fn clipping_scales_all_gradients_together() {
        let mut grads: BTreeMap<String, Tensor> =
            [("a".to_owned(), Tensor::vector(vec![3.0])), ("b".to_owned(), Tensor::vector(vec![4.0]))].into();
        assert_eq!(clip_global_norm(&mut grads, 10.0), 5.0);
        assert_eq!(grads["a"].data(), &[3.0]);
        assert_eq!(clip_global_norm(&mut grads, 1.0), 5.0);
        assert!((grads["a"].data()[0] - 0.6).abs() < 1e-6 && (grads["b"].data()[0] - 0.8).abs() < 1e-6);
    }
}
