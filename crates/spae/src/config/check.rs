//! Validation of a [`TrainConfig`] before anything is built from it: a configuration comes from
//! a TOML file or a checkpoint's `state.json` (outside bytes), and a model built from an
//! inconsistent one panics inside burn (GroupNorm groups that do not divide a width, an empty
//! stage list) or allocates without bound (a million channels). Every check names the field.

use thiserror::Error;

use super::{Crop, LoopConfig, LossConfig, TrainConfig};
use crate::data::DatasetName;
use crate::pyramid::Pyramid;
use crate::semantic::{ScorerKind, SemanticConfig};

/// What is wrong with a configuration.
#[derive(Debug, Error, PartialEq)]
#[error("bad configuration: {0}")]
pub struct ConfigError(pub String);

/// Largest image side accepted (pixels).
pub const MAX_IMAGE_SIZE: usize = 4096;
/// Largest channel width of any stage.
pub const MAX_CHANNELS: usize = 8192;
/// Most stages of the encoder / decoder or the discriminator.
pub const MAX_STAGES: usize = 8;
/// Most residual blocks per stage.
pub const MAX_BLOCKS: usize = 32;
/// Largest latent width (the codebook's embedding width).
pub const MAX_LATENT_DIM: usize = 65536;
/// Largest batch.
pub const MAX_BATCH: usize = 65536;

pub(super) fn fail<T>(what: String) -> Result<T, ConfigError> {
    Err(ConfigError(what))
}

/// `value` is finite and within `lo..=hi`.
pub(super) fn in_range(name: &str, value: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if !value.is_finite() || value < lo || value > hi {
        return fail(format!("{name} = {value} is not within [{lo}, {hi}]"));
    }
    Ok(())
}

/// `value` is within `lo..=hi`.
pub(super) fn count(name: &str, value: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
    if value < lo || value > hi {
        return fail(format!("{name} = {value} is not within {lo}..={hi}"));
    }
    Ok(())
}

/// Stage widths `mult * base`, each checked.
pub(super) fn widths(name: &str, base: usize, mult: &[usize]) -> Result<Vec<usize>, ConfigError> {
    count(&format!("{name}.base_channels"), base, 1, MAX_CHANNELS)?;
    count(
        &format!("{name}.channel_mult's length"),
        mult.len(),
        1,
        MAX_STAGES,
    )?;
    mult.iter()
        .map(|&m| match m.checked_mul(base) {
            Some(c) if (1..=MAX_CHANNELS).contains(&c) => Ok(c),
            _ => fail(format!(
                "{name}: stage width {m} x {base} is not within 1..={MAX_CHANNELS}"
            )),
        })
        .collect()
}

impl TrainConfig {
    /// Checks every field a model, pyramid, optimizer or loop is built from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        count("model.image_size", m.image_size, 1, MAX_IMAGE_SIZE)?;
        if m.image_channels != 1 && m.image_channels != 3 {
            return fail(format!(
                "model.image_channels = {} (1 gray or 3 RGB)",
                m.image_channels
            ));
        }
        let ch = widths("model", m.base_channels, &m.channel_mult)?;
        count("model.norm_groups", m.norm_groups, 1, MAX_CHANNELS)?;
        for &c in &ch {
            if c % m.norm_groups.min(c) != 0 {
                return fail(format!(
                    "model.norm_groups = {} does not divide the stage width {c}",
                    m.norm_groups
                ));
            }
        }
        count("model.blocks_per_stage", m.blocks_per_stage, 1, MAX_BLOCKS)?;
        count("model.latent_dim", m.latent_dim, 1, MAX_LATENT_DIM)?;
        let down = 1usize << (ch.len() - 1);
        if !m.image_size.is_multiple_of(down) {
            return fail(format!(
                "model.image_size = {} is not divisible by 2^{} (one halving per stage after the first)",
                m.image_size,
                ch.len() - 1
            ));
        }
        Pyramid::square(m.latent_size(), &self.pyramid)
            .map_err(|e| ConfigError(format!("pyramid {:?}: {e}", self.pyramid)))?;
        if self.loss.gan > 0.0 {
            let d = &self.discriminator;
            widths("discriminator", d.base_channels, &d.channel_mult)?;
        }
        self.loss.validate()?;
        self.semantic.validate()?;
        self.run.validate()?;
        count("data.upscale", self.data.upscale, 1, 64)?;
        if m.image_size.checked_mul(self.data.upscale).is_none() {
            return fail("data.upscale overflows the image size".into());
        }
        if self.data.max_images == Some(0) {
            return fail("data.max_images = 0 leaves nothing to train on".into());
        }
        if self.data.split_file.is_some() && !matches!(self.data.dataset, DatasetName::Folder(_)) {
            return fail(format!(
                "data.split_file splits an image folder: it takes dataset = \"folder:PATH\", not {}",
                self.data.dataset
            ));
        }
        self.check_stream()
    }

    /// `data.stream` reads a folder's files as batches need them: a folder data set, at the
    /// model's size, without a scorer that reads every training image's pixels first.
    fn check_stream(&self) -> Result<(), ConfigError> {
        if !self.data.stream {
            return match self.data.crop {
                Crop::Centre => Ok(()),
                Crop::Random => fail(
                    "data.crop = \"random\" draws each crop as the image is read: it takes data.stream = true"
                        .into(),
                ),
            };
        }
        if !matches!(self.data.dataset, DatasetName::Folder(_)) {
            return fail(format!(
                "data.stream reads an image folder's files as batches need them: it takes dataset = \"folder:PATH\", not {}",
                self.data.dataset
            ));
        }
        if self.data.upscale != 1 {
            return fail(
                "data.stream reads images at the model's size: data.upscale must be 1".into(),
            );
        }
        let pixel_scorer = matches!(
            self.semantic.scorer,
            ScorerKind::Bridge | ScorerKind::Clip(_)
        );
        if self.semantic.weight > 0.0 && pixel_scorer {
            return fail(format!(
                "data.stream with the {} scorer: it scores every training image's pixels before training; stream with the label or name scorer, or decode the folder (data.stream = false)",
                self.semantic.scorer
            ));
        }
        Ok(())
    }
}

