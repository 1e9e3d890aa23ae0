//! Conditional denoising in context (the paper's "image generation in a denoising subspace"):
//! every example pairs the query's condition with the query's own target tokens corrupted by
//! random word replacement, at rates falling from 50% to 20% over the examples, and the frozen
//! LLM writes the clean target progressively.

mod protocol;
mod task;
pub use protocol::{word_accuracy, Protocol, Wrote};
pub use task::{DenoiseConfig, DenoiseResult, Denoiser};

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use crate::progressive::Example;
use spae_llm::LlmError;

/// `n` corruption rates falling linearly from `from` to `to` (the paper: 10 examples, 50% to 20%).
pub fn rates(n: usize, from: f64, to: f64) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![from],
        _ => (0..n)
            .map(|i| from + (to - from) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// `target` with `round(rate * len)` positions, chosen at random, replaced by a random other word
/// of `vocab`.
pub fn corrupt(target: &[u32], rate: f64, vocab: &[u32], rng: &mut StdRng) -> Vec<u32> {
    let mut out = target.to_vec();
    let k = ((rate.clamp(0.0, 1.0) * target.len() as f64).round() as usize).min(target.len());
    if vocab.len() < 2 {
        return out;
    }
    for i in sample(rng, target.len(), k) {
        loop {
            let w = vocab[rng.random_range(0..vocab.len())];
            if w != target[i] {
                out[i] = w;
                break;
            }
        }
    }
    out
}

/// The context of one query: `n` examples `(condition, corrupt(target, rate_i))` with
/// [`rates`]`(n, from, to)`, seeded. Rates outside `[0, 1]` or an empty vocabulary are errors.
pub fn examples(
    condition: &[u32],
    target: &[u32],
    n: usize,
    (from, to): (f64, f64),
    vocab: &[u32],
    seed: u64,
) -> Result<Vec<Example>, LlmError> {
    if !(0.0..=1.0).contains(&from) || !(0.0..=1.0).contains(&to) {
        return Err(LlmError::Choices(format!(
            "corruption rates {from} to {to} are not in [0, 1]"
        )));
    }
    if vocab.len() < 2 {
        return Err(LlmError::Choices(
            "corruption needs at least two words".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    Ok(rates(n, from, to)
        .into_iter()
        .map(|r| Example {
            condition: condition.to_vec(),
            target: corrupt(target, r, vocab, &mut rng),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_by_hand() {
        let r = rates(4, 0.5, 0.2);
        let want = [0.5, 0.4, 0.3, 0.2];
        assert!(
            r.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{r:?}"
        );
        assert_eq!(rates(1, 0.5, 0.2), vec![0.5]);
        assert!(rates(0, 0.5, 0.2).is_empty());
    }

    #[test]
    fn corruption_replaces_exactly_the_rate() {
        let vocab: Vec<u32> = (100..200).collect();
        let target: Vec<u32> = (100..120).collect();
        let mut rng = StdRng::seed_from_u64(1);
        for (rate, changed) in [(0.5, 10), (0.2, 4), (0.0, 0), (1.0, 20)] {
            let c = corrupt(&target, rate, &vocab, &mut rng);
            assert_eq!(c.len(), 20);
            let n = c.iter().zip(&target).filter(|(a, b)| a != b).count();
            assert_eq!(n, changed, "rate {rate}");
            assert!(c.iter().all(|w| vocab.contains(w)));
        }
    }

    #[test]
    fn examples_fall_from_half_to_a_fifth() {
        let vocab: Vec<u32> = (0..50).collect();
        let target: Vec<u32> = (0..40).collect();
        let ex = examples(&[7, 8], &target, 10, (0.5, 0.2), &vocab, 3).unwrap();
        assert_eq!(ex.len(), 10);
        let wrong: Vec<usize> = ex
            .iter()
            .map(|e| e.target.iter().zip(&target).filter(|(a, b)| a != b).count())
            .collect();
        assert_eq!(wrong[0], 20);
        assert_eq!(wrong[9], 8);
        assert!(ex.iter().all(|e| e.condition == [7, 8]));
        assert_eq!(
            examples(&[7], &target, 10, (0.5, 0.2), &vocab, 3).unwrap()[4].target,
            ex[4].target,
            "seeded"
        );
        assert!(examples(&[7], &target, 10, (1.5, 0.2), &vocab, 3).is_err());
        assert!(examples(&[7], &target, 10, (0.5, 0.2), &[1], 3).is_err());
    }
}
