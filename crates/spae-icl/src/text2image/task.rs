//! Text-to-image in context as one call (the paper's MNIST generation): examples "an image of
//! {digit}: {words}" drawn evenly over the digits, queries whose intended digit is known, the
//! frozen LLM writing each query's words progressively (Eqs. 10-11), a digit classifier judging
//! the decoded images.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use spae::codebook::VocabTokenizer;
use spae::data::ImageSet;
use spae::eval::classifier::Classifier;
use spae::tokenizer::ImageTokenizer;
use spae_llm::backend::{Backend, SessionStats};
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use super::{condition, intended_digit, mnist_queries, subject_of, DigitQuery, DEFAULT_TEMPLATE};
use crate::error::TaskError;
use crate::fewshot::wilson_interval;
use crate::progressive::{self, Example, Pass, Plan, PlanKind, WriteKey, Written};
use crate::resume::RunLog;

/// What a generation run does; `Default` is `spae generate mnist`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateConfig {
    /// Queries ("an image of 1+7" or just "1+7"); empty: the 117 benchmark queries.
    pub queries: Vec<String>,
    /// Examples in context, spread evenly over the digits.
    pub examples: usize,
    /// The condition, with {} where the digit or query goes.
    pub template: String,
    pub plan: Plan,
    /// Seeds the choice and order of the examples.
    pub seed: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            queries: Vec::new(),
            examples: 50,
            template: DEFAULT_TEMPLATE.to_string(),
            plan: Plan::default(),
            seed: 0,
        }
    }
}

/// One generated image.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub query: String,
    pub subject: String,
    pub kind: &'static str,
    pub intended: Option<usize>,
    pub classified: usize,
    pub correct: Option<bool>,
    /// Fewest differing tokens to any example's target.
    pub nearest_example_token_distance: usize,
    /// Smallest pixel RMSE to any example's reconstruction.
    pub nearest_example_rmse: f64,
    pub words: String,
    /// A file name for the image, relative to an output folder: `images/NNN.png`.
    pub image: String,
}

/// Judged images of one query kind (digit, sum, ...).
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    pub kind: &'static str,
    pub queries: usize,
    pub correct: usize,
    pub accuracy: f64,
}

/// A generation run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    pub examples: usize,
    pub template: String,
    pub depth: usize,
    pub words_per_image: usize,
    pub plan: PlanKind,
    pub stride: usize,
    pub passes: usize,
    pub judged: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub ci95: (f64, f64),
    pub chance: f64,
    pub by_kind: Vec<KindSummary>,
    pub identical_to_an_example: usize,
    pub mean_nearest_example_rmse: f64,
    pub seconds: f64,
    pub stats: SessionStats,
    pub images: Vec<Generated>,
    /// The generated images, `n x 1 x S x S`.
    #[serde(skip)]
    pub pixels: Vec<f32>,
}

/// A generation prepared: examples encoded, prompts and passes planned.
pub struct Generation<'a> {
    cfg: &'a GenerateConfig,
    tok: &'a ImageTokenizer,
    llm: &'a Llm,
    words: &'a Spellings,
    queries: Vec<DigitQuery>,
    conditions: Vec<String>,
    prompts: Vec<progressive::Query>,
    examples: Vec<Example>,
    separator: Vec<u32>,
    sizes: Vec<usize>,
    passes: Vec<Pass>,
}

