//! In-context frame prediction (issue 19): a frozen LLM continues a clip in the paper's
//! denoising subspace ([`crate::denoise`]). A clip's first `given` frames are known; the
//! condition is the words of the clip whose later frames all repeat the last given frame (what
//! copying the last frame predicts); the context holds examples pairing that condition with the
//! clip's own words corrupted by random word replacement at falling rates; the LLM writes the
//! clip's words progressively (Eqs. 10-11). The written words decode to frames, judged on the
//! predicted frames against the truth next to three references: copying the last given frame,
//! the least corrupted example (copying the context) and the clean words (the tokenizer's
//! ceiling).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use spae::eval::{psnr, ssim};
use spae::tokenizer::video::VideoTokenizer;
use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use crate::denoise::{examples, Framing};
use crate::error::TaskError;
use crate::progressive::{self, Pass, Plan, WriteKey, Written};
use crate::resume::RunLog;

/// What a frame-prediction run does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictConfig {
    /// Frames given; the rest are predicted.
    pub given: usize,
    /// Examples in context.
    pub examples: usize,
    /// Corruption rate of the first example.
    pub rate_from: f64,
    /// Corruption rate of the last example.
    pub rate_to: f64,
    pub plan: Plan,
    /// Seeds the corruption (clip `i` uses `seed + i`).
    pub seed: u64,
}

impl Default for PredictConfig {
    fn default() -> Self {
        PredictConfig {
            given: 4,
            examples: 4,
            rate_from: 0.5,
            rate_to: 0.2,
            plan: Plan::default(),
            seed: 0,
        }
    }
}

