//! In-context captioning (the paper's emoji captions): each prompt shows `examples` images with
//! their captions ("Input:{words} output: This is a {caption}.") and asks for the caption of one
//! more image; the greedy answer, up to its full stop, is scored by exact match and token F1
//! against the true caption.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use spae::data::ImageSet;
use spae::tokenizer::ImageTokenizer;
use spae_llm::backend::{Backend, SessionStats};

use crate::error::TaskError;
use crate::fewshot::{
    check_fits, wilson_interval, words_per_layers, FewshotError, FrozenLlm, Prompter, CLASSIFY_STEM,
};
use crate::resume::RunLog;

/// What a captioning run does; `Default` is `spae caption`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptionConfig {
    /// Pyramid layer counts whose words stand for an image; each is run.
    pub layers: Vec<usize>,
    /// Independent queries (each its own prompt).
    pub episodes: usize,
    /// Captioned images in each prompt.
    pub examples: usize,
    /// Longest answer, in tokens.
    pub max_tokens: usize,
    pub seed: u64,
    /// The text between an image's words and its caption.
    pub stem: String,
}

impl Default for CaptionConfig {
    fn default() -> Self {
        CaptionConfig {
            layers: vec![2],
            episodes: 200,
            examples: 10,
            max_tokens: 16,
            seed: 0,
            stem: CLASSIFY_STEM.to_string(),
        }
    }
}

/// Captions images of `images` (their own names, `ImageSet::names`, are the captions) at every
/// layer count of `cfg`: the tokenizer's words spelled for the LLM, prompts to its backend;
/// answered queries go to `log`, and those it holds are not asked again (a resumed run);
/// `progress(layers, done, total)` after every query.
pub fn run(
    cfg: &CaptionConfig,
    tok: &ImageTokenizer,
    images: &ImageSet,
    frozen: FrozenLlm,
    log: &mut dyn RunLog<AtLayers, CaptionAnswer>,
    progress: &mut dyn FnMut(usize, usize, usize),
) -> Result<Vec<CaptionResult>, TaskError> {
    let FrozenLlm {
        llm,
        spellings,
        backend,
    } = frozen;
    if images.names.len() != images.len() {
        return Err(TaskError::Data(
            "captioning needs a data set with per-image names (emoji has)".into(),
        ));
    }
    let prompter = Prompter {
        llm,
        class_names: &images.names,
        stem: &cfg.stem,
    };
    let mut results = Vec::new();
    for (layers, words) in words_per_layers(tok, images, images.len(), &cfg.layers)? {
        let words: Vec<Vec<u32>> = words
            .iter()
            .map(|w| spellings.spell(w))
            .collect::<Result<_, _>>()?;
        let mut done = 0;
        results.push(run_captioning(
            backend,
            &prompter,
            &words,
            layers,
            cfg,
            log,
            &mut || {
                done += 1;
                progress(layers, done, cfg.episodes)
            },
        )?);
    }
    Ok(results)
}

/// A layer count: what a captioning run's queries are kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AtLayers {
    pub layers: usize,
}

/// What the LLM answered to one query (all a resumed run needs: the query is drawn again from
/// the seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionAnswer {
    pub answer: String,
    pub stats: SessionStats,
    pub seconds: f64,
}

