//! The trained video tokenizer (issue 19): clips to 3-D pyramids of words (Eq. 1 on time,
//! height and width; SAQ, Eqs. 2-3), and any decodable prefix back to frames.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{check_layers, codes_of_ids, ids_of_codes, word_indices, TokenizerError};
use crate::checkpoint::{load_model, load_state_of, read_latest};
use crate::codebook::Codebook;
use crate::config::VideoTrainConfig;
use crate::data::video::ClipShape;
use crate::model::video::VideoSpaeModel;
use crate::pyramid::{PyramidLayout, VideoPyramid};
use crate::quantizer::{quantize_pyramid, reconstruct, PyramidCodes};
use crate::setup::{check_codebook, load_codebook_at, video_quant_context, QuantContext};
use crate::tensor::{clips_to_tensor, tensor_to_clips, to_vec};

/// One layer of a clip's pyramid, as `spae video encode --json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoLayerTokens {
    /// 1-based layer number.
    pub layer: usize,
    /// Tokens per axis `[time, rows, cols]`.
    pub grid: [usize; 3],
    /// 0-based flat latent positions (`(t * h + row) * w + col`).
    pub positions: Vec<usize>,
    /// LLM vocabulary ids.
    pub ids: Vec<u32>,
    /// The words (leading space included).
    pub words: Vec<String>,
}

/// One clip's pyramid with the file it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedClip {
    pub clip: String,
    pub layers: Vec<VideoLayerTokens>,
}

/// Clips encoded per forward pass.
pub const CLIP_CHUNK: usize = 8;

/// A loaded video tokenizer (inference only).
pub struct VideoTokenizer {
    config: VideoTrainConfig,
    codebook: Codebook,
    ctx: QuantContext<VideoPyramid>,
    model: VideoSpaeModel,
    device: Device,
}

