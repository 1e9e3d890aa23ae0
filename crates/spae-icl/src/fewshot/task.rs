//! Few-shot classification as one call: a [`FewshotConfig`] (which layers, settings, episodes)
//! run on labelled images through a tokenizer and a frozen LLM's [`Backend`], giving a
//! [`FewshotReport`].

use serde::{Deserialize, Serialize};
use spae::data::ImageSet;
use spae::pyramid::PyramidLayout;
use spae::tokenizer::ImageTokenizer;
use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use crate::baselines::class_word_control;

use super::{
    run_setting, EpisodeRecord, FewshotError, ImagePool, Prompter, Queries, RunConfig, Setting,
    SettingAt, SettingResult, CLASSIFY_STEM,
};
use crate::resume::RunLog;

/// What a few-shot run does (Table 1's protocol); `Default` is `spae fewshot`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FewshotConfig {
    /// Pyramid layer counts whose words stand for an image; each runs every setting.
    pub layers: Vec<usize>,
    /// Table 1 columns to run ([`Setting::table1`] gives a way's seven).
    pub settings: Vec<Setting>,
    /// Independent episodes per setting (each its own support set).
    pub episodes: usize,
    pub queries: Queries,
    /// Seeds the episodes (the same seed draws the same episodes) and the control's words.
    pub seed: u64,
    /// The text between an image's words and its answer (a question turns it into VQA).
    pub stem: String,
    /// A control instead of the tokenizer's words: every image of a class gets the same random
    /// codebook words, each kept with this probability ([`class_word_control`]).
    pub control: Option<f64>,
}

impl Default for FewshotConfig {
    fn default() -> Self {
        FewshotConfig {
            layers: vec![2],
            settings: vec![Setting {
                way: 2,
                induction: false,
                shots: 1,
                repeats: 0,
            }],
            episodes: 500,
            queries: Queries::PerEpisode(1),
            seed: 0,
            stem: CLASSIFY_STEM.to_string(),
            control: None,
        }
    }
}

/// Where a run is: `done` of `total` queries of one setting at one layer count.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub setting: &'a Setting,
    pub layers: usize,
    pub done: usize,
    pub total: usize,
}

/// One result per (layer count, setting), layer counts outermost.
#[derive(Debug, Clone, Serialize)]
pub struct FewshotReport {
    /// Images episodes were drawn from.
    pub pool: usize,
    pub results: Vec<SettingResult>,
}

/// A layer count and every image's word ids of layers 1..=L.
pub type LayerWords = (usize, Vec<Vec<u32>>);

/// Each layer count in `layers` with the word ids of layers 1..=L of the first `n` images (the
/// pyramid encoded once, at the deepest).
pub fn words_per_layers(
    tok: &ImageTokenizer,
    images: &ImageSet,
    n: usize,
    layers: &[usize],
) -> Result<Vec<LayerWords>, FewshotError> {
    let (size, _) = tok.image_shape();
    let deepest = layers.iter().copied().max().unwrap_or(1);
    let all: Vec<usize> = (0..n.min(images.len())).collect();
    let words = tok.word_ids(&images.batch_chw(&all, size), deepest)?;
    let cumulative = tok.pyramid().cumulative_sizes();
    layers
        .iter()
        .map(|&l| match l {
            0 => Err(FewshotError::Data("layer counts start at 1".into())),
            l => Ok((
                l,
                words
                    .iter()
                    .map(|w| w[..cumulative[l - 1]].to_vec())
                    .collect(),
            )),
        })
        .collect()
}

/// The frozen LLM a task asks: its vocabulary, how codebook words are spelled in it, and the
/// backend that answers.
pub struct FrozenLlm<'a> {
    pub llm: &'a Llm,
    pub spellings: &'a Spellings,
    pub backend: &'a mut dyn Backend,
}

/// Runs every setting of `cfg` at every layer count on `images` (labelled, at the tokenizer's
/// image size): the tokenizer's words (or the control's), spelled for the LLM, in prompts to
/// its backend. Finished episodes go to `log`, and those it already holds are not asked again
/// (a resumed run).
pub fn run(
    cfg: &FewshotConfig,
    tok: &ImageTokenizer,
    images: &ImageSet,
    frozen: FrozenLlm,
    log: &mut dyn RunLog<SettingAt, EpisodeRecord>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<FewshotReport, FewshotError> {
    let FrozenLlm {
        llm,
        spellings,
        backend,
    } = frozen;
    let mut per_layers = words_per_layers(tok, images, images.len(), &cfg.layers)?;
    if let Some(keep) = cfg.control {
        let vocab: Vec<u32> = tok.codebook().words.iter().map(|w| w.id).collect();
        for (l, words) in per_layers.iter_mut() {
            let n_words = words.first().map_or(0, Vec::len);
            let seed = cfg.seed ^ (*l as u64) << 32;
            *words = class_word_control(&images.labels, n_words, &vocab, keep, seed)?;
        }
    }
    let prompter = Prompter {
        llm,
        class_names: &images.class_names,
        stem: &cfg.stem,
    };
    let run_cfg = RunConfig {
        episodes: cfg.episodes,
        queries: cfg.queries,
        seed: cfg.seed,
    };
    let mut results = Vec::new();
    for (layers, words) in per_layers {
        let spelled: Vec<Vec<u32>> = words
            .iter()
            .map(|ids| spellings.spell(ids))
            .collect::<Result<_, _>>()?;
        let pool = ImagePool {
            words: &spelled,
            labels: &images.labels,
            layers,
        };
        for setting in &cfg.settings {
            let total = cfg.episodes
                * match cfg.queries {
                    Queries::PerEpisode(q) => q,
                    Queries::PerClass(q) => q * setting.way,
                };
            let mut done = 0;
            let r = run_setting(
                backend,
                &prompter,
                &pool,
                setting,
                &run_cfg,
                log,
                &mut || {
                    done += 1;
                    progress(&Progress {
                        setting,
                        layers,
                        done,
                        total,
                    })
                },
            )?;
            results.push(r);
        }
    }
    Ok(FewshotReport {
        pool: images.len(),
        results,
    })
}
