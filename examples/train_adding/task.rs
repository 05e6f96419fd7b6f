//! The adding problem (Hochreiter & Schmidhuber, 1997, "Long Short-Term Memory",
//! experiment 4), in the form of Le et al. (2015) and Arjovsky et al. (2016): each
//! step carries a value uniform in [0, 1) and a marker; exactly two steps are marked,
//! one in each half of the sequence; the target is the sum of the two marked values.
//! Always answering 1 (the mean of the target) scores a mean squared error of
//! Var(U + U') = 2/12 = 1/6: the trivial baseline.

use rnnc::Tensor;
use rnnc::runtime::data::random::SplitMix64;

/// The input width: a value and a marker per step.
pub const INPUT_WIDTH: usize = 2;

/// The mean squared error of always predicting 1, the mean of the target.
pub const BASELINE_MSE: f64 = 1.0 / 6.0;

/// The level taken as "solved": an MSE below 0.01 (an RMS error of 0.1, about
/// [`TOLERANCE`]; 6% of the baseline). docs/TRAINING.md says where it comes from.
pub const GOOD_MSE: f64 = 0.01;

/// A sequence counts as answered correctly when the answer is within this of the
/// target: Hochreiter & Schmidhuber's 0.04, on a target scaled to [0, 1], is 0.08
/// on ours, which spans [0, 2].
pub const TOLERANCE: f32 = 0.08;

/// A batch of sequences and their targets.
pub struct Batch {
    /// The inputs, `[B, T, 2]`: `(value, marker)` per step.
    pub x: Tensor,
    /// The sum of the two marked values of each sequence, `[B]`.
    pub targets: Vec<f32>,
}

/// Draws `batch` sequences of `steps` steps from `rng`. Panics if `steps < 2`
/// (the command line refuses such a `--seq`).
pub fn sample(rng: &mut SplitMix64, batch: usize, steps: usize) -> Batch {
    assert!(steps >= 2, "the adding problem needs at least 2 steps");
    let half = steps / 2;
    let mut x = vec![0.0; batch * steps * INPUT_WIDTH];
    let mut targets = vec![0.0; batch];
    for (b, target) in targets.iter_mut().enumerate() {
        let sequence = &mut x[b * steps * INPUT_WIDTH..(b + 1) * steps * INPUT_WIDTH];
        for step in sequence.chunks_exact_mut(INPUT_WIDTH) {
            step[0] = rng.next_unit();
        }
        let first = below(rng, half);
        let second = half + below(rng, steps - half);
        for marked in [first, second] {
            sequence[marked * INPUT_WIDTH + 1] = 1.0;
            *target += sequence[marked * INPUT_WIDTH];
        }
    }
    let x = Tensor::new(vec![batch, steps, INPUT_WIDTH], x).expect("the length is the product of the shape");
    Batch { x, targets }
}

/// The mean squared error of always predicting 1 on `targets` (about [`BASELINE_MSE`]).
pub fn baseline_on(targets: &[f32]) -> f64 {
    targets.iter().map(|&t| (f64::from(t) - 1.0).powi(2)).sum::<f64>() / targets.len().max(1) as f64
}

/// An integer uniform in `[0, n)`, `n > 0` (the modulo bias is below 2^-40 here).
fn below(rng: &mut SplitMix64, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_markers_one_per_half_and_the_target_is_their_sum() {
        let (batch, steps) = (50, 11);
        let data = sample(&mut SplitMix64::new(3), batch, steps);
        assert_eq!(data.x.shape(), &[batch, steps, INPUT_WIDTH]);
        for (b, &target) in data.targets.iter().enumerate() {
            let sequence = &data.x.data()[b * steps * 2..(b + 1) * steps * 2];
            let marked: Vec<usize> = (0..steps).filter(|&t| sequence[t * 2 + 1] == 1.0).collect();
            assert_eq!(marked.len(), 2);
            assert!(marked[0] < steps / 2 && marked[1] >= steps / 2, "{marked:?}");
            assert!(sequence.chunks(2).all(|s| (0.0..1.0).contains(&s[0]) && (s[1] == 0.0 || s[1] == 1.0)));
            assert_eq!(target, sequence[marked[0] * 2] + sequence[marked[1] * 2]);
        }
    }

    #[test]
    fn the_baseline_is_one_sixth_and_seeds_reproduce() {
        let data = sample(&mut SplitMix64::new(9), 20_000, 4);
        assert!((baseline_on(&data.targets) - BASELINE_MSE).abs() < 0.005, "{}", baseline_on(&data.targets));
        let again = sample(&mut SplitMix64::new(9), 20_000, 4);
        assert_eq!(again.targets, data.targets);
    }
}