impl VideoTokenizer {
    /// Loads a checkpoint folder, a run folder (its latest checkpoint) or a released model.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TokenizerError> {
        read_latest(path, |dir| Self::load_folder(dir, device))
    }

    fn load_folder(dir: &Path, device: &Device) -> Result<Self, TokenizerError> {
        let state = load_state_of::<VideoTrainConfig>(dir)?;
        let cfg = state.config.clone();
        let codebook = load_codebook_at(&cfg.codebook, cfg.model.latent_dim)?;
        check_codebook(&state, &codebook.fingerprint(), dir)?;
        let mut model = cfg.model.init(device);
        load_model(dir, &mut model)?;
        let ctx = video_quant_context(&cfg, &codebook)?;
        Ok(VideoTokenizer {
            config: cfg,
            codebook,
            ctx,
            model,
            device: device.clone(),
        })
    }

    /// The configuration the model was trained with.
    pub fn config(&self) -> &VideoTrainConfig {
        &self.config
    }

    /// The frozen codebook (the LLM's words).
    pub fn codebook(&self) -> &Codebook {
        &self.codebook
    }

    /// The 3-D token pyramid.
    pub fn pyramid(&self) -> &VideoPyramid {
        &self.ctx.pyramid
    }

    /// Frames per clip, channels and frame side.
    pub fn clip_shape(&self) -> ClipShape {
        self.config.model.clip_shape()
    }

    fn per_clip(&self, pixels: &[f32]) -> Result<usize, TokenizerError> {
        let shape = self.clip_shape();
        let n = shape.per_clip();
        match pixels.len().is_multiple_of(n) && !pixels.is_empty() {
            true => Ok(n),
            false => Err(TokenizerError::Tokens(format!(
                "{} floats are not whole clips of {} frames of {} x {s} x {s}",
                pixels.len(),
                shape.frames,
                shape.channels,
                s = shape.size
            ))),
        }
    }

    /// Codebook indices of a batch of clips (`B x T x C x S x S`, floats in `[0, 1]`).
    pub fn encode_codes(&self, pixels: &[f32]) -> Result<PyramidCodes, TokenizerError> {
        let n = self.per_clip(pixels)?;
        let ClipShape {
            frames,
            channels,
            size,
        } = self.clip_shape();
        let b = pixels.len() / n;
        let x = clips_to_tensor(pixels.to_vec(), [b, frames, channels, size], &self.device);
        let z = self.model.encoder.forward(x).permute([0, 2, 3, 4, 1]);
        Ok(quantize_pyramid(
            self.ctx.quantizer.as_ref(),
            &self.ctx.pyramid,
            &self.ctx.search,
            &to_vec(z),
        ))
    }

    /// Frames (`B x T x C x S x S`, clamped to `[0, 1]`) from codebook indices of the first `depth`
    /// layers of a batch of clips.
    pub fn decode_codes(
        &self,
        tokens: &[Vec<u32>],
        batch: usize,
        depth: usize,
    ) -> Result<Vec<f32>, TokenizerError> {
        let d = self.codebook.dim;
        let zhat = reconstruct(
            self.ctx.quantizer.as_ref(),
            &self.ctx.pyramid,
            self.ctx.search.codes(),
            d,
            tokens,
            batch,
            depth,
        )?;
        let (t, h, w) = self.ctx.pyramid.latent;
        let z = Tensor::<5>::from_data(TensorData::new(zhat, [batch, t, h, w, d]), &self.device)
            .permute([0, 4, 1, 2, 3]);
        Ok(tensor_to_clips(
            self.model.decoder.forward(z).clamp(0.0, 1.0),
        ))
    }

    /// Each clip's LLM word ids of layers 1..=`layers`, layer after layer, as a prompt gives them
    /// (`B x T x C x S x S` floats in `[0, 1]`, [`CLIP_CHUNK`] clips a pass).
    pub fn word_ids(&self, pixels: &[f32], layers: usize) -> Result<Vec<Vec<u32>>, TokenizerError> {
        check_layers(&self.ctx.pyramid, layers)?;
        let n = self.per_clip(pixels)?;
        let sizes = self.ctx.pyramid.layer_sizes();
        let mut out = Vec::new();
        for chunk in pixels.chunks(CLIP_CHUNK * n) {
            let codes = self.encode_codes(chunk)?;
            out.extend(ids_of_codes(
                &self.codebook,
                &codes,
                &sizes[..layers],
                chunk.len() / n,
            ));
        }
        Ok(out)
    }

    /// Frames (`B x T x C x S x S`, clamped to `[0, 1]`) of flat LLM id sequences of layers
    /// 1..=`depth`, as an LLM writes them.
    pub fn decode_ids(&self, seqs: &[Vec<u32>], depth: usize) -> Result<Vec<f32>, TokenizerError> {
        self.ctx.pyramid.check_decodable(depth)?;
        let sizes = &self.ctx.pyramid.layer_sizes()[..depth];
        let tokens = codes_of_ids(&self.codebook, seqs, sizes)?;
        self.decode_codes(&tokens, seqs.len(), depth)
    }

    /// Each clip's word pyramid (`B x T x C x S x S` floats in `[0, 1]`, [`CLIP_CHUNK`] clips a pass).
    pub fn encode(&self, pixels: &[f32]) -> Result<Vec<Vec<VideoLayerTokens>>, TokenizerError> {
        let n = self.per_clip(pixels)?;
        let mut out = Vec::new();
        for chunk in pixels.chunks(CLIP_CHUNK * n) {
            let codes = self.encode_codes(chunk)?;
            for b in 0..chunk.len() / n {
                out.push(self.layers_of(&codes, b));
            }
        }
        Ok(out)
    }

    fn layers_of(&self, codes: &PyramidCodes, b: usize) -> Vec<VideoLayerTokens> {
        let words = &self.codebook.words;
        (0..self.ctx.pyramid.n_layers())
            .map(|l| {
                let positions = self.ctx.pyramid.positions(l);
                let n = positions.len();
                let idx = &codes.tokens[l][b * n..(b + 1) * n];
                let (gt, gh, gw) = self.ctx.pyramid.grids[l];
                VideoLayerTokens {
                    layer: l + 1,
                    grid: [gt, gh, gw],
                    positions,
                    ids: idx.iter().map(|&k| words[k as usize].id).collect(),
                    words: idx
                        .iter()
                        .map(|&k| words[k as usize].text.clone())
                        .collect(),
                }
            })
            .collect()
    }

    /// Frames (`B x T x C x S x S`, clamped to `[0, 1]`) of clips' pyramids from their first
    /// `depth` layers; each layer's size and every word (and id, where given) is checked.
    pub fn decode(
        &self,
        clips: &[Vec<VideoLayerTokens>],
        depth: usize,
    ) -> Result<Vec<f32>, TokenizerError> {
        self.ctx.pyramid.check_decodable(depth)?;
        let sizes = self.ctx.pyramid.layer_sizes();
        let mut tokens = vec![Vec::new(); depth];
        for layers in clips {
            let words = layers
                .iter()
                .map(|l| (l.words.as_slice(), l.ids.as_slice()));
            for (l, idx) in word_indices(&self.codebook, &sizes, words, depth)?
                .into_iter()
                .enumerate()
            {
                tokens[l].extend(idx);
            }
        }
        self.decode_codes(&tokens, clips.len(), depth)
    }
}
