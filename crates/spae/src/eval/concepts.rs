//! Do an image's words carry its concept? Measures for images of classes a tokenizer never saw
//! labelled: the scorer's own zero-shot accuracy over class names (measured as CLIP is: the
//! class whose templated text feature is nearest `f_img`), and how stable a tokenizer's words
//! are within a class and how they differ across classes (top-word agreement, mutual
//! information between words and the label).

use std::collections::HashMap;

/// Zero-shot prediction: the index of the class text feature with the largest dot product with
/// the image feature (first on ties).
pub fn zero_shot_class(image: &[f32], classes: &[Vec<f32>]) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (c, t) in classes.iter().enumerate() {
        let s: f32 = t.iter().zip(image).map(|(a, b)| a * b).sum();
        if s > best.1 {
            best = (c, s);
        }
    }
    best.0
}

/// Leave-one-out nearest-neighbour accuracy of features against labels (cosine similarity of
/// unit vectors, i.e. dot products): how well a label-free feature separates the classes
/// without naming them, the ceiling of words that copy the feature's neighbourhoods.
pub fn nearest_neighbour_accuracy(features: &[Vec<f32>], labels: &[u32]) -> f64 {
    let n = features.len();
    if n < 2 {
        return 0.0;
    }
    let correct = (0..n)
        .filter(|&i| {
            let mut best = (usize::MAX, f32::NEG_INFINITY);
            for j in (0..n).filter(|&j| j != i) {
                let s: f32 = features[i]
                    .iter()
                    .zip(&features[j])
                    .map(|(a, b)| a * b)
                    .sum();
                if s > best.1 {
                    best = (j, s);
                }
            }
            labels[best.0] == labels[i]
        })
        .count();
    correct as f64 / n as f64
}

/// How much of the vocabulary a layer's words use: the number of distinct words among `words`
/// (every position of every clip or image) and the most frequent ones with their counts (most
/// first, ties by smaller id). A tokenizer whose words collapse onto a few hubs uses a handful.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WordUsage {
    pub positions: usize,
    pub distinct: usize,
    /// `(word, count)` of the `top` most frequent words.
    pub top: Vec<(u32, usize)>,
}

/// [`WordUsage`] of `words`, with its `top` most frequent words.
pub fn word_usage(words: &[u32], top: usize) -> WordUsage {
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    for &w in words {
        *counts.entry(w).or_default() += 1;
    }
    let mut ranked: Vec<(u32, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    WordUsage {
        positions: words.len(),
        distinct: ranked.len(),
        top: ranked.into_iter().take(top).collect(),
    }
}

/// Agreement of one word per image (e.g. the top word) over labelled images: the probability
/// that two distinct images share their word, among pairs of the same class (`within`) and of
/// different classes (`across`). Words that carry the concept have `within` well above
/// `across`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    pub within: f64,
    pub across: f64,
}

/// [`Agreement`] of `words` (one per image) against `labels`, counted over all pairs exactly
/// from the (word, label) counts.
pub fn agreement(words: &[u32], labels: &[u32]) -> Agreement {
    let mut joint: HashMap<(u32, u32), u64> = HashMap::new();
    let mut by_word: HashMap<u32, u64> = HashMap::new();
    let mut by_label: HashMap<u32, u64> = HashMap::new();
    for (&w, &l) in words.iter().zip(labels) {
        *joint.entry((w, l)).or_default() += 1;
        *by_word.entry(w).or_default() += 1;
        *by_label.entry(l).or_default() += 1;
    }
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let same_both: u64 = joint.values().map(|&n| pairs(n)).sum();
    let same_word: u64 = by_word.values().map(|&n| pairs(n)).sum();
    let same_label: u64 = by_label.values().map(|&n| pairs(n)).sum();
    let all = pairs(words.len() as u64);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Agreement {
        within: ratio(same_both, same_label),
        across: ratio(same_word - same_both, all - same_label),
    }
}

/// Plug-in mutual information `I(W; Y)` in bits between a discrete word per image and the
/// label, `sum p(w, y) log2(p(w, y) / (p(w) p(y)))`. Biased upwards when words are many and
/// images few: compare with the same estimate under shuffled labels.
pub fn mutual_information(words: &[u32], labels: &[u32]) -> f64 {
    let n = words.len() as f64;
    let mut joint: HashMap<(u32, u32), f64> = HashMap::new();
    let mut pw: HashMap<u32, f64> = HashMap::new();
    let mut py: HashMap<u32, f64> = HashMap::new();
    for (&w, &l) in words.iter().zip(labels) {
        *joint.entry((w, l)).or_default() += 1.0;
        *pw.entry(w).or_default() += 1.0;
        *py.entry(l).or_default() += 1.0;
    }
    joint
        .iter()
        .map(|(&(w, l), &c)| c / n * (c * n / (pw[&w] * py[&l])).log2())
        .sum()
}

