//! The model around the rnnc cell: `x [B, T, 2] -> para_gru -> h [B, T, H]`, then a
//! linear readout of the last step, `y = w . h[T-1] + c`, and the mean squared error
//! against the targets. Everything the cell does (forward, backward) is rnnc's; this
//! module holds the parameters, their initialisation, and the readout's own small
//! forward and backward by hand.

use std::collections::BTreeMap;

use rnnc::Tensor;
use rnnc::compiler::check::Cell;
use rnnc::runtime::data::random::{SplitMix64, random_params};

use crate::task::INPUT_WIDTH;

/// The readout's weight vector `[H]`, as named in checkpoints.
pub const READOUT_W: &str = "readout.w";
/// The readout's bias (a scalar, shape `[]`), as named in checkpoints.
pub const READOUT_C: &str = "readout.c";

/// Every trainable tensor by name: the cell's parameters under the cell's own names
/// (`Bz`, `az`, `bz`, ...), and the readout's under `readout.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The tensors, sorted by name.
    pub params: BTreeMap<String, Tensor>,
}

/// The loss of one batch and its gradients.
pub struct LossAndGradients {
    /// The mean squared error over the batch.
    pub loss: f64,
    /// d loss / d h for every step, `[B, T, H]`: the cotangent handed to the cell's
    /// backward pass (zero except at the last step, the only one the readout reads).
    pub dh: Tensor,
    /// d loss / d readout.w, `[H]`.
    pub dw: Tensor,
    /// d loss / d readout.c, `[]`.
    pub dc: Tensor,
}

impl Model {
    /// A fresh model for `cell` (ParaGRU) with `hidden` channels, for sequences of
    /// `steps` steps: the cell's parameters as PyTorch initialises a GRU (uniform in
    /// ±1/sqrt(fan-in), from rnnc's seeded generator), except the update gate's bias
    /// `bz`, which gets the chrono initialisation (Tallec & Ollivier, 2018):
    /// `bz = -ln(u)`, `u` uniform in `[1, steps - 1]`, so that channel `k` starts
    /// with a memory of about `u_k` steps, spread over every time scale up to the
    /// sequence length. The readout starts at `w` uniform in ±1/sqrt(H) and `c = 1`,
    /// the target's mean.
    pub fn init(cell: &Cell, hidden: usize, steps: usize, seed: u64) -> Result<Model, String> {
        let dims = cell
            .bind_dims(|name| match name {
                "H" => Some(hidden as u64),
                "D" => Some(INPUT_WIDTH as u64),
                _ => None,
            })
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
        let mut params = random_params(cell, &dims, seed).map_err(|e| e.to_string())?;
        let mut rng = SplitMix64::new(seed ^ 0xc0ff_ee00);
        let longest = steps.saturating_sub(1).max(1) as f32;
        let bz = params.get_mut("bz").ok_or("the cell has no update-gate bias `bz`; is it para_gru?")?;
        for value in bz.data_mut() {
            *value = -rng.uniform(1.0, longest).ln();
        }
        let bound = 1.0 / (hidden as f32).sqrt();
        let w: Vec<f32> = (0..hidden).map(|_| rng.uniform(-bound, bound)).collect();
        params.insert(READOUT_W.to_owned(), Tensor::vector(w));
        params.insert(READOUT_C.to_owned(), scalar(1.0));
        Ok(Model { params })
    }

    /// The cell's parameters, by the cell's names (what `bind` takes).
    pub fn cell_params(&self) -> BTreeMap<String, Tensor> {
        self.params
            .iter()
            .filter(|(name, _)| !name.starts_with("readout."))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }

