//! CLIP (Radford et al., 2021), the paper's scorer, in burn: the ViT image tower and the causal
//! text transformer with their projections, loaded from a Hugging Face CLIP checkpoint folder
//! (`config.json`, `model.safetensors`, `tokenizer.json`), e.g. openai/clip-vit-base-patch32 or
//! the paper's ViT-L/14. Proven against `transformers` on a tiny random CLIP (`tests/clip.rs`).

use std::path::Path;

use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::transformer::{Attention, Dense, LayerNorm};
use super::ScorerError;
use crate::weights::{Weights, WeightsError};

/// CLIP's image normalisation (RGB mean and standard deviation).
const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

fn quick_gelu() -> String {
    "quick_gelu".into()
}
fn ln_eps() -> f64 {
    1e-5
}
fn eos() -> u32 {
    49407
}
fn three() -> usize {
    3
}

#[derive(Debug, Clone, Deserialize)]
struct TowerConfig {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default = "quick_gelu")]
    hidden_act: String,
    #[serde(default = "ln_eps")]
    layer_norm_eps: f64,
    // text
    #[serde(default)]
    vocab_size: usize,
    #[serde(default)]
    max_position_embeddings: usize,
    #[serde(default = "eos")]
    eos_token_id: u32,
    // vision
    #[serde(default)]
    image_size: usize,
    #[serde(default)]
    patch_size: usize,
    #[serde(default = "three")]
    num_channels: usize,
}

#[derive(Debug, Clone, Deserialize)]
struct ClipConfig {
    text_config: TowerConfig,
    vision_config: TowerConfig,
    projection_dim: usize,
}

struct Layer {
    norm1: LayerNorm,
    attention: Attention,
    norm2: LayerNorm,
    fc1: Dense,
    fc2: Dense,
}

/// A stack of pre-LayerNorm transformer layers.
struct Encoder {
    layers: Vec<Layer>,
    quick_gelu: bool,
}

impl Encoder {
    fn load(
        w: &Weights,
        prefix: &str,
        c: &TowerConfig,
        device: &Device,
    ) -> Result<Self, ScorerError> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let quick_gelu = match c.hidden_act.as_str() {
            "quick_gelu" => true,
            "gelu" => false,
            other => {
                return Err(ScorerError::Invalid {
                    path: w.path().to_path_buf(),
                    reason: format!("unsupported activation {other}"),
                })
            }
        };
        let layers = (0..c.num_hidden_layers)
            .map(|l| {
                let p = format!("{prefix}.encoder.layers.{l}");
                let dense =
                    |n: &str, out, inp| Dense::load(w, &format!("{p}.{n}"), out, inp, true, device);
                let norm =
                    |n: &str| LayerNorm::load(w, &format!("{p}.{n}"), h, c.layer_norm_eps, device);
                Ok(Layer {
                    norm1: norm("layer_norm1")?,
                    attention: Attention {
                        query: dense("self_attn.q_proj", h, h)?,
                        key: dense("self_attn.k_proj", h, h)?,
                        value: dense("self_attn.v_proj", h, h)?,
                        out: dense("self_attn.out_proj", h, h)?,
                        heads: c.num_attention_heads,
                    },
                    norm2: norm("layer_norm2")?,
                    fc1: dense("mlp.fc1", i, h)?,
                    fc2: dense("mlp.fc2", h, i)?,
                })
            })
            .collect::<Result<Vec<_>, WeightsError>>()?;
        Ok(Encoder { layers, quick_gelu })
    }

    fn forward(&self, mut x: Tensor<3>, bias: Option<Tensor<4>>) -> Tensor<3> {
        for l in &self.layers {
            x = x.clone() + l.attention.forward(l.norm1.forward(x), bias.clone());
            let h = l.fc1.forward(l.norm2.forward(x.clone()));
            let h = if self.quick_gelu {
                h.clone() * sigmoid(h.mul_scalar(1.702))
            } else {
                gelu(h)
            };
            x = x + l.fc2.forward(h);
        }
        x
    }
}

