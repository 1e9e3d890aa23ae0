//! The trained SPAE image tokenizer: images to pyramids of words, and any decodable prefix of a
//! pyramid back to pixels.

mod encoding;
mod tokens_file;
pub mod video;
pub use encoding::PyramidEncoding;
pub use tokens_file::{parse_tokens, EncodedImage};

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::checkpoint::{load_model, load_state, read_latest, CheckpointError};
use crate::codebook::Codebook;
use crate::config::TrainConfig;
use crate::model::SpaeModel;
use crate::pyramid::{Pyramid, PyramidError, PyramidLayout};
use crate::quantizer::{quantize_pyramid, reconstruct, PyramidCodes};
use crate::setup::{
    check_codebook, init_model, load_codebook, quant_context, QuantContext, SetupError,
};
use crate::tensor::to_vec;

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Pyramid(#[from] PyramidError),
    #[error("token pyramid: {0}")]
    Tokens(String),
}

/// One layer of an image's pyramid, as `spae encode --json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerTokens {
    /// 1-based layer number.
    pub layer: usize,
    /// Tokens per side `[rows, cols]`.
    pub grid: [usize; 2],
    /// 0-based flat latent positions (`row * width + col`).
    pub positions: Vec<usize>,
    /// LLM vocabulary ids.
    pub ids: Vec<u32>,
    /// The words (leading space included).
    pub words: Vec<String>,
}

/// Images encoded per forward pass by [`ImageTokenizer::word_ids`].
pub const ENCODE_CHUNK: usize = 100;

fn learned_codebook() -> TokenizerError {
    TokenizerError::Tokens(
        "this model's codebook is learned (the plain VQ baseline): its tokens are not words".into(),
    )
}

/// A loaded tokenizer (inference only).
pub struct ImageTokenizer {
    config: TrainConfig,
    codebook: Codebook,
    ctx: QuantContext,
    model: SpaeModel,
    device: Device,
}