/// One answered query.
#[derive(Debug, Clone, Serialize)]
pub struct CaptionSample {
    pub image: usize,
    pub truth: String,
    pub answer: String,
    pub token_f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptionResult {
    pub layers: usize,
    pub words_per_image: usize,
    pub episodes: usize,
    pub examples: usize,
    pub exact_match: f64,
    pub exact_ci95: (f64, f64),
    pub token_f1: f64,
    pub samples: Vec<CaptionSample>,
    pub stats: SessionStats,
    pub seconds: f64,
}

/// Lower-case words of a caption, punctuation dropped.
pub fn caption_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// SQuAD's token F1: the harmonic mean of word precision and recall (words as a multiset).
pub fn token_f1(answer: &str, truth: &str) -> f64 {
    let (a, t) = (caption_words(answer), caption_words(truth));
    if a.is_empty() || t.is_empty() {
        return f64::from(u8::from(a == t));
    }
    let mut rest = t.clone();
    let common = a
        .iter()
        .filter(|w| match rest.iter().position(|r| r == *w) {
            Some(i) => {
                rest.swap_remove(i);
                true
            }
            None => false,
        })
        .count();
    if common == 0 {
        return 0.0;
    }
    let (p, r) = (
        common as f64 / a.len() as f64,
        common as f64 / t.len() as f64,
    );
    2.0 * p * r / (p + r)
}

/// Captions the `episodes` queries: each draws `examples + 1` distinct images of `words`
/// (seeded); the last is the query, whose caption is `prompter.class_names[image]`. Queries
/// `log` holds are read back, the others asked (each from a backend that forgot earlier
/// prompts) and handed to `log`.
pub fn run_captioning(
    session: &mut dyn Backend,
    prompter: &Prompter,
    words: &[Vec<u32>],
    layers: usize,
    cfg: &CaptionConfig,
    log: &mut dyn RunLog<AtLayers, CaptionAnswer>,
    on_query: &mut dyn FnMut(),
) -> Result<CaptionResult, FewshotError> {
    if words.len() <= cfg.examples {
        return Err(FewshotError::Data(format!(
            "captioning with {} examples needs more than {} images",
            cfg.examples,
            words.len()
        )));
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let key = AtLayers { layers };
    let done = log.done(&key);
    let all: Vec<usize> = (0..words.len()).collect();
    let mut samples = Vec::new();
    let (mut exact, mut stats, mut seconds) = (0, SessionStats::default(), 0.0);
    for e in 0..cfg.episodes {
        let picks: Vec<usize> = all
            .choose_multiple(&mut rng, cfg.examples + 1)
            .copied()
            .collect();
        let (query, support) = picks.split_last().expect("examples + 1 images");
        let rec = match done.get(e) {
            Some(r) => r.clone(),
            None => {
                let r = ask(session, prompter, words, support, *query, cfg)?;
                log.record(&key, e, &r)?;
                r
            }
        };
        stats += rec.stats;
        seconds += rec.seconds;
        let answer = rec.answer;
        let truth = prompter.class_names[*query].clone();
        if caption_words(&answer) == caption_words(&truth) {
            exact += 1;
        }
        samples.push(CaptionSample {
            image: *query,
            token_f1: token_f1(&answer, &truth),
            truth,
            answer,
        });
        on_query();
    }
    let n = samples.len();
    Ok(CaptionResult {
        layers,
        words_per_image: words.first().map_or(0, Vec::len),
        episodes: cfg.episodes,
        examples: cfg.examples,
        exact_match: exact as f64 / n.max(1) as f64,
        exact_ci95: wilson_interval(exact, n),
        token_f1: samples.iter().map(|s| s.token_f1).sum::<f64>() / n.max(1) as f64,
        samples,
        stats,
        seconds,
    })
}

/// Asks for the caption of `query` after the captioned `support` images, from a backend that
/// forgot earlier prompts.
fn ask(
    session: &mut dyn Backend,
    prompter: &Prompter,
    words: &[Vec<u32>],
    support: &[usize],
    query: usize,
    cfg: &CaptionConfig,
) -> Result<CaptionAnswer, FewshotError> {
    let t = std::time::Instant::now();
    session.forget()?;
    let before = session.stats();
    let mut prompt = Vec::new();
    for &i in support {
        prompt.extend(prompter.example(&words[i], i as u32));
    }
    let per_example = prompt.len() / support.len().max(1);
    prompt.extend(prompter.query(&words[query]));
    check_fits(
        &*session,
        prompt.len() + cfg.max_tokens,
        per_example,
        support.len(),
        &format!("captioning with {} examples", cfg.examples),
    )?;
    let stop = |ids: &[u32]| {
        let text = prompter.llm.detokenize(ids);
        text.contains('.') || text.contains('\n')
    };
    let out = session.generate(&prompt, cfg.max_tokens, None, &stop)?;
    let text = prompter.llm.detokenize(&out.ids);
    let answer = text
        .split(['.', '\n'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    Ok(CaptionAnswer {
        answer,
        stats: session.stats().since(&before),
        seconds: t.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_f1_and_words_by_hand() {
        assert_eq!(
            caption_words(" Grinning Face, with-eyes."),
            ["grinning", "face", "with", "eyes"]
        );
        // answer "red apple", truth "red apple tree": P = 1, R = 2/3, F1 = 0.8.
        assert!((token_f1("red apple", "red apple tree") - 0.8).abs() < 1e-12);
        // Multiset: "cat cat" vs "cat": P = 1/2, R = 1, F1 = 2/3.
        assert!((token_f1("cat cat", "cat") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(token_f1("dog", "cat"), 0.0);
        assert_eq!(token_f1("", ""), 1.0);
        assert_eq!(token_f1("", "cat"), 0.0);
    }
}
