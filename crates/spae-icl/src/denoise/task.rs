//! Denoising in context as one call: for each original and degradation, the condition is the
//! degraded image's words, the context [`examples`](super::examples) pair it with the original's
//! own words corrupted at falling rates, the frozen LLM writes the clean words progressively
//! (Eqs. 10-11), and the outputs are judged against the originals next to two references: the
//! condition image itself and the least corrupted example.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use spae::degrade::Degradation;
use spae::eval::pairs::{Judge, Scores};
use spae::tokenizer::ImageTokenizer;
use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use super::{word_accuracy, Protocol};
use crate::error::TaskError;
use crate::progressive::{Plan, PlanKind, WriteKey, Written};
use crate::resume::RunLog;

/// What a denoising run does; `Default` is `spae denoise`'s defaults (the paper's 10 examples,
/// corruption from 50% to 20%).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenoiseConfig {
    /// Examples in context.
    pub examples: usize,
    /// Corruption rate of the first example.
    pub rate_from: f64,
    /// Corruption rate of the last example.
    pub rate_to: f64,
    pub plan: Plan,
    /// Seeds the corruption (image `i` uses `seed + i`).
    pub seed: u64,
}

impl Default for DenoiseConfig {
    fn default() -> Self {
        DenoiseConfig {
            examples: 10,
            rate_from: 0.5,
            rate_to: 0.2,
            plan: Plan::default(),
            seed: 0,
        }
    }
}

/// One degradation's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DenoiseResult {
    pub task: Degradation,
    pub images: usize,
    pub depth: usize,
    pub words_per_image: usize,
    pub plan: PlanKind,
    pub stride: usize,
    pub passes: usize,
    /// The LLM's output.
    pub output: Scores,
    /// The condition image as the output (the trivial baseline).
    pub condition: Scores,
    /// The least corrupted example, decoded (copying the context).
    pub best_example: Scores,
    /// The clean target words, decoded (what a perfect LLM would reach).
    pub target: Scores,
    /// Share of the target words the LLM wrote right.
    pub word_accuracy: f64,
    pub seconds: f64,
    /// Per original: the condition, each example decoded (most to least corrupted), the output
    /// and the original, `C x S x S` each, for a grid.
    #[serde(skip)]
    pub rows: Vec<Vec<f32>>,
}

/// One tokenizer and LLM denoising one set of originals (the judge's).
pub struct Denoiser<'a> {
    tok: &'a ImageTokenizer,
    judge: &'a Judge<'a>,
    protocol: Protocol<'a>,
    /// Each original's words (the clean targets), and their decoded scores.
    targets: Vec<Vec<u32>>,
    target: Scores,
}

impl<'a> Denoiser<'a> {
    /// Plans the passes and encodes the originals' clean words.
    pub fn new(
        cfg: &'a DenoiseConfig,
        tok: &'a ImageTokenizer,
        llm: &'a Llm,
        words: &'a Spellings,
        judge: &'a Judge<'a>,
    ) -> Result<Self, TaskError> {
        let protocol = Protocol::new(cfg, tok.pyramid(), llm, words)?;
        let depth = protocol.depth();
        let targets = tok.word_ids(judge.originals(), depth)?;
        let target = judge.scores(&tok.decode_ids(&targets, depth)?)?;
        Ok(Denoiser {
            tok,
            judge,
            protocol,
            targets,
            target,
        })
    }

    /// The context length the prompts need (the same for every original).
    pub fn n_ctx(&self) -> Result<u32, TaskError> {
        self.protocol.n_ctx()
    }

    /// Restores every original degraded by `task`; `progress(done, total)` after every pass.
    pub fn run(
        &self,
        backend: &mut dyn Backend,
        task: Degradation,
        log: &mut dyn RunLog<WriteKey, Written>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenoiseResult, TaskError> {
        let (tok, p) = (self.tok, &self.protocol);
        let cfg = p.cfg;
        let originals = self.judge.originals();
        let (size, ch) = tok.image_shape();
        let plane = ch * size * size;
        let n = originals.len() / plane;
        let depth = p.depth();
        let conditions: Vec<f32> = originals
            .chunks(plane)
            .flat_map(|x| task.apply(x, ch, size))
            .collect();
        let cond_words = tok.word_ids(&conditions, depth)?;
        let t0 = Instant::now();
        let (mut done, all) = (0, n * p.passes.len());
        let mut written = Vec::with_capacity(n);
        // Every example's target, image by image.
        let mut context: Vec<Vec<u32>> = Vec::with_capacity(n * cfg.examples);
        for (i, cond) in cond_words.iter().enumerate() {
            let item = format!("{}/{i}", task.name());
            let out = p.write(backend, item, i, cond, &self.targets[i], log, &mut || {
                done += 1;
                progress(done, all)
            })?;
            written.push(out.words);
            context.extend(out.examples.into_iter().map(|e| e.target));
        }
        let seconds = t0.elapsed().as_secs_f64();
        let output = tok.decode_ids(&written, depth)?;
        let context_pixels = tok.decode_ids(&context, depth)?;
        let per_image = cfg.examples * plane;
        // The least corrupted example of each image is its last.
        let best: Vec<f32> = context_pixels
            .chunks(per_image)
            .flat_map(|c| c[c.len() - plane..].to_vec())
            .collect();
        let image = |v: &[f32], i: usize| v[i * plane..(i + 1) * plane].to_vec();
        let rows = (0..n)
            .map(|i| {
                let mut row = image(&conditions, i);
                row.extend_from_slice(&context_pixels[i * per_image..(i + 1) * per_image]);
                row.extend(image(&output, i));
                row.extend(image(originals, i));
                row
            })
            .collect();
        Ok(DenoiseResult {
            task,
            images: n,
            depth,
            words_per_image: p.total(),
            plan: cfg.plan.kind,
            stride: cfg.plan.stride,
            passes: p.passes.len(),
            output: self.judge.scores(&output)?,
            condition: self.judge.scores(&conditions)?,
            best_example: self.judge.scores(&best)?,
            target: self.target,
            word_accuracy: word_accuracy(&written, &self.targets),
            seconds,
            rows,
        })
    }
}