    /// The readout's weights and bias; an error naming what is missing or misshapen
    /// (a checkpoint from another model).
    fn readout(&self, hidden: usize) -> Result<(&[f32], f32), String> {
        let w = self.params.get(READOUT_W).ok_or(format!("no tensor `{READOUT_W}`"))?;
        let c = self.params.get(READOUT_C).ok_or(format!("no tensor `{READOUT_C}`"))?;
        if w.shape() != [hidden] || !c.shape().is_empty() {
            return Err(format!(
                "the readout is `{READOUT_W}` {} and `{READOUT_C}` {}, expected [{hidden}] and []",
                w.shape_text(),
                c.shape_text()
            ));
        }
        Ok((w.data(), c.data()[0]))
    }

    /// The predictions `w . h[b, T-1] + c` for the cell's output `h` `[B, T, H]`.
    pub fn predict(&self, h: &Tensor) -> Result<Vec<f32>, String> {
        let (steps, hidden) = sizes(h)?;
        let (w, c) = self.readout(hidden)?;
        Ok(last_steps(h, steps, hidden).map(|last| dot(w, last) + c).collect())
    }

    /// The mean squared error of the predictions from `h` `[B, T, H]` against
    /// `targets` `[B]`, and its gradients with respect to `h` and the readout.
    pub fn loss_and_gradients(&self, h: &Tensor, targets: &[f32]) -> Result<LossAndGradients, String> {
        let (steps, hidden) = sizes(h)?;
        let (w, _) = self.readout(hidden)?;
        let predictions = self.predict(h)?;
        let batch = targets.len();
        if predictions.len() != batch {
            return Err(format!("{} targets for a batch of {} sequences", batch, predictions.len()));
        }
        let mut dh = Tensor::zeros(h.shape().to_vec()).map_err(|e| e.to_string())?;
        let (mut dw, mut dc, mut loss) = (vec![0.0f32; hidden], 0.0f32, 0.0f64);
        for (b, (last, (&y, &target))) in last_steps(h, steps, hidden).zip(predictions.iter().zip(targets)).enumerate()
        {
            let error = y - target;
            loss += f64::from(error).powi(2) / batch as f64;
            // d (error^2 / B) / d y
            let dy = 2.0 * error / batch as f32;
            dc += dy;
            for (dwk, hk) in dw.iter_mut().zip(last) {
                *dwk += dy * hk;
            }
            let offset = (b * steps + steps - 1) * hidden;
            for (dhk, wk) in dh.data_mut()[offset..offset + hidden].iter_mut().zip(w) {
                *dhk = dy * wk;
            }
        }
        Ok(LossAndGradients { loss, dh, dw: Tensor::vector(dw), dc: scalar(dc) })
    }
}

/// A scalar tensor (shape `[]`).
pub fn scalar(value: f32) -> Tensor {
    Tensor::new(vec![], vec![value]).expect("a scalar holds one value")
}

/// The mean squared error of `predictions` against `targets`.
pub fn mse(predictions: &[f32], targets: &[f32]) -> f64 {
    let sum: f64 = predictions.iter().zip(targets).map(|(&y, &t)| f64::from(y - t).powi(2)).sum();
    sum / targets.len().max(1) as f64
}

/// The fraction of `predictions` within `tolerance` of their target.
pub fn fraction_within(predictions: &[f32], targets: &[f32], tolerance: f32) -> f64 {
    let within = predictions.iter().zip(targets).filter(|(y, t)| (*y - *t).abs() < tolerance).count();
    within as f64 / targets.len().max(1) as f64
}

/// `T` and `H` of a `[B, T, H]` output.
fn sizes(h: &Tensor) -> Result<(usize, usize), String> {
    match h.shape() {
        &[_, steps, hidden] if steps > 0 => Ok((steps, hidden)),
        _ => Err(format!("expected the cell's output as [B, T, H] with T > 0, got {}", h.shape_text())),
    }
}