/// PSNR and SSIM over the predicted frames (frames `given..`) of every clip, averaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FrameScores {
    pub psnr: f64,
    pub ssim: f64,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PredictResult {
    pub clips: usize,
    pub frames: usize,
    pub given: usize,
    pub depth: usize,
    pub words_per_clip: usize,
    pub passes: usize,
    /// The LLM's continuation.
    pub output: FrameScores,
    /// Copying the last given frame (the condition's own pixels).
    pub copy_last: FrameScores,
    /// The least corrupted example, decoded.
    pub best_example: FrameScores,
    /// The clean words of the true clip, decoded (what a perfect LLM would reach).
    pub target: FrameScores,
    /// Share of the clean words the LLM wrote right.
    pub word_accuracy: f64,
    pub seconds: f64,
    /// Per clip: the truth, copying the last frame, the output and the clean words decoded,
    /// `T x S x S` each, for a sheet.
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

/// [`FrameScores`] of `outputs` against `truth` (clips of `frames` frames of `size x size`) over
/// frames `given..`.
pub fn frame_scores(
    outputs: &[f32],
    truth: &[f32],
    frames: usize,
    size: usize,
    given: usize,
) -> FrameScores {
    let plane = size * size;
    let (mut p, mut s, mut n) = (0.0, 0.0, 0usize);
    for (a, b) in outputs
        .chunks(frames * plane)
        .zip(truth.chunks(frames * plane))
    {
        for f in given..frames {
            let (x, y) = (
                &a[f * plane..(f + 1) * plane],
                &b[f * plane..(f + 1) * plane],
            );
            p += psnr(x, y);
            s += ssim(x, y, size, size, 1);
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    FrameScores {
        psnr: p / n,
        ssim: s / n,
    }
}

/// A video tokenizer and an LLM predicting frames.
pub struct FramePredictor<'a> {
    cfg: &'a PredictConfig,
    tok: &'a VideoTokenizer,
    words: &'a Spellings,
    sizes: Vec<usize>,
    passes: Vec<Pass>,
    framing: Framing,
}

impl<'a> FramePredictor<'a> {
    /// Plans the passes; `given` must leave at least one frame to predict.
    pub fn new(
        cfg: &'a PredictConfig,
        tok: &'a VideoTokenizer,
        llm: &Llm,
        words: &'a Spellings,
    ) -> Result<Self, TaskError> {
        let (frames, _) = tok.clip_shape();
        if cfg.given == 0 || cfg.given >= frames {
            return Err(TaskError::Data(format!(
                "--given {} of {frames} frames: give at least one and leave one to predict",
                cfg.given
            )));
        }
        if cfg.examples == 0 {
            return Err(TaskError::Data(
                "frame prediction needs at least 1 example".into(),
            ));
        }
        let (sizes, passes) = cfg.plan.passes(tok.pyramid())?;
        Ok(FramePredictor {
            cfg,
            tok,
            words,
            sizes,
            passes,
            framing: Framing::new(llm),
        })
    }

    fn total(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// The context length the prompts need (the same for every clip).
    pub fn n_ctx(&self) -> Result<u32, TaskError> {
        self.framing
            .n_ctx(self.words, self.total(), self.cfg.examples, &self.passes)
    }

    /// Predicts the frames after the first `given` of every clip of `clips` (`B x T x S x S`
    /// floats in `[0, 1]`); `progress(done, total)` after every pass.
    pub fn run(
        &self,
        backend: &mut dyn Backend,
        clips: &[f32],
        log: &mut dyn RunLog<WriteKey, Written>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<PredictResult, TaskError> {
        let (tok, cfg) = (self.tok, self.cfg);
        let (frames, size) = tok.clip_shape();
        let per = frames * size * size;
        let n = clips.len() / per;
        let (depth, total) = (self.sizes.len(), self.total());
        let conditions: Vec<f32> = clips
            .chunks(per)
            .flat_map(|c| copy_last(c, frames, cfg.given))
            .collect();
        let cond_words = tok.word_ids(&conditions, depth)?;
        let targets = tok.word_ids(clips, depth)?;
        let t0 = Instant::now();
        let (mut done, all) = (0, n * self.passes.len());
        let mut written = Vec::with_capacity(n);
        let mut best = Vec::with_capacity(n);
        for (i, cond) in cond_words.iter().enumerate() {
            let query = self.framing.query(self.words, cond)?;
            let examples = examples(
                &query,
                &targets[i],
                cfg.examples,
                (cfg.rate_from, cfg.rate_to),
                self.words.ids(),
                cfg.seed.wrapping_add(i as u64),
            )?;
            let ctx = progressive::Context {
                examples: &examples,
                total,
                words: self.words,
                separator: &self.framing.separator,
            };
            let query = progressive::Query {
                item: format!("clip/{i}"),
                ids: query,
            };
            let out = progressive::decode(backend, ctx, &[query], &self.passes, log, || {
                done += 1;
                progress(done, all)
            })?;
            written.extend(out);
            // The least corrupted example is the last.
            best.push(
                examples
                    .last()
                    .expect("at least one example")
                    .target
                    .clone(),
            );
        }
        let seconds = t0.elapsed().as_secs_f64();
        let output = tok.decode_ids(&written, depth)?;
        let best = tok.decode_ids(&best, depth)?;
        let target = tok.decode_ids(&targets, depth)?;
        let right: usize = written
            .iter()
            .zip(&targets)
            .map(|(w, t)| w.iter().zip(t).filter(|(a, b)| a == b).count())
            .sum();
        let score = |v: &[f32]| frame_scores(v, clips, frames, size, cfg.given);
        let clip = |v: &[f32], i: usize| v[i * per..(i + 1) * per].to_vec();
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
        Ok(PredictResult {
            clips: n,
            frames,
            given: cfg.given,
            depth,
            words_per_clip: total,
            passes: self.passes.len(),
            output: score(&output),
            copy_last: score(&conditions),
            best_example: score(&best),
            target: score(&target),
            word_accuracy: right as f64 / (n * total).max(1) as f64,
            seconds,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let s = frame_scores(&out, &truth, 2, 1, 1);
        assert!((s.psnr - 20.0).abs() < 1e-3, "{s:?}");
    }
}