impl<'a> Generation<'a> {
    /// Chooses the examples from `train` (labelled digits), encodes them and plans the passes.
    pub fn new(
        cfg: &'a GenerateConfig,
        tok: &'a ImageTokenizer,
        train: &ImageSet,
        llm: &'a Llm,
        words: &'a Spellings,
    ) -> Result<Self, TaskError> {
        let (sizes, passes) = cfg.plan.passes(tok.pyramid())?;
        let queries: Vec<DigitQuery> = match cfg.queries.is_empty() {
            true => mnist_queries(),
            false => cfg
                .queries
                .iter()
                .map(|q| {
                    let subject = subject_of(&cfg.template, q);
                    DigitQuery {
                        digit: intended_digit(&subject),
                        subject,
                        kind: "query",
                    }
                })
                .collect(),
        };
        let chosen = choose_examples(&train.labels, cfg.examples, cfg.seed)?;
        let (size, _) = tok.image_shape();
        let targets = tok.word_ids(&train.batch_chw(&chosen, size), sizes.len())?;
        let text = |s: &str| llm.tokenize(s);
        let examples = chosen
            .iter()
            .zip(targets)
            .map(|(&i, target)| {
                let digit = train.labels[i].to_string();
                Ok(Example {
                    condition: text(&condition(&cfg.template, &digit)?),
                    target,
                })
            })
            .collect::<Result<_, TaskError>>()?;
        let conditions: Vec<String> = queries
            .iter()
            .map(|q| condition(&cfg.template, &q.subject))
            .collect::<Result<_, _>>()?;
        Ok(Generation {
            prompts: conditions
                .iter()
                .enumerate()
                .map(|(i, c)| progressive::Query {
                    item: i.to_string(),
                    ids: text(c),
                })
                .collect(),
            separator: text("\n"),
            cfg,
            tok,
            llm,
            words,
            queries,
            conditions,
            examples,
            sizes,
            passes,
        })
    }

    fn context(&self) -> progressive::Context<'_> {
        progressive::Context {
            examples: &self.examples,
            total: self.sizes.iter().sum(),
            words: self.words,
            separator: &self.separator,
        }
    }

    /// Pyramid layers written.
    pub fn depth(&self) -> usize {
        self.sizes.len()
    }

    /// The context length the longest pass needs (at least 2048, in multiples of 256).
    pub fn n_ctx(&self) -> Result<u32, TaskError> {
        Ok(progressive::n_ctx(
            self.context(),
            &self.prompts,
            &self.passes,
        )?)
    }

    /// Writes every query's image through `backend` and judges it with `judge` (a digit
    /// classifier of the tokenizer's image size); each pass's words go to `log`, and those it
    /// holds are not written again (a resumed run); `progress(done, total)` after every pass.
    pub fn run(
        &self,
        backend: &mut dyn Backend,
        judge: &Classifier,
        log: &mut dyn RunLog<WriteKey, Written>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<GenerateReport, TaskError> {
        let (depth, total) = (self.depth(), self.sizes.iter().sum::<usize>());
        let (t0, before) = (Instant::now(), backend.stats());
        let (mut done, all) = (0, self.passes.len() * self.prompts.len());
        let written = progressive::decode(
            backend,
            self.context(),
            &self.prompts,
            &self.passes,
            log,
            || {
                done += 1;
                progress(done, all)
            },
        )?;
        let seconds = t0.elapsed().as_secs_f64();
        let stats = backend.stats().since(&before);
        let (size, _) = self.tok.image_shape();
        let pixels = self.tok.decode_ids(&written, depth)?;
        let classified = judge.predict(pixels.clone(), written.len(), size);
        let targets: Vec<Vec<u32>> = self.examples.iter().map(|e| e.target.clone()).collect();
        let example_pixels = self.tok.decode_ids(&targets, depth)?;
        let plane = size * size;
        let mut images = Vec::with_capacity(self.queries.len());
        for (i, q) in self.queries.iter().enumerate() {
            let img = &pixels[i * plane..(i + 1) * plane];
            images.push(Generated {
                query: self.conditions[i].clone(),
                subject: q.subject.clone(),
                kind: q.kind,
                intended: q.digit,
                classified: classified[i],
                correct: q.digit.map(|d| d == classified[i]),
                nearest_example_token_distance: targets
                    .iter()
                    .map(|t| t.iter().zip(&written[i]).filter(|(a, b)| a != b).count())
                    .min()
                    .unwrap_or(total),
                nearest_example_rmse: example_pixels
                    .chunks(plane)
                    .map(|e| rmse(e, img))
                    .fold(f64::INFINITY, f64::min),
                words: self.llm.detokenize(&self.words.spell(&written[i])?),
                image: format!("images/{i:03}.png"),
            });
        }
        let judged: Vec<&Generated> = images.iter().filter(|g| g.correct.is_some()).collect();
        let correct = judged.iter().filter(|g| g.correct == Some(true)).count();
        let mut kinds: Vec<&'static str> = images.iter().map(|g| g.kind).collect();
        kinds.dedup();
        let by_kind = kinds
            .iter()
            .map(|&kind| {
                let of: Vec<&&Generated> = judged.iter().filter(|g| g.kind == kind).collect();
                let right = of.iter().filter(|g| g.correct == Some(true)).count();
                KindSummary {
                    kind,
                    queries: of.len(),
                    correct: right,
                    accuracy: right as f64 / of.len().max(1) as f64,
                }
            })
            .collect();
        Ok(GenerateReport {
            examples: self.examples.len(),
            template: self.cfg.template.clone(),
            depth,
            words_per_image: total,
            plan: self.cfg.plan.kind,
            stride: self.cfg.plan.stride,
            passes: self.passes.len(),
            judged: judged.len(),
            correct,
            accuracy: correct as f64 / judged.len().max(1) as f64,
            ci95: wilson_interval(correct, judged.len()),
            chance: 0.1,
            by_kind,
            identical_to_an_example: images
                .iter()
                .filter(|g| g.nearest_example_token_distance == 0)
                .count(),
            mean_nearest_example_rmse: images.iter().map(|g| g.nearest_example_rmse).sum::<f64>()
                / images.len().max(1) as f64,
            seconds,
            stats,
            images,
            pixels,
        })
    }
}