/// `h[b, T-1, :]` for every `b`.
fn last_steps(h: &Tensor, steps: usize, hidden: usize) -> impl Iterator<Item = &[f32]> {
    h.data().chunks_exact(steps * hidden).map(move |sequence| &sequence[(steps - 1) * hidden..])
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(hidden: usize) -> Model {
        let w = Tensor::vector((0..hidden).map(|k| 0.3 - 0.1 * k as f32).collect());
        Model { params: [(READOUT_W.to_owned(), w), (READOUT_C.to_owned(), scalar(0.7))].into() }
    }

    fn output(batch: usize, steps: usize, hidden: usize) -> Tensor {
        let values = (0..batch * steps * hidden).map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.4).collect();
        Tensor::new(vec![batch, steps, hidden], values).expect("sized")
    }

    /// The loss as a function of the perturbed model or output, in float64 terms.
    fn loss(model: &Model, h: &Tensor, targets: &[f32]) -> f64 {
        model.loss_and_gradients(h, targets).expect("valid").loss
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (batch, steps, hidden) = (3, 4, 5);
        let (model, h, targets) = (model(hidden), output(batch, steps, hidden), [0.5f32, 1.25, 1.9]);
        let grads = model.loss_and_gradients(&h, &targets).expect("valid");
        let eps = 1e-2f32;
        let central = |plus: f64, minus: f64| (plus - minus) / (2.0 * f64::from(eps));
        // d loss / d h, at every position (zero before the last step).
        for i in 0..h.len() {
            let (mut up, mut down) = (h.clone(), h.clone());
            up.data_mut()[i] += eps;
            down.data_mut()[i] -= eps;
            let numeric = central(loss(&model, &up, &targets), loss(&model, &down, &targets));
            assert!(
                (numeric - f64::from(grads.dh.data()[i])).abs() < 1e-4,
                "dh[{i}]: {numeric} vs {}",
                grads.dh.data()[i]
            );
        }
        // d loss / d readout.w and readout.c.
        for (name, analytic) in [(READOUT_W, grads.dw.data()), (READOUT_C, grads.dc.data())] {
            for (i, &value) in analytic.iter().enumerate() {
                let (mut up, mut down) = (model.clone(), model.clone());
                up.params.get_mut(name).expect("present").data_mut()[i] += eps;
                down.params.get_mut(name).expect("present").data_mut()[i] -= eps;
                let numeric = central(loss(&up, &h, &targets), loss(&down, &h, &targets));
                assert!((numeric - f64::from(value)).abs() < 1e-4, "{name}[{i}]: {numeric} vs {value}");
            }
        }
    }

    #[test]
    fn init_gives_para_gru_chrono_biases_and_a_readout() {
        let source = rnnc_stdlib::get("para_gru").expect("shipped").source;
        let cell = &rnnc::compiler::check_source(source).expect("the stdlib cell checks")[0];
        let model = Model::init(cell, 8, 100, 1).expect("sized");
        assert_eq!(model.params.len(), 9 + 2);
        assert_eq!(model.params["Bz"].shape(), &[8, 2]);
        // bz = -ln(u), u in [1, 99]: z = sigmoid(bz) between about 1/100 and 1/2.
        assert!(model.params["bz"].data().iter().all(|&b| (-99f32.ln()..=0.0).contains(&b)));
        assert_eq!(model.cell_params().len(), 9);
        assert_eq!(model.params[READOUT_C].data(), &[1.0]);
        assert_eq!(Model::init(cell, 8, 100, 1).expect("sized"), model, "seeded");
    }

    #[test]
    fn mse_and_fraction_within() {
        assert_eq!(mse(&[1.0, 2.0], &[1.5, 2.0]), 0.125);
        assert_eq!(fraction_within(&[1.0, 2.0, 3.0, 4.0], &[1.05, 2.5, 3.0, 3.9], 0.08), 0.5);
    }

    #[test]
    fn a_misshapen_readout_or_batch_is_an_error() {
        let error = model(5).predict(&output(2, 3, 4)).expect_err("H = 4, w has 5");
        assert!(error.contains("expected [4] and []"), "{error}");
        let error = model(4).loss_and_gradients(&output(2, 3, 4), &[1.0]).err().expect("B = 2, one target");
        assert_eq!(error, "1 targets for a batch of 2 sequences");
    }
}
