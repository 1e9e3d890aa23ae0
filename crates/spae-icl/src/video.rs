//! In-context video tasks (issue 19) in the paper's denoising subspace ([`crate::denoise`]):
//! frame prediction and conditional video denoising. The condition is the words of a clip the
//! LLM must restore: for prediction, the clip whose frames after the first `given` all repeat the
//! last given frame (what copying the last frame predicts); for denoising, every frame degraded by
//! one of the image tasks (inpaint, outpaint, deblur, shift, rotate). The context holds examples
//! pairing that condition with the clip's own words corrupted by random word replacement at
//! falling rates; the LLM writes the clip's words progressively (Eqs. 10-11). The written words
//! decode to frames, judged against the truth (prediction: on the predicted frames only) next to
//! three references: the condition clip itself, the least corrupted example (copying the
//! context) and the clean words (the tokenizer's ceiling).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use spae::data::video::ClipShape;
use spae::degrade::Degradation;
use spae::eval::{psnr, ssim};
use spae::tokenizer::video::VideoTokenizer;
use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use crate::denoise::{word_accuracy, DenoiseConfig, Protocol};
use crate::error::TaskError;
use crate::progressive::{WriteKey, Written};
use crate::resume::RunLog;

/// What the LLM is asked to do with a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoTask {
    /// Frame prediction: the first `given` frames are known, the rest are written.
    Predict { given: usize },
    /// Conditional video denoising: every frame is degraded by the same image task.
    Denoise(Degradation),
}

