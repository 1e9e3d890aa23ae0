//! The typed training configuration (`configs/*.toml`).

use serde::{Deserialize, Serialize};

use super::LossConfig;
use crate::model::ModelConfig;

/// Which data a run trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// `fashion-mnist` (train split; test split for evaluation).
    pub dataset: String,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dataset: "fashion-mnist".into(),
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
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            batch_size: 32,
            steps: 2000,
            checkpoint_every: 100,
            seed: 0,
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
    pub quantizer: String,
    /// Tokens per side of each pyramid layer over the latent grid (Eq. 1).
    pub pyramid: Vec<usize>,
    pub model: ModelConfig,
    pub loss: LossConfig,
    #[serde(rename = "loop")]
    pub run: LoopConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: DataConfig::default(),
            codebook: "assets/codebooks/smollm2".into(),
            quantizer: "saq".into(),
            pyramid: vec![1, 2, 4, 8, 8],
            model: ModelConfig::default(),
            loss: LossConfig::default(),
            run: LoopConfig::default(),
        }
    }
}
