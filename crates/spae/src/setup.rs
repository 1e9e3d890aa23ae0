//! What a tokenizer and a training run both start from: a configuration's frozen codebook, its
//! quantization context (quantizer, pyramid, nearest-word search) and a freshly initialised
//! model. Below both; training adds warm starts and resumes on top.

use std::path::Path;

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor};
use thiserror::Error;

use crate::checkpoint::State;
use crate::codebook::{Codebook, CodebookError};
use crate::config::{TrainConfig, VideoTrainConfig};
use crate::model::SpaeModel;
use crate::pyramid::{Pyramid, PyramidError, VideoPyramid};
use crate::quantizer::{NearestSearch, Quantizer, QuantizerKind, SearchPlace, TensorSearch};
use crate::tensor::to_vec;

#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Codebook(#[from] CodebookError),
    #[error(transparent)]
    Pyramid(#[from] PyramidError),
    #[error("{0}")]
    Config(String),
}

/// The frozen codebook and pyramid the model quantizes through (an image [`Pyramid`], or a
/// video's [`crate::pyramid::VideoPyramid`]).
pub struct QuantContext<P = Pyramid> {
    pub quantizer: Box<dyn Quantizer>,
    pub pyramid: P,
    /// The codebook rows, prepared for search.
    pub search: NearestSearch,
    /// The same codebook on the training device, when the search runs there
    /// ([`QuantContext::search_at`]); `None`: the host kernel.
    pub on_device: Option<TensorSearch>,
}

impl<P> QuantContext<P> {
    /// This context with its search at `place` for tensors on `device`: the codebook copied to
    /// the device for tensor operations, or the host kernel alone.
    pub fn search_at(mut self, place: SearchPlace, device: &Device) -> Self {
        self.on_device = place
            .on_device(device)
            .then(|| TensorSearch::new(&self.search, device));
        self
    }
}

impl QuantContext {
    /// For a model with a learned codebook, the same quantizer and pyramid over that codebook's
    /// current rows; `None` for the frozen LLM codebook (use `self`).
    pub fn for_model(&self, model: &SpaeModel) -> Option<QuantContext> {
        let rows = model.codebook.as_ref()?.val().detach();
        Some(QuantContext {
            quantizer: self.quantizer.kind().build(),
            pyramid: self.pyramid.clone(),
            search: NearestSearch::new(&to_vec(rows.clone()), self.search.dim()),
            on_device: self
                .on_device
                .as_ref()
                .map(|_| TensorSearch::from_rows(rows)),
        })
    }
}

/// The frozen codebook of a configuration, checked against the model's latent width.
pub fn load_codebook(cfg: &TrainConfig) -> Result<Codebook, SetupError> {
    load_codebook_at(&cfg.codebook, cfg.model.latent_dim)
}

/// The frozen codebook folder `dir`, checked against the model's latent width `latent_dim`.
pub fn load_codebook_at(dir: &str, latent_dim: usize) -> Result<Codebook, SetupError> {
    let dir = Path::new(dir);
    if !dir.exists() {
        return Err(SetupError::Config(format!(
            "no codebook at {}: build it with `spae codebook build`",
            dir.display()
        )));
    }
    let cb = Codebook::load(dir)?;
    if cb.dim != latent_dim {
        return Err(SetupError::Config(format!(
            "model.latent_dim {} differs from the codebook's width {}",
            latent_dim, cb.dim
        )));
    }
    Ok(cb)
}

/// A checkpoint that recorded its codebook must be used with that codebook.
pub fn check_codebook<C>(
    state: &State<C>,
    fingerprint: &str,
    dir: &Path,
) -> Result<(), SetupError> {
    match &state.codebook {
        Some(f) if f != fingerprint => Err(SetupError::Config(format!(
            "{}: checkpoint was trained with another codebook (fingerprint {}, this one {}); rebuild the codebook it was trained with",
            dir.display(),
            &f[..16.min(f.len())],
            &fingerprint[..16]
        ))),
        _ => Ok(()),
    }
}

/// The quantizer, pyramid and codebook search of a configuration.
pub fn quant_context(cfg: &TrainConfig, cb: &Codebook) -> Result<QuantContext, SetupError> {
    if cfg.learned_codebook && (cfg.quantizer != QuantizerKind::Vq || cfg.pyramid.len() != 1) {
        return Err(SetupError::Config(
            "learned_codebook is the plain VQ baseline: it needs quantizer = \"vq\" and one pyramid layer".into(),
        ));
    }
    let quantizer = cfg.quantizer.build();
    Ok(QuantContext {
        quantizer,
        pyramid: Pyramid::square(cfg.model.latent_size(), &cfg.pyramid)?,
        search: NearestSearch::new(&cb.embeddings, cb.dim),
        on_device: None,
    })
}

/// The quantizer, 3-D pyramid and codebook search of a video configuration.
pub fn video_quant_context(
    cfg: &VideoTrainConfig,
    cb: &Codebook,
) -> Result<QuantContext<VideoPyramid>, SetupError> {
    Ok(QuantContext {
        quantizer: cfg.quantizer.build(),
        pyramid: cfg
            .video_pyramid()
            .map_err(|e| SetupError::Config(e.to_string()))?,
        search: NearestSearch::new(&cb.embeddings, cb.dim),
        on_device: None,
    })
}

/// A freshly initialised model of a configuration, with the learned codebook of the VQ
/// baseline when configured (`N(0, sigma^2)`, `sigma` the frozen codebook's entry deviation).
pub fn init_model(cfg: &TrainConfig, cb: &Codebook, device: &Device) -> SpaeModel {
    let mut model = cfg.model.init(device);
    if cfg.learned_codebook {
        let n = cb.embeddings.len() as f64;
        let mean = cb.embeddings.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = cb
            .embeddings
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let rows = Tensor::<2>::random(
            [cb.embeddings.len() / cb.dim, cb.dim],
            Distribution::Normal(0.0, var.sqrt()),
            device,
        );
        model.codebook = Some(Param::from_tensor(rows));
    }
    model
}