impl VideoTask {
    /// The task's name in journals and reports ("predict" or the degradation's).
    pub fn name(self) -> &'static str {
        match self {
            VideoTask::Predict { .. } => "predict",
            VideoTask::Denoise(d) => d.name(),
        }
    }

    /// The first frame judged (the given frames of a prediction are not).
    pub fn scored_from(self) -> usize {
        match self {
            VideoTask::Predict { given } => given,
            VideoTask::Denoise(_) => 0,
        }
    }

    /// The condition clip of a clip of `shape` (`T x C x S x S` floats).
    pub fn condition(self, clip: &[f32], shape: ClipShape) -> Vec<f32> {
        match self {
            VideoTask::Predict { given } => copy_last(clip, shape.frames, given),
            VideoTask::Denoise(d) => clip
                .chunks(shape.per_frame())
                .flat_map(|f| d.apply(f, shape.channels, shape.size))
                .collect(),
        }
    }

    fn check(self, frames: usize) -> Result<(), TaskError> {
        match self {
            VideoTask::Predict { given } if given == 0 || given >= frames => {
                Err(TaskError::Data(format!(
                    "--given {given} of {frames} frames: give at least one and leave one to predict"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// What a video run does: the task and the denoising protocol (examples, rates, plan, seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoConfig {
    pub task: VideoTask,
    pub protocol: DenoiseConfig,
}

impl Default for VideoConfig {
    /// Predicting 4 frames from 4 with 4 examples (a clip's prompt is long).
    fn default() -> Self {
        VideoConfig {
            task: VideoTask::Predict { given: 4 },
            protocol: DenoiseConfig {
                examples: 4,
                ..DenoiseConfig::default()
            },
        }
    }
}

/// PSNR and SSIM over the judged frames of every clip, averaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FrameScores {
    pub psnr: f64,
    pub ssim: f64,
}

/// A mean over independent clips with its two-sided 95% Student t interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MeanInterval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    /// Clips (independent units) averaged.
    pub n: usize,
}

/// Two-sided 95% quantiles of Student's t for 1..=30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The mean of `values` (one per clip) and its 95% t interval, `mean +- t(n-1) s / sqrt(n)`
/// (1.96 beyond 30 degrees of freedom); one value gives no interval (low = high = mean).
pub fn mean_interval(values: &[f64]) -> MeanInterval {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return MeanInterval {
            mean,
            low: mean,
            high: mean,
            n,
        };
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = T_975.get(n - 2).copied().unwrap_or(1.96);
    let half = t * (var / n as f64).sqrt();
    MeanInterval {
        mean,
        low: mean - half,
        high: mean + half,
        n,
    }
}

/// One clip's scores (over its judged frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ClipScores {
    pub output: FrameScores,
    pub condition: FrameScores,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct VideoResult {
    pub task: VideoTask,
    pub clips: usize,
    pub frames: usize,
    /// The first frame judged.
    pub scored_from: usize,
    pub depth: usize,
    pub words_per_clip: usize,
    pub passes: usize,
    /// The LLM's clip.
    pub output: FrameScores,
    /// The condition clip as the output: copying the last given frame, or the degraded clip.
    pub condition: FrameScores,
    /// The least corrupted example, decoded.
    pub best_example: FrameScores,
    /// The clean words of the true clip, decoded (what a perfect LLM would reach).
    pub target: FrameScores,
    /// Per clip, in order: the LLM's clip and the condition's.
    pub per_clip: Vec<ClipScores>,
    /// The LLM's clip minus the condition, per clip (each clip an independent query), averaged
    /// with a 95% interval: PSNR in dB, and SSIM.
    pub psnr_gain: MeanInterval,
    pub ssim_gain: MeanInterval,
    /// Share of the clean words the LLM wrote right.
    pub word_accuracy: f64,
    pub seconds: f64,
    /// Per clip: the truth, the condition, the output and the clean words decoded,
    /// `T x C x S x S` each, for a sheet.
    #[serde(skip)]
    pub rows: Vec<Vec<f32>>,
}

/// A clip (`frames x plane` floats) whose frames from `given` on repeat frame `given - 1`.
pub fn copy_last(clip: &[f32], frames: usize, given: usize) -> Vec<f32> {
    let plane = clip.len() / frames;
    let last = &clip[(given - 1) * plane..given * plane];
    let mut out = clip[..given * plane].to_vec();
    for _ in given..frames {
        out.extend_from_slice(last);
    }
    out
}

/// [`FrameScores`] of `outputs` against `truth` (clips of `shape`) over frames `from..`.
pub fn frame_scores(outputs: &[f32], truth: &[f32], shape: ClipShape, from: usize) -> FrameScores {
    let ClipShape {
        frames,
        channels,
        size,
    } = shape;
    let plane = shape.per_frame();
    let (mut p, mut s, mut n) = (0.0, 0.0, 0usize);
    for (a, b) in outputs
        .chunks(frames * plane)
        .zip(truth.chunks(frames * plane))
    {
        for f in from..frames {
            let (x, y) = (
                &a[f * plane..(f + 1) * plane],
                &b[f * plane..(f + 1) * plane],
            );
            p += psnr(x, y);
            s += ssim(x, y, size, size, channels);
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    FrameScores {
        psnr: p / n,
        ssim: s / n,
    }
}

/// A video tokenizer and an LLM doing one video task.
pub struct VideoJob<'a> {
    task: VideoTask,
    tok: &'a VideoTokenizer,
    protocol: Protocol<'a>,
}

impl<'a> VideoJob<'a> {
    /// Plans the passes; a prediction must be given at least one frame and leave one.
    pub fn new(
        cfg: &'a VideoConfig,
        tok: &'a VideoTokenizer,
        llm: &Llm,
        words: &'a Spellings,
    ) -> Result<Self, TaskError> {
        cfg.task.check(tok.clip_shape().frames)?;
        Ok(VideoJob {
            task: cfg.task,
            tok,
            protocol: Protocol::new(&cfg.protocol, tok.pyramid(), llm, words)?,
        })
    }

    /// The context length the prompts need (the same for every clip).
    pub fn n_ctx(&self) -> Result<u32, TaskError> {
        self.protocol.n_ctx()
    }

    /// Restores every clip of `clips` (`B x T x C x S x S` floats in `[0, 1]`) from its condition;
    /// `progress(done, total)` after every pass.
    pub fn run(
        &self,
        backend: &mut dyn Backend,
        clips: &[f32],
        log: &mut dyn RunLog<WriteKey, Written>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<VideoResult, TaskError> {
        let (tok, p, task) = (self.tok, &self.protocol, self.task);
        let shape = tok.clip_shape();
        let (frames, per) = (shape.frames, shape.per_clip());
        let n = clips.len() / per;
        let depth = p.depth();
        let conditions: Vec<f32> = clips
            .chunks(per)
            .flat_map(|c| task.condition(c, shape))
            .collect();
        let cond_words = tok.word_ids(&conditions, depth)?;
        let targets = tok.word_ids(clips, depth)?;
        let t0 = Instant::now();
        let (mut done, all) = (0, n * p.passes.len());
        let mut written = Vec::with_capacity(n);
        let mut best = Vec::with_capacity(n);
        for (i, cond) in cond_words.iter().enumerate() {
            let item = format!("{}/clip/{i}", task.name());
            let mut out = p.write(backend, item, i, cond, &targets[i], log, &mut || {
                done += 1;
                progress(done, all)
            })?;
            written.push(out.words);
            // The least corrupted example is the last.
            best.push(out.examples.pop().expect("at least one example").target);
        }
        let seconds = t0.elapsed().as_secs_f64();
        let output = tok.decode_ids(&written, depth)?;
        let best = tok.decode_ids(&best, depth)?;
        let target = tok.decode_ids(&targets, depth)?;
        let from = task.scored_from();
        let score = |v: &[f32]| frame_scores(v, clips, shape, from);
        let clip = |v: &[f32], i: usize| v[i * per..(i + 1) * per].to_vec();
        let per_clip: Vec<ClipScores> = (0..n)
            .map(|i| {
                let truth = clip(clips, i);
                ClipScores {
                    output: frame_scores(&clip(&output, i), &truth, shape, from),
                    condition: frame_scores(&clip(&conditions, i), &truth, shape, from),
                }
            })
            .collect();
        // Every clip has the same judged frames, so the mean over clips is the mean over frames.
        let mean = |f: fn(&ClipScores) -> FrameScores| {
            let n = per_clip.len().max(1) as f64;
            FrameScores {
                psnr: per_clip.iter().map(|c| f(c).psnr).sum::<f64>() / n,
                ssim: per_clip.iter().map(|c| f(c).ssim).sum::<f64>() / n,
            }
        };
        let gain = |f: fn(&FrameScores) -> f64| {
            let d: Vec<f64> = per_clip
                .iter()
                .map(|c| f(&c.output) - f(&c.condition))
                .collect();
            mean_interval(&d)
        };
        let rows = (0..n)
            .flat_map(|i| {
                [
                    clip(clips, i),
                    clip(&conditions, i),
                    clip(&output, i),
                    clip(&target, i),
                ]
            })
            .collect();
        Ok(VideoResult {
            task,
            clips: n,
            frames,
            scored_from: from,
            depth,
            words_per_clip: p.total(),
            passes: p.passes.len(),
            output: mean(|c| c.output),
            condition: mean(|c| c.condition),
            best_example: score(&best),
            target: score(&target),
            psnr_gain: gain(|s| s.psnr),
            ssim_gain: gain(|s| s.ssim),
            per_clip,
            word_accuracy: word_accuracy(&written, &targets),
            seconds,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_and_its_t_interval_by_hand() {
        // 1, 2, 3: mean 2, s = 1, half-width t(2) / sqrt(3) = 4.303 / 1.732 = 2.484.
        let m = mean_interval(&[1.0, 2.0, 3.0]);
        assert!((m.mean - 2.0).abs() < 1e-12 && m.n == 3);
        assert!(
            (m.high - m.mean - 4.303 / 3f64.sqrt()).abs() < 1e-9,
            "{m:?}"
        );
        assert!((m.mean - m.low - 4.303 / 3f64.sqrt()).abs() < 1e-9, "{m:?}");
        // One clip: no interval.
        let one = mean_interval(&[5.0]);
        assert_eq!((one.low, one.mean, one.high), (5.0, 5.0, 5.0));
    }

    #[test]
    fn copying_the_last_frame_by_hand() {
        // 4 frames of one pixel: 1, 2, 3, 4; two given -> 1, 2, 2, 2.
        assert_eq!(
            copy_last(&[1.0, 2.0, 3.0, 4.0], 4, 2),
            vec![1.0, 2.0, 2.0, 2.0]
        );
        // Frames of two pixels, three given.
        let c = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5];
        assert_eq!(
            copy_last(&c, 4, 3),
            vec![1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 3.0, 3.5]
        );
    }

    #[test]
    fn frames_are_scored_after_the_given_ones_only() {
        // Two 1x1 frames per clip; frame 0 differs wildly, frame 1 by 0.1: PSNR 20 dB over
        // frame 1 alone (MSE 0.01).
        let truth = [0.0, 0.5];
        let out = [1.0, 0.6];
        let shape = ClipShape {
            frames: 2,
            channels: 1,
            size: 1,
        };
        let s = frame_scores(&out, &truth, shape, 1);
        assert!((s.psnr - 20.0).abs() < 1e-3, "{s:?}");
    }

    #[test]
    fn a_denoising_condition_degrades_every_frame() {
        // Two 2x2 frames, outpainting masks the bottom half of each with MASK_VALUE.
        let clip = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let m = spae::degrade::MASK_VALUE;
        let shape = ClipShape {
            frames: 2,
            channels: 1,
            size: 2,
        };
        let c = VideoTask::Denoise(Degradation::Outpaint).condition(&clip, shape);
        assert_eq!(c, vec![1.0, 1.0, m, m, 0.0, 0.0, m, m]);
        assert_eq!(VideoTask::Denoise(Degradation::Outpaint).scored_from(), 0);
        assert_eq!(VideoTask::Predict { given: 3 }.scored_from(), 3);
        assert!(VideoTask::Predict { given: 0 }.check(4).is_err());
        assert!(VideoTask::Predict { given: 4 }.check(4).is_err());
        assert!(VideoTask::Predict { given: 3 }.check(4).is_ok());
    }
}