impl ImageTokenizer {
    /// Loads a checkpoint folder, or the latest checkpoint of a run folder (also while it
    /// trains: [`read_latest`]), onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TokenizerError> {
        read_latest(path, |dir| Self::load_folder(dir, device))
    }

    fn load_folder(dir: &Path, device: &Device) -> Result<Self, TokenizerError> {
        let state = load_state(dir)?;
        let cfg = state.config.clone();
        let device = device.clone();
        let codebook = load_codebook(&cfg)?;
        check_codebook(&state, &codebook.fingerprint(), dir)?;
        let mut model = init_model(&cfg, &codebook, &device);
        load_model(dir, &mut model)?;
        let frozen = quant_context(&cfg, &codebook)?;
        let ctx = frozen.for_model(&model).unwrap_or(frozen);
        Ok(ImageTokenizer {
            config: cfg,
            codebook,
            ctx,
            model,
            device,
        })
    }

    /// The configuration the model was trained with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The frozen codebook (the LLM's words).
    pub fn codebook(&self) -> &Codebook {
        &self.codebook
    }

    /// The token pyramid (Eq. 1): layers, grids, positions.
    pub fn pyramid(&self) -> &Pyramid {
        &self.ctx.pyramid
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Image side, channels.
    pub fn image_shape(&self) -> (usize, usize) {
        (
            self.config.model.image_size,
            self.config.model.image_channels,
        )
    }

    /// Codebook indices of a batch of images (`B x C x S x S`, floats in `[0, 1]`).
    pub fn encode_codes(&self, pixels: Vec<f32>, batch: usize) -> PyramidCodes {
        let (s, c) = self.image_shape();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [batch, c, s, s]), &self.device);
        let z = self.model.encoder.forward(x).permute([0, 2, 3, 1]);
        quantize_pyramid(
            self.ctx.quantizer.as_ref(),
            &self.ctx.pyramid,
            &self.ctx.search,
            &to_vec(z),
        )
    }

    /// Pixels (`B x C x S x S`, clamped to `[0, 1]`) from codebook indices of the first `depth`
    /// layers of a batch.
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
        let (h, w) = self.ctx.pyramid.latent;
        let z = Tensor::<4>::from_data(TensorData::new(zhat, [batch, h, w, d]), &self.device)
            .permute([0, 3, 1, 2]);
        Ok(to_vec(self.model.decoder.forward(z).clamp(0.0, 1.0)))
    }

    /// Each image's word ids (LLM vocabulary ids) of layers 1..=`layers`, layer after layer, as a
    /// prompt gives them to the LLM; `pixels` holds any number of images (`B x C x S x S`,
    /// floats in `[0, 1]`), encoded [`ENCODE_CHUNK`] at a time.
    pub fn word_ids(&self, pixels: &[f32], layers: usize) -> Result<Vec<Vec<u32>>, TokenizerError> {
        check_layers(&self.ctx.pyramid, layers)?;
        if self.config.learned_codebook {
            return Err(learned_codebook());
        }
        let per_image = self.per_image(pixels)?;
        let sizes = self.ctx.pyramid.layer_sizes();
        let mut out = Vec::with_capacity(pixels.len() / per_image);
        for chunk in pixels.chunks(ENCODE_CHUNK * per_image) {
            let batch = chunk.len() / per_image;
            let codes = self.encode_codes(chunk.to_vec(), batch);
            out.extend(ids_of_codes(
                &self.codebook,
                &codes,
                &sizes[..layers],
                batch,
            ));
        }
        Ok(out)
    }

    /// Token pyramids of any number of images (`B x C x S x S`, floats in `[0, 1]`), encoded
    /// [`ENCODE_CHUNK`] at a time. A learned codebook (the VQ baseline) has indices but no
    /// words: an error.
    pub fn encode(&self, pixels: &[f32]) -> Result<PyramidEncoding, TokenizerError> {
        let per_image = self.per_image(pixels)?;
        let mut images = Vec::with_capacity(pixels.len() / per_image);
        for chunk in pixels.chunks(ENCODE_CHUNK * per_image) {
            images.extend(self.encode_batch(chunk.to_vec(), chunk.len() / per_image)?);
        }
        Ok(PyramidEncoding::from_layers(images))
    }

    /// Floats per image, checking that `pixels` holds whole images.
    fn per_image(&self, pixels: &[f32]) -> Result<usize, TokenizerError> {
        let (s, c) = self.image_shape();
        let per_image = c * s * s;
        match pixels.len().is_multiple_of(per_image) {
            true => Ok(per_image),
            false => Err(TokenizerError::Tokens(format!(
                "{} floats are not whole {c} x {s} x {s} images",
                pixels.len()
            ))),
        }
    }

    fn encode_batch(
        &self,
        pixels: Vec<f32>,
        batch: usize,
    ) -> Result<Vec<Vec<LayerTokens>>, TokenizerError> {
        if self.config.learned_codebook {
            return Err(learned_codebook());
        }
        let codes = self.encode_codes(pixels, batch);
        Ok((0..batch)
            .map(|b| {
                (0..self.ctx.pyramid.n_layers())
                    .map(|l| {
                        let positions = self.ctx.pyramid.positions(l);
                        let n = positions.len();
                        let idx = &codes.tokens[l][b * n..(b + 1) * n];
                        let (gh, gw) = self.ctx.pyramid.grids[l];
                        LayerTokens {
                            layer: l + 1,
                            grid: [gh, gw],
                            positions,
                            ids: idx
                                .iter()
                                .map(|&k| self.codebook.words[k as usize].id)
                                .collect(),
                            words: idx
                                .iter()
                                .map(|&k| self.codebook.words[k as usize].text.clone())
                                .collect(),
                        }
                    })
                    .collect()
            })
            .collect())
    }

    /// Codebook indices of a pyramid's first `depth` layers, checking each layer's size and
    /// every word.
    fn indices(
        &self,
        layers: &[LayerTokens],
        depth: usize,
    ) -> Result<Vec<Vec<u32>>, TokenizerError> {
        self.ctx.pyramid.check_decodable(depth)?;
        let words = layers
            .iter()
            .map(|l| (l.words.as_slice(), l.ids.as_slice()));
        word_indices(
            &self.codebook,
            &self.ctx.pyramid.layer_sizes(),
            words,
            depth,
        )
    }

    /// Pixels (`B x C x S x S`, clamped to `[0, 1]`) of a batch of flat token sequences: the LLM
    /// ids of layers 1..=`depth` in order, as an LLM writes them. A wrong length or an id that is
    /// not a codebook word is an error naming the sequence and layer.
    pub fn decode_ids(&self, seqs: &[Vec<u32>], depth: usize) -> Result<Vec<f32>, TokenizerError> {
        self.ctx.pyramid.check_decodable(depth)?;
        let sizes = &self.ctx.pyramid.layer_sizes()[..depth];
        let tokens = codes_of_ids(&self.codebook, seqs, sizes)?;
        self.decode_codes(&tokens, seqs.len(), depth)
    }

    /// Pixels (`B x C x S x S`, clamped to `[0, 1]`) of every image of `encoding` from its
    /// first `depth` layers; each layer's size and every word (and id, where given) is checked.
    pub fn decode(
        &self,
        encoding: &PyramidEncoding,
        depth: usize,
    ) -> Result<Vec<f32>, TokenizerError> {
        let mut tokens = vec![Vec::new(); depth];
        for layers in encoding.images() {
            for (l, idx) in self.indices(layers, depth)?.into_iter().enumerate() {
                tokens[l].extend(idx);
            }
        }
        self.decode_codes(&tokens, encoding.len(), depth)
    }
}

