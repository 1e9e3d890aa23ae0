//! The sentence encoder all-MiniLM-L6-v2 (a 6-layer BERT, 384-d) in burn: WordPiece tokens (the
//! `tokenizers` crate with the model's own `tokenizer.json`), the BERT encoder, mean pooling over
//! the attention mask, unit normalisation; the same three modules as its sentence-transformers
//! pipeline. `f_text` of the offline scorers.

use std::path::Path;

use burn::tensor::activation::gelu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use super::transformer::{Attention, Dense, LayerNorm};
use super::ScorerError;
use crate::weights::{Weights, WeightsError};

/// The fields of the Hugging Face `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
struct BertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    layer_norm_eps: f64,
    hidden_act: String,
}

/// `sentence_bert_config.json`.
#[derive(Debug, Clone, Deserialize)]
struct SentenceConfig {
    max_seq_length: usize,
}

struct Layer {
    attention: Attention,
    attn_norm: LayerNorm,
    intermediate: Dense,
    out: Dense,
    out_norm: LayerNorm,
}

/// all-MiniLM-L6-v2: text in, unit-length 384-d sentence embeddings out.
pub struct MiniLm {
    tokenizer: Tokenizer,
    word: Tensor<2>,
    position: Tensor<2>,
    token_type: Tensor<2>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    device: Device,
    /// sha256 of the weights file, hex.
    fingerprint: String,
}

/// Sentences per forward pass.
const BATCH: usize = 64;

impl MiniLm {
    /// Loads the sentence-transformers folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`, `sentence_bert_config.json`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ScorerError> {
        let cfg: BertConfig = super::read_json(&dir.join("config.json"))?;
        let sent: SentenceConfig = super::read_json(&dir.join("sentence_bert_config.json"))?;
        if cfg.hidden_act != "gelu" || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(ScorerError::Invalid {
                path: dir.join("config.json"),
                reason: format!(
                    "unsupported BERT: activation {}, {} hidden for {} heads",
                    cfg.hidden_act, cfg.hidden_size, cfg.num_attention_heads
                ),
            });
        }
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = super::load_tokenizer(&tok_path, cfg.vocab_size)?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: sent.max_seq_length.min(cfg.max_position_embeddings),
                ..TruncationParams::default()
            }))
            .map_err(|e| ScorerError::Invalid {
                path: tok_path.clone(),
                reason: e.to_string(),
            })?;
        let w = Weights::open(&dir.join("model.safetensors"))?;
        let fingerprint = w.sha256();
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let dense = |name: &str, out, inp| Dense::load(&w, name, out, inp, true, device);
        let norm = |name: &str| LayerNorm::load(&w, name, h, eps, device);
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let p = format!("encoder.layer.{l}");
                Ok(Layer {
                    attention: Attention {
                        query: dense(&format!("{p}.attention.self.query"), h, h)?,
                        key: dense(&format!("{p}.attention.self.key"), h, h)?,
                        value: dense(&format!("{p}.attention.self.value"), h, h)?,
                        out: dense(&format!("{p}.attention.output.dense"), h, h)?,
                        heads: cfg.num_attention_heads,
                    },
                    attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: dense(&format!("{p}.intermediate.dense"), i, h)?,
                    out: dense(&format!("{p}.output.dense"), h, i)?,
                    out_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, WeightsError>>()?;
        Ok(MiniLm {
            tokenizer,
            word: w.tensor(
                "embeddings.word_embeddings.weight",
                [cfg.vocab_size, h],
                device,
            )?,
            position: w.tensor(
                "embeddings.position_embeddings.weight",
                [cfg.max_position_embeddings, h],
                device,
            )?,
            token_type: w.tensor(
                "embeddings.token_type_embeddings.weight",
                [cfg.type_vocab_size, h],
                device,
            )?,
            embed_norm: norm("embeddings.LayerNorm")?,
            layers,
            hidden: h,
            device: device.clone(),
            fingerprint,
        })
    }

    /// sha256 of the weights (cache keys).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.hidden
    }

    /// Unit-length sentence embeddings, one per text.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ScorerError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ScorerError> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ScorerError::Tokenize(e.to_string()))?;
        let b = texts.len();
        let t = enc
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut ids = vec![0i64; b * t];
        let mut mask = vec![0f32; b * t];
        for (i, e) in enc.iter().enumerate() {
            for (j, &id) in e.get_ids().iter().enumerate() {
                ids[i * t + j] = i64::from(id);
                mask[i * t + j] = 1.0;
            }
        }
        let dev = &self.device;
        let h = self.hidden;
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), dev);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, t]), dev);
        let x = self.word.clone().select(0, ids).reshape([b, t, h])
            + self.position.clone().narrow(0, 0, t).unsqueeze::<3>()
            + self.token_type.clone().narrow(0, 0, 1).unsqueeze::<3>();
        let mut x = self.embed_norm.forward(x);
        // Padding is masked out of attention with a large negative bias.
        let bias = (mask.clone().neg() + 1.0)
            .mul_scalar(-1e9)
            .reshape([b, 1, 1, t]);
        for l in &self.layers {
            let x1 = l
                .attn_norm
                .forward(l.attention.forward(x.clone(), Some(bias.clone())) + x);
            let inner = gelu(l.intermediate.forward(x1.clone()));
            x = l.out_norm.forward(l.out.forward(inner) + x1);
        }
        let m = mask.reshape([b, t, 1]);
        let pooled = (x * m.clone()).sum_dim(1) / m.sum_dim(1).clamp_min(1e-9);
        let v = crate::tensor::to_vec(pooled.reshape([b, h]));
        Ok(v.chunks(h)
            .map(|r| {
                let mut r = r.to_vec();
                crate::tensor::normalize(&mut r);
                r
            })
            .collect())
    }
}