impl SemanticConfig {
    /// Checks the weight and the pool thresholds (Eq. 6's normalised scores lie in [0, 1]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("semantic.weight", self.weight.into(), 0.0, 1e6)?;
        for t in &self.thresholds {
            in_range("semantic.thresholds", (*t).into(), 0.0, 1.0)?;
        }
        Ok(())
    }
}

impl LossConfig {
    /// Checks the loss weights and Adam's settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("loss.commitment", self.commitment.into(), 0.0, 1e6)?;
        in_range("loss.lr", self.lr, 0.0, 10.0)?;
        in_range("loss.adam_beta1", self.adam_beta1.into(), 0.0, 1.0)?;
        in_range("loss.adam_beta2", self.adam_beta2.into(), 0.0, 1.0)?;
        in_range("loss.gan", self.gan.into(), 0.0, 1e6)?;
        in_range("loss.lecam", self.lecam.into(), 0.0, 1e6)?;
        in_range("loss.lecam_decay", self.lecam_decay.into(), 0.0, 1.0)?;
        in_range("loss.perceptual", self.perceptual.into(), 0.0, 1e6)
    }
}

impl LoopConfig {
    /// Checks the batch size and checkpoint interval.
    pub fn validate(&self) -> Result<(), ConfigError> {
        count("loop.batch_size", self.batch_size, 1, MAX_BATCH)?;
        count(
            "loop.checkpoint_every",
            self.checkpoint_every,
            1,
            usize::MAX,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One inconsistency: what the error must name, and the change that makes it.
    type Case = (&'static str, Box<dyn FnOnce(&mut TrainConfig)>);

    fn with(f: impl FnOnce(&mut TrainConfig)) -> Result<(), ConfigError> {
        let mut c = TrainConfig::default();
        f(&mut c);
        c.validate()
    }

    #[test]
    fn the_default_is_valid() {
        assert_eq!(TrainConfig::default().validate(), Ok(()));
        // A folder streamed, with the label scorer.
        let streamed = with(|c| {
            (c.data.stream, c.data.dataset) = (true, DatasetName::Folder("photos".into()));
            c.semantic.weight = 0.1;
        });
        assert_eq!(streamed, Ok(()));
    }

    #[test]
    fn each_inconsistency_is_named() {
        let folder = || DatasetName::Folder("photos".into());
        let cases: [Case; 16] = [
            ("norm_groups", Box::new(|c| c.model.norm_groups = 3)),
            ("norm_groups", Box::new(|c| c.model.norm_groups = 0)),
            ("channel_mult", Box::new(|c| c.model.channel_mult.clear())),
            (
                "base_channels",
                Box::new(|c| c.model.base_channels = 1 << 20),
            ),
            (
                "stage width",
                Box::new(|c| c.model.base_channels = MAX_CHANNELS),
            ),
            ("image_channels", Box::new(|c| c.model.image_channels = 2)),
            ("divisible", Box::new(|c| c.model.image_size = 30)),
            ("pyramid", Box::new(|c| c.pyramid = vec![3, 8])),
            ("loss.lr", Box::new(|c| c.loss.lr = f64::NAN)),
            ("batch_size", Box::new(|c| c.run.batch_size = 0)),
            (
                "semantic.thresholds",
                Box::new(|c| c.semantic.thresholds = vec![0.9, -0.5]),
            ),
            (
                "data.stream reads an image folder",
                Box::new(|c| c.data.stream = true),
            ),
            (
                "data.split_file splits an image folder",
                Box::new(|c| c.data.split_file = Some("split.txt".into())),
            ),
            (
                "it takes data.stream",
                Box::new(|c| c.data.crop = Crop::Random),
            ),
            (
                "data.upscale must be 1",
                Box::new(move |c| {
                    (c.data.stream, c.data.dataset, c.data.upscale) = (true, folder(), 2)
                }),
            ),
            (
                "data.stream with the bridge scorer",
                Box::new(move |c| {
                    (c.data.stream, c.data.dataset) = (true, folder());
                    (c.semantic.weight, c.semantic.scorer) = (0.1, ScorerKind::Bridge);
                }),
            ),
        ];
        for (want, f) in cases {
            let e = with(f).unwrap_err();
            assert!(e.0.contains(want), "{want}: {e}");
        }
    }
}
