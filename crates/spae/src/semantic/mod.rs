//! Semantic guidance (method.md, Eqs. 4-7 and 9): what makes the pyramid's words *mean*
//! something. A scorer gives `f_img(I)` and `f_text(x)` in one space; token text features
//! (Eq. 5) and per-image normalised similarities (Eq. 6) define per-layer candidate pools (Eq. 4),
//! and the semantic loss (Eq. 7) pulls each layer's target towards a word drawn from its pool,
//! weighted against the appearance loss by Eq. 9. Token text features are computed once per
//! (codebook, scorer, templates) and cached on disk ([`features`]).

pub mod features;
pub mod templates;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::scorer::bridge_options::BridgeOptions;

/// Semantic-loss settings. Defaults: method.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticConfig {
    /// `alpha`, the weight of `w * L_sem` in the total loss (Eq. 9; method.md: 1). 0 turns the
    /// semantic loss off.
    pub weight: f32,
    /// `rho_l`, the candidate-pool threshold of each guided layer (Eq. 4); its length is the
    /// number of guided layers `L'` (method.md: 0.98, 0.95, 0.90, 0.85, 0.80).
    pub thresholds: Vec<f32>,
    /// Eq. 9's dynamic weight `sg(L_app / L_sem)`; off means `w = 1` (an ablation).
    pub dynamic_weight: bool,
    /// Eq. 5's prompt templates: `imagenet-80` (method.md) or `imagenet-7` (cheaper on CPUs).
    pub templates: templates::TemplateSet,
    /// The image-text scorer: `label` (the data set's class names through MiniLM), `name` (each
    /// image's own name or caption through MiniLM, e.g. emoji), `bridge`, `clip:DIR`.
    pub scorer: ScorerKind,
    /// The bridge scorer's options (`[semantic.bridge]`; absent: the plain scorer).
    #[serde(skip_serializing_if = "BridgeOptions::is_plain")]
    pub bridge: BridgeOptions,
}

impl Default for SemanticConfig {
    fn default() -> Self {
        SemanticConfig {
            weight: 0.0,
            thresholds: vec![0.98, 0.95, 0.90, 0.85, 0.80],
            dynamic_weight: true,
            templates: templates::TemplateSet::Imagenet80,
            scorer: ScorerKind::Label,
            bridge: Default::default(),
        }
    }
}

/// Eq. 5: a token's text feature, the normalised mean of its templated text embeddings,
/// `t(k) = normalize(mean_templates f_text(template(k)))`.
pub fn token_text_feature(template_embeddings: &[Vec<f32>]) -> Vec<f32> {
    let d = template_embeddings.first().map_or(0, Vec::len);
    let mut mean = vec![0f32; d];
    for e in template_embeddings {
        for (m, v) in mean.iter_mut().zip(e) {
            *m += v / template_embeddings.len() as f32;
        }
    }
    normalize(&mut mean);
    mean
}

pub use crate::tensor::normalize;

/// Eq. 6: per-image min-max normalisation of the similarities `s(I, k) = f_img(I) . t(k)` to
/// `[0, 1]`. If every token scores the same, every token gets 1 (all tie for the best).
pub fn normalize_scores(scores: &[f32]) -> Vec<f32> {
    let (lo, hi) = scores
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
    if hi > lo {
        scores.iter().map(|s| (s - lo) / (hi - lo)).collect()
    } else {
        vec![1.0; scores.len()]
    }
}

/// Eq. 4: the candidate pool `C_l(I) = { k : s'(I, k) >= rho_l }` as codebook indices.
pub fn candidate_pool(normalized: &[f32], threshold: f32) -> Vec<u32> {
    normalized
        .iter()
        .enumerate()
        .filter(|(_, &s)| s >= threshold)
        .map(|(k, _)| k as u32)
        .collect()
}

/// Eq. 7's target: a word drawn uniformly from the pool, or `None` for an empty pool (which
/// Eq. 6 rules out, since the best token scores 1; the position then has no semantic term).
pub fn sample_target(pool: &[u32], rng: &mut impl Rng) -> Option<u32> {
    (!pool.is_empty()).then(|| pool[rng.random_range(0..pool.len())])
}

/// Eq. 7: the semantic loss of one layer, cross-entropy over the codebook with negative squared
/// distances as logits, `mean_p -log softmax_k(-||z_l(p) - e(k)||^2)[c_p]`, for layer targets
/// `z_l` `[n, d]`, codebook rows `[K, d]` and target words `[n]`.
pub fn semantic_loss(targets: Tensor<2>, codebook: Tensor<2>, words: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = targets.dims();
    let z2 = targets.clone().square().sum_dim(1); // [n, 1]
    let e2 = codebook.clone().square().sum_dim(1).transpose(); // [1, K]
    let logits = targets.matmul(codebook.transpose()).mul_scalar(2.0) - z2 - e2;
    let logp = log_softmax(logits, 1);
    logp.gather(1, words.reshape([n, 1]))
        .mean()
        .neg()
        .reshape([1])
}

