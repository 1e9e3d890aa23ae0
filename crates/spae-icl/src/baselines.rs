//! Reference points for an LLM's few-shot accuracy: the word-overlap reader (what the words
//! allow without an LLM) and the class-word control (what the LLM does with words that identify
//! the class exactly, without a tokenizer).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::SeedableRng;

use crate::error::TaskError as FewshotError;

/// The word-overlap reader: each class position's credit for a query, `1 / t` for each of the
/// `t` positions whose support images share the most words with the query (multiset overlap,
/// summed over a class's support images), 0 for the others. Credits sum to 1.
pub fn overlap_vote(query: &[u32], support: &[(&[u32], usize)], way: usize) -> Vec<f64> {
    let mut score = vec![0usize; way];
    for &(words, pos) in support {
        let mut left: Vec<u32> = query.to_vec();
        for w in words {
            if let Some(i) = left.iter().position(|q| q == w) {
                left.swap_remove(i);
                score[pos] += 1;
            }
        }
    }
    let best = score.iter().copied().max().unwrap_or(0);
    let tied = score.iter().filter(|&&s| s == best).count().max(1);
    score
        .iter()
        .map(|&s| if s == best { 1.0 / tied as f64 } else { 0.0 })
        .collect()
}

/// The LLM's ceiling for a protocol, without a tokenizer: every image of class `c` gets the
/// same `n_words` words, a sequence drawn once per class from `vocab`; then each word is kept
/// with probability `keep` and otherwise replaced by a word drawn afresh from `vocab`. With
/// `keep = 1` the words identify the class exactly (only in-context binding of words to labels
/// is left to the LLM); lower `keep` approximates a tokenizer whose words agree within a class
/// that often. Seeded.
pub fn class_word_control(
    labels: &[u32],
    n_words: usize,
    vocab: &[u32],
    keep: f64,
    seed: u64,
) -> Result<Vec<Vec<u32>>, FewshotError> {
    if vocab.is_empty() || !(0.0..=1.0).contains(&keep) {
        return Err(FewshotError::Data(format!(
            "a class-word control needs a vocabulary and 0 <= keep <= 1 (keep {keep}, {} words)",
            vocab.len()
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let n_classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let class_words: Vec<Vec<u32>> = (0..n_classes)
        .map(|_| {
            (0..n_words)
                .map(|_| *vocab.choose(&mut rng).expect("non-empty"))
                .collect()
        })
        .collect();
    Ok(labels
        .iter()
        .map(|&l| {
            class_words[l as usize]
                .iter()
                .map(|&w| match rand::Rng::random_bool(&mut rng, keep) {
                    true => w,
                    false => *vocab.choose(&mut rng).expect("non-empty"),
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_overlap_reader_by_hand() {
        // Query (1 2 3 3): class 0's image (1 2 9) shares 2 words, class 1's (3 3 3) shares 2
        // (only two 3s in the query): a tie, half each.
        let q = [1, 2, 3, 3];
        let a: &[u32] = &[1, 2, 9];
        let b: &[u32] = &[3, 3, 3];
        assert_eq!(overlap_vote(&q, &[(a, 0), (b, 1)], 2), vec![0.5, 0.5]);
        // A second support image of class 1 sharing the 1 breaks the tie (3 vs 2).
        let c: &[u32] = &[1, 7];
        assert_eq!(
            overlap_vote(&q, &[(a, 0), (b, 1), (c, 1)], 2),
            vec![0.0, 1.0]
        );
        // Nothing shared, 3-way: a third each.
        let v = overlap_vote(&[5], &[(a, 0), (b, 1), (c, 2)], 3);
        assert!(v.iter().all(|x| (x - 1.0 / 3.0).abs() < 1e-12));
    }

    #[test]
    fn class_word_control_is_exact_at_keep_one() {
        let labels = [0, 1, 0, 2, 1];
        let vocab: Vec<u32> = (100..200).collect();
        let w = class_word_control(&labels, 3, &vocab, 1.0, 7).unwrap();
        assert_eq!(w.len(), 5);
        assert!(w
            .iter()
            .all(|x| x.len() == 3 && x.iter().all(|i| vocab.contains(i))));
        assert_eq!(w[0], w[2]);
        assert_eq!(w[1], w[4]);
        assert_ne!(w[0], w[1]);
        assert_eq!(w, class_word_control(&labels, 3, &vocab, 1.0, 7).unwrap());
        // keep 0: words are drawn afresh, so same-class images almost never agree.
        let labels = vec![0u32; 200];
        let w = class_word_control(&labels, 4, &vocab, 0.0, 7).unwrap();
        let same = w.windows(2).filter(|p| p[0] == p[1]).count();
        assert!(same < 3, "{same}");
        assert!(class_word_control(&labels, 4, &vocab, 1.5, 7).is_err());
        assert!(class_word_control(&labels, 4, &[], 1.0, 7).is_err());
    }
}