/// A CLIP model: `f_img` and `f_text` are its projected (unnormalised) embeddings.
pub struct Clip {
    tokenizer: Tokenizer,
    token_embedding: Tensor<2>,
    text_position: Tensor<2>,
    text_encoder: Encoder,
    final_norm: LayerNorm,
    text_projection: Dense,
    eos: u32,
    context: usize,
    patch: Tensor<4>,
    class_embedding: Tensor<1>,
    vision_position: Tensor<2>,
    pre_norm: LayerNorm,
    vision_encoder: Encoder,
    post_norm: LayerNorm,
    visual_projection: Dense,
    patch_size: usize,
    image_size: usize,
    device: Device,
    /// sha256 of the weights file, hex.
    fingerprint: String,
}

impl Clip {
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ScorerError> {
        let cfg: ClipConfig = super::read_json(&dir.join("config.json"))?;
        let (t, v) = (&cfg.text_config, &cfg.vision_config);
        let tokenizer = super::load_tokenizer(&dir.join("tokenizer.json"), t.vocab_size)?;
        let w = Weights::open(&dir.join("model.safetensors"))?;
        let fingerprint = w.sha256();
        let patches = (v.image_size / v.patch_size).pow(2);
        let p = v.patch_size;
        Ok(Clip {
            tokenizer,
            token_embedding: w.tensor(
                "text_model.embeddings.token_embedding.weight",
                [t.vocab_size, t.hidden_size],
                device,
            )?,
            text_position: w.tensor(
                "text_model.embeddings.position_embedding.weight",
                [t.max_position_embeddings, t.hidden_size],
                device,
            )?,
            text_encoder: Encoder::load(&w, "text_model", t, device)?,
            final_norm: LayerNorm::load(
                &w,
                "text_model.final_layer_norm",
                t.hidden_size,
                t.layer_norm_eps,
                device,
            )?,
            text_projection: Dense::load(
                &w,
                "text_projection",
                cfg.projection_dim,
                t.hidden_size,
                false,
                device,
            )?,
            eos: t.eos_token_id,
            context: t.max_position_embeddings,
            patch: w.tensor(
                "vision_model.embeddings.patch_embedding.weight",
                [v.hidden_size, v.num_channels, p, p],
                device,
            )?,
            class_embedding: w.tensor(
                "vision_model.embeddings.class_embedding",
                [v.hidden_size],
                device,
            )?,
            vision_position: w.tensor(
                "vision_model.embeddings.position_embedding.weight",
                [patches + 1, v.hidden_size],
                device,
            )?,
            pre_norm: LayerNorm::load(
                &w,
                "vision_model.pre_layrnorm",
                v.hidden_size,
                v.layer_norm_eps,
                device,
            )?,
            vision_encoder: Encoder::load(&w, "vision_model", v, device)?,
            post_norm: LayerNorm::load(
                &w,
                "vision_model.post_layernorm",
                v.hidden_size,
                v.layer_norm_eps,
                device,
            )?,
            visual_projection: Dense::load(
                &w,
                "visual_projection",
                cfg.projection_dim,
                v.hidden_size,
                false,
                device,
            )?,
            patch_size: p,
            image_size: v.image_size,
            device: device.clone(),
            fingerprint,
        })
    }