/// Entropy in bits of a discrete variable from its samples.
pub fn entropy(values: &[u32]) -> f64 {
    let n = values.len() as f64;
    let mut count: HashMap<u32, f64> = HashMap::new();
    for &v in values {
        *count.entry(v).or_default() += 1.0;
    }
    count.values().map(|&c| -(c / n) * (c / n).log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_shot_by_hand() {
        let classes = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.6, 0.8]];
        // (0.9, 0.3): dots 0.9, 0.3, 0.78 -> class 0.
        assert_eq!(zero_shot_class(&[0.9, 0.3], &classes), 0);
        // (0.5, 0.7): dots 0.5, 0.7, 0.86 -> class 2.
        assert_eq!(zero_shot_class(&[0.5, 0.7], &classes), 2);
    }

    #[test]
    fn nearest_neighbour_by_hand() {
        // Two tight pairs, labelled by pair: every image's neighbour is its partner.
        let f = vec![
            vec![1.0, 0.0],
            vec![0.99, 0.14],
            vec![0.0, 1.0],
            vec![0.14, 0.99],
        ];
        assert_eq!(nearest_neighbour_accuracy(&f, &[0, 0, 1, 1]), 1.0);
        // Labels across the pairs: every neighbour has the other label.
        assert_eq!(nearest_neighbour_accuracy(&f, &[0, 1, 0, 1]), 0.0);
        assert_eq!(nearest_neighbour_accuracy(&f[..1], &[0]), 0.0);
    }

    #[test]
    fn agreement_by_hand() {
        // Class 0: words a a b; class 1: words b c.
        let words = [1, 1, 2, 2, 3];
        let labels = [0, 0, 0, 1, 1];
        let a = agreement(&words, &labels);
        // Same-class pairs: 3 in class 0 (one shares its word) + 1 in class 1 (not) -> 1/4.
        assert!((a.within - 0.25).abs() < 1e-12, "{a:?}");
        // Cross-class pairs: 3 x 2 = 6, of which one shares its word (b, b) -> 1/6.
        assert!((a.across - 1.0 / 6.0).abs() < 1e-12, "{a:?}");
    }

    #[test]
    fn mutual_information_by_hand() {
        // Word equals label, two equiprobable classes: I = H(Y) = 1 bit.
        let mi = mutual_information(&[5, 5, 9, 9], &[0, 0, 1, 1]);
        assert!((mi - 1.0).abs() < 1e-12);
        assert!((entropy(&[0, 0, 1, 1]) - 1.0).abs() < 1e-12);
        // One word for every image: no information.
        assert_eq!(mutual_information(&[7, 7, 7, 7], &[0, 0, 1, 1]), 0.0);
        // Independent: words (a b a b) against labels (0 0 1 1): 0 bits.
        assert!(mutual_information(&[1, 2, 1, 2], &[0, 0, 1, 1]).abs() < 1e-12);
        // p(w,y) = (1/2, 0; 1/4, 1/4): I = H(Y) - H(Y|W) = 0.8113 - 0.5 = 0.3113 bits.
        let mi = mutual_information(&[1, 1, 2, 2], &[0, 0, 0, 1]);
        let h_y = -(0.75f64 * 0.75f64.log2() + 0.25 * 0.25f64.log2());
        assert!((mi - (h_y - 0.5)).abs() < 1e-12, "{mi}");
    }

    #[test]
    fn word_usage_by_hand() {
        // 7 positions over words 5 5 2 9 2 5 1: 4 distinct; 5 three times, 2 twice, then the
        // ties 1 and 9 (once each) by id.
        let u = word_usage(&[5, 5, 2, 9, 2, 5, 1], 3);
        assert_eq!(
            u,
            WordUsage {
                positions: 7,
                distinct: 4,
                top: vec![(5, 3), (2, 2), (1, 1)],
            }
        );
        assert_eq!(word_usage(&[], 3).distinct, 0);
    }
}