/// Codebook indices of the first `depth` layers of one pyramid given as `(words, ids)` per layer
/// (`ids` may be empty), checking each layer's size against `sizes` and every word (and id,
/// where given) against the codebook.
pub(crate) fn word_indices<'a>(
    codebook: &Codebook,
    sizes: &[usize],
    layers: impl ExactSizeIterator<Item = (&'a [String], &'a [u32])>,
    depth: usize,
) -> Result<Vec<Vec<u32>>, TokenizerError> {
    if layers.len() < depth {
        return Err(TokenizerError::Tokens(format!(
            "{depth} layers asked for but the pyramid has {}",
            layers.len()
        )));
    }
    layers
        .take(depth)
        .enumerate()
        .map(|(l, (words, ids))| {
            if words.len() != sizes[l] {
                return Err(TokenizerError::Tokens(format!(
                    "layer {} has {} words, expected {}",
                    l + 1,
                    words.len(),
                    sizes[l]
                )));
            }
            if !ids.is_empty() && ids.len() != words.len() {
                return Err(TokenizerError::Tokens(format!(
                    "layer {} has {} ids for {} words",
                    l + 1,
                    ids.len(),
                    words.len()
                )));
            }
            words
                .iter()
                .enumerate()
                .map(|(j, w)| {
                    let k = codebook.index_of(w).map_err(|_| {
                        TokenizerError::Tokens(format!("layer {}: unknown word '{w}'", l + 1))
                    })?;
                    // Ids, when given, must be the LLM ids of the words.
                    match ids.get(j) {
                        Some(&id) if id != codebook.words[k].id => {
                            Err(TokenizerError::Tokens(format!(
                                "layer {}: id {id} is not the id of '{w}' ({})",
                                l + 1,
                                codebook.words[k].id
                            )))
                        }
                        _ => Ok(k as u32),
                    }
                })
                .collect()
        })
        .collect()
}

/// `layers` is a layer count of `pyramid` (1 to its depth).
pub(crate) fn check_layers(
    pyramid: &(impl PyramidLayout + ?Sized),
    layers: usize,
) -> Result<(), TokenizerError> {
    let n_layers = pyramid.n_layers();
    if layers == 0 || layers > n_layers {
        return Err(TokenizerError::Tokens(format!(
            "{layers} layers: the pyramid has layers 1 to {n_layers}"
        )));
    }
    Ok(())
}

/// Each of `batch` items' LLM ids of the layers `sizes` covers (layer after layer), from their
/// codebook indices `codes`.
pub(crate) fn ids_of_codes(
    codebook: &Codebook,
    codes: &PyramidCodes,
    sizes: &[usize],
    batch: usize,
) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|b| {
            sizes
                .iter()
                .enumerate()
                .flat_map(|(l, &n)| {
                    codes.tokens[l][b * n..(b + 1) * n]
                        .iter()
                        .map(|&k| codebook.words[k as usize].id)
                })
                .collect()
        })
        .collect()
}

/// Codebook indices per layer (items after items) of flat LLM id sequences, each the layers
/// `sizes` gives in order, as an LLM writes them. A wrong length or an id that is not a codebook
/// word is an error naming the sequence and layer.
pub(crate) fn codes_of_ids(
    codebook: &Codebook,
    seqs: &[Vec<u32>],
    sizes: &[usize],
) -> Result<Vec<Vec<u32>>, TokenizerError> {
    let depth = sizes.len();
    let total: usize = sizes.iter().sum();
    let index: HashMap<u32, u32> = (codebook.words.iter().enumerate())
        .map(|(k, w)| (w.id, k as u32))
        .collect();
    let mut tokens = vec![Vec::new(); depth];
    for (i, seq) in seqs.iter().enumerate() {
        if seq.len() != total {
            return Err(TokenizerError::Tokens(format!(
                "sequence {i} has {} tokens, {depth} layers need {total}",
                seq.len()
            )));
        }
        let mut rest = seq.as_slice();
        for (l, &n) in sizes.iter().enumerate() {
            let (layer, tail) = rest.split_at(n);
            for id in layer {
                let k = index.get(id).ok_or_else(|| {
                    TokenizerError::Tokens(format!(
                        "sequence {i}, layer {}: id {id} is not a codebook word",
                        l + 1
                    ))
                })?;
                tokens[l].push(*k);
            }
            rest = tail;
        }
    }
    Ok(tokens)
}