    /// sha256 of the weights (cache keys).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Token ids of texts: the tokenizer's, cut to the context length with the end token kept.
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>, ScorerError> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ScorerError::Tokenize(e.to_string()))?;
        Ok(enc
            .iter()
            .map(|e| {
                let mut ids = e.get_ids().to_vec();
                if ids.len() > self.context {
                    ids.truncate(self.context - 1);
                    ids.push(self.eos);
                }
                ids
            })
            .collect())
    }

    /// Projected text embeddings (unnormalised), one per text.
    pub fn text_features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ScorerError> {
        Ok(self.text_features_of_ids(&self.tokenize(texts)?))
    }

    /// Projected text embeddings of token ids: the causal transformer's output at each
    /// sequence's first end token (the highest id where the config keeps the legacy id 2).
    pub fn text_features_of_ids(&self, ids: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let b = ids.len();
        let t = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let h = self.token_embedding.dims()[1];
        let mut flat = vec![i64::from(self.eos); b * t];
        let mut pick = Vec::with_capacity(b);
        for (i, seq) in ids.iter().enumerate() {
            for (j, &id) in seq.iter().enumerate() {
                flat[i * t + j] = i64::from(id);
            }
            let end = if self.eos == 2 {
                (0..seq.len()).max_by_key(|&j| seq[j]).unwrap_or(0)
            } else {
                seq.iter()
                    .position(|&id| id == self.eos)
                    .unwrap_or(seq.len().saturating_sub(1))
            };
            pick.push((i * t + end) as i64);
        }
        let dev = &self.device;
        let x = self
            .token_embedding
            .clone()
            .select(
                0,
                Tensor::<1, Int>::from_data(TensorData::new(flat, [b * t]), dev),
            )
            .reshape([b, t, h])
            + self.text_position.clone().narrow(0, 0, t).unsqueeze::<3>();
        // Causal mask: position j sees positions <= j.
        let causal: Vec<f32> = (0..t * t)
            .map(|k| if k % t > k / t { -1e9 } else { 0.0 })
            .collect();
        let bias = Tensor::<4>::from_data(TensorData::new(causal, [1, 1, t, t]), dev);
        let x = self
            .final_norm
            .forward(self.text_encoder.forward(x, Some(bias)));
        let pooled = x.reshape([b * t, h]).select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(pick, [b]), dev),
        );
        rows(self.text_projection.forward2(pooled))
    }

    /// Projected image embeddings (unnormalised) of normalised pixel values `[B, 3, S, S]`,
    /// `S` the configured image size.
    pub fn image_features_of_pixel_values(&self, x: Tensor<4>) -> Vec<Vec<f32>> {
        let [b, _, _, _] = x.dims();
        let p = self.patch_size;
        let opts = ConvOptions::new([p, p], [0, 0], [1, 1], 1);
        let patches = conv2d(x, self.patch.clone(), None, opts); // [B, h, g, g]
        let [_, h, g, _] = patches.dims();
        let tokens = patches.reshape([b, h, g * g]).swap_dims(1, 2);
        let cls = self
            .class_embedding
            .clone()
            .reshape([1, 1, h])
            .repeat_dim(0, b);
        let x = Tensor::cat(vec![cls, tokens], 1) + self.vision_position.clone().unsqueeze::<3>();
        let x = self.vision_encoder.forward(self.pre_norm.forward(x), None);
        let cls = self.post_norm.forward(x.narrow(1, 0, 1)).reshape([b, h]);
        rows(self.visual_projection.forward2(cls))
    }

    /// Projected image embeddings of RGB images `[B, 3, S, S]` in `[0, 1]`: resized (bilinear)
    /// to the model's image size and normalised with CLIP's mean and deviation.
    pub fn image_features(&self, pixels: Vec<f32>, batch: usize, size: usize) -> Vec<Vec<f32>> {
        let dev = &self.device;
        let mut x = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 3, size, size]), dev);
        if size != self.image_size {
            x = interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_output_size([self.image_size, self.image_size]),
            );
        }
        let per_channel =
            |v: [f32; 3]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 3, 1, 1]), dev);
        self.image_features_of_pixel_values((x - per_channel(MEAN)) / per_channel(STD))
    }
}

fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, d] = t.dims();
    crate::tensor::to_vec(t)
        .chunks(d)
        .map(<[f32]>::to_vec)
        .collect()
}