/// Eq. 9: the dynamic weight `w = sg(L_app / L_sem)`, which brings the semantic term to the
/// scale of the appearance loss.
pub fn dynamic_weight(appearance: Tensor<1>, semantic: Tensor<1>) -> Tensor<1> {
    (appearance / semantic).detach()
}

/// The image-text scorer of Eq. 6 (`scorer = "bridge"` or `"clip:DIR"` in TOML).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ScorerKind {
    /// The data set's class names through MiniLM (`f_img` = the class name's embedding: uses the
    /// training labels).
    #[default]
    Label,
    /// Each image's own name or caption through MiniLM (e.g. emoji names).
    Name,
    /// Label-free: EfficientNet-Lite0's ImageNet probabilities over MiniLM embeddings of the
    /// ImageNet class names.
    Bridge,
    /// CLIP weights from a folder (`clip:DIR`).
    Clip(std::path::PathBuf),
}

impl std::str::FromStr for ScorerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "label" => Ok(ScorerKind::Label),
            "name" => Ok(ScorerKind::Name),
            "bridge" => Ok(ScorerKind::Bridge),
            _ => match s.strip_prefix("clip:") {
                Some(dir) if !dir.is_empty() => Ok(ScorerKind::Clip(dir.into())),
                _ => Err(format!(
                    "unknown semantic.scorer '{s}' (label, name, bridge, clip:DIR)"
                )),
            },
        }
    }
}

impl TryFrom<String> for ScorerKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::fmt::Display for ScorerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScorerKind::Label => f.write_str("label"),
            ScorerKind::Name => f.write_str("name"),
            ScorerKind::Bridge => f.write_str("bridge"),
            ScorerKind::Clip(dir) => write!(f, "clip:{}", dir.display()),
        }
    }
}

impl From<ScorerKind> for String {
    fn from(s: ScorerKind) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::to_vec;
    use burn::tensor::{Device, TensorData};
    use rand::SeedableRng;

    #[test]
    fn eq5_token_text_feature_by_hand() {
        // mean of (1, 0) and (0, 1) is (0.5, 0.5); normalised (1/sqrt 2, 1/sqrt 2).
        let t = token_text_feature(&[vec![1.0, 0.0], vec![0.0, 1.0]]);
        let r = std::f32::consts::FRAC_1_SQRT_2;
        assert!((t[0] - r).abs() < 1e-7 && (t[1] - r).abs() < 1e-7);
    }

    #[test]
    fn eq6_and_eq4_by_hand() {
        let s = normalize_scores(&[0.25, 1.25, 2.25, 1.75]);
        assert_eq!(s, vec![0.0, 0.5, 1.0, 0.75]);
        assert_eq!(candidate_pool(&s, 0.75), vec![2, 3]);
        assert_eq!(candidate_pool(&s, 0.98), vec![2]);
        // Ties everywhere: all tokens are candidates.
        assert_eq!(normalize_scores(&[0.3, 0.3]), vec![1.0, 1.0]);
        // The best token always scores 1, so a threshold <= 1 never gives an empty pool; one
        // above 1 does, and then there is no target.
        let empty = candidate_pool(&s, 1.01);
        assert!(empty.is_empty());
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        assert_eq!(sample_target(&empty, &mut rng), None);
        for _ in 0..20 {
            assert!([2, 3].contains(&sample_target(&[2, 3], &mut rng).unwrap()));
        }
    }

    #[test]
    fn eq7_semantic_loss_by_hand() {
        let device = Device::flex();
        // z = (0, 0); codebook (0, 0), (1, 0), (0, 2): logits 0, -1, -4.
        let z = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0], [1, 2]), &device);
        let cb = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 1.0, 0.0, 0.0, 2.0], [3, 2]),
            &device,
        );
        let lse = (1.0f32 + (-1.0f32).exp() + (-4.0f32).exp()).ln();
        for (c, logit) in [(0i64, 0.0f32), (1, -1.0), (2, -4.0)] {
            let w = Tensor::<1, Int>::from_data(TensorData::new(vec![c], [1]), &device);
            let l = to_vec(semantic_loss(z.clone(), cb.clone(), w))[0];
            assert!((l - (lse - logit)).abs() < 1e-5, "target {c}: {l}");
        }
    }

    #[test]
    fn eq9_dynamic_weight_by_hand() {
        let device = Device::flex();
        let t = |v: f32| Tensor::<1>::from_data(TensorData::new(vec![v], [1]), &device);
        assert_eq!(to_vec(dynamic_weight(t(0.5), t(2.0))), vec![0.25]);
    }
}