/// The classifier's accuracy on the tokenizer's reconstructions at `depth` of the first 1000
/// images of `test`: the best a generated image of this depth can expect.
pub fn reconstruction_ceiling(
    tok: &ImageTokenizer,
    judge: &Classifier,
    test: &ImageSet,
    depth: usize,
) -> Result<f64, TaskError> {
    let n = test.len().min(1000);
    let (size, _) = tok.image_shape();
    let mut right = 0;
    let all: Vec<usize> = (0..n).collect();
    for idx in all.chunks(200) {
        let codes = tok.encode_codes(test.batch_chw(idx, size), idx.len());
        let pixels = tok.decode_codes(&codes.tokens[..depth], idx.len(), depth)?;
        let pred = judge.predict(pixels, idx.len(), size);
        right += idx
            .iter()
            .zip(pred)
            .filter(|(&i, p)| *p == test.labels[i] as usize)
            .count();
    }
    Ok(right as f64 / n.max(1) as f64)
}

/// `n` indices of `labels`, as even over the classes as `n` allows (seeded), in a seeded order.
pub fn choose_examples(labels: &[u32], n: usize, seed: u64) -> Result<Vec<usize>, TaskError> {
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut per_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        per_class[l as usize].push(i);
    }
    for c in &mut per_class {
        c.shuffle(&mut rng);
    }
    let mut out = Vec::with_capacity(n);
    for round in 0.. {
        if out.len() == n {
            break;
        }
        let before = out.len();
        for c in &per_class {
            if let Some(&i) = c.get(round).filter(|_| out.len() < n) {
                out.push(i);
            }
        }
        if out.len() == before {
            return Err(TaskError::Data(format!(
                "{n} examples asked for, the data set has {}",
                out.len()
            )));
        }
    }
    out.shuffle(&mut rng);
    Ok(out)
}

/// Root mean squared difference of two images.
pub fn rmse(a: &[f32], b: &[f32]) -> f64 {
    let se: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    (se / a.len().max(1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_even_over_classes() {
        let labels: Vec<u32> = (0..100).map(|i| i % 10).collect();
        let chosen = choose_examples(&labels, 25, 0).unwrap();
        assert_eq!(chosen.len(), 25);
        let mut counts = [0; 10];
        for &i in &chosen {
            counts[labels[i] as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 2 || c == 3), "{counts:?}");
        assert_eq!(choose_examples(&labels, 25, 0).unwrap(), chosen, "seeded");
        assert!(choose_examples(&labels, 101, 0).is_err());
    }

    #[test]
    fn rmse_by_hand() {
        assert!((rmse(&[0.0, 1.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
    }
}
