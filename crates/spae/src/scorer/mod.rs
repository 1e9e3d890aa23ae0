//! Image-text scorers (method.md, Eqs. 4-7): `f_img(I)` and `f_text(x)` in one space, so that
//! `s(I, k) = f_img(I) . t(k)`. Implementations: [`BridgeScorer`] (offline, from real parts:
//! [`EfficientNetLite0`]'s class probabilities over the [`MiniLm`] embeddings of the class
//! names) and [`LabelScorer`] (labelled data: `f_img` is the text embedding of the class name, or
//! of each image's own caption for the `name` scorer).
//! [`Clip`] loads Hugging Face CLIP checkpoints for users who have them.

pub mod bridge;
pub mod bridge_options;
pub mod clip;
pub mod efficientnet;
pub mod error;
pub mod minilm;
pub mod relate;
pub mod transformer;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use bridge::BridgeScorer;
pub use clip::Clip;
pub use efficientnet::EfficientNetLite0;
pub use error::ScorerError;
pub use minilm::MiniLm;

/// `f_text` of a scorer: MiniLM (label, name and bridge scorers) or CLIP's text tower.
pub enum TextEncoder {
    MiniLm(Box<MiniLm>),
    Clip(Box<Clip>),
}

impl TextEncoder {
    /// Eq. 5 applied to a name: its templated text embeddings' normalised mean.
    pub fn name_feature(&self, templates: &[&str], name: &str) -> Result<Vec<f32>, ScorerError> {
        let texts: Vec<String> = templates
            .iter()
            .map(|t| crate::semantic::templates::fill(t, name))
            .collect();
        Ok(crate::semantic::token_text_feature(&self.embed(&texts)?))
    }

    /// Unit-length text embeddings.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ScorerError> {
        match self {
            TextEncoder::MiniLm(m) => m.embed(texts),
            TextEncoder::Clip(c) => Ok(c
                .text_features(texts)?
                .into_iter()
                .map(|mut v| {
                    crate::tensor::normalize(&mut v);
                    v
                })
                .collect()),
        }
    }

    /// A fingerprint of the weights (cache keys).
    pub fn fingerprint(&self) -> &str {
        match self {
            TextEncoder::MiniLm(m) => m.fingerprint(),
            TextEncoder::Clip(c) => c.fingerprint(),
        }
    }
}

/// A `tokenizer.json`, whose ids must fit an embedding table of `vocab_size` rows.
fn load_tokenizer(path: &Path, vocab_size: usize) -> Result<tokenizers::Tokenizer, ScorerError> {
    let invalid = |reason: String| ScorerError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| invalid(e.to_string()))?;
    let n = tokenizer.get_vocab_size(true);
    if n > vocab_size {
        return Err(invalid(format!("{n} tokens, the model has {vocab_size}")));
    }
    Ok(tokenizer)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ScorerError> {
    let bytes = std::fs::read(path).map_err(|source| ScorerError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ScorerError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The label scorer for labelled data: `f_img(I)` is the MiniLM embedding of the image's class
/// name, `f_text` MiniLM itself. Exact for data sets whose labels say what the image shows.
pub struct LabelScorer {
    pub text: MiniLm,
    /// Unit-length embedding of each class name, in label order.
    pub classes: Vec<Vec<f32>>,
}

impl LabelScorer {
    pub fn new(text: MiniLm, class_names: &[String]) -> Result<Self, ScorerError> {
        let classes = text.embed(class_names)?;
        Ok(LabelScorer { text, classes })
    }

    /// `f_img` of images with these labels.
    pub fn image_features(&self, labels: &[u32]) -> Result<Vec<&[f32]>, ScorerError> {
        labels
            .iter()
            .map(|&l| {
                self.classes
                    .get(l as usize)
                    .map(Vec::as_slice)
                    .ok_or_else(|| {
                        ScorerError::Input(format!(
                            "label {l} out of range ({} classes)",
                            self.classes.len()
                        ))
                    })
            })
            .collect()
    }
}
