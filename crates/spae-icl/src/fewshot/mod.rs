//! Few-shot classification with a frozen LLM (the protocol of Frozen, LQAE and SPAE's Table 1):
//! an episode draws N classes, K support images per class (each shown 1 + R times) and query
//! images; the prompt holds an optional task induction, then per support image its SPAE words and
//! "This is a {class}." (or another stem, e.g. a question for VQA), then the query's words. A query is answered open-ended (the greedy
//! continuation must start with the true class name) and constrained (decoding limited to the
//! episode's class names).

mod episodes;
mod pool;
pub mod question;
mod task;
pub use episodes::{run_setting, EpisodeRecord, ImagePool, RunConfig, SettingAt, SettingResult};
pub use pool::{select, ClassChoice, PoolClass, PoolLabels};
pub use task::{run, words_per_layers, FewshotConfig, FewshotReport, FrozenLlm, Progress};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use spae_llm::backend::Backend;
use spae_llm::backend::Choices;
use spae_llm::{Llm, LlmError};

/// One column of Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Setting {
    /// Classes per episode (N-way).
    pub way: usize,
    /// Task induction: the prompt opens with "Answer with {the class names}."
    pub induction: bool,
    /// Support images per class (inner shots, K).
    pub shots: usize,
    /// Extra presentations of the whole support set (R; 0 shows it once).
    pub repeats: usize,
}

impl Setting {
    /// Table 1's seven settings for one way: no induction with 1 shot; induction with 1, 3 and
    /// 5 shots; induction with 1 shot and 1, 3, 5 repeats.
    pub fn table1(way: usize) -> Vec<Setting> {
        let s = |induction, shots, repeats| Setting {
            way,
            induction,
            shots,
            repeats,
        };
        vec![
            s(false, 1, 0),
            s(true, 1, 0),
            s(true, 3, 0),
            s(true, 5, 0),
            s(true, 1, 1),
            s(true, 1, 3),
            s(true, 1, 5),
        ]
    }

    pub fn name(&self) -> String {
        format!(
            "{}-way {} {}-shot R{}",
            self.way,
            if self.induction {
                "induction"
            } else {
                "no-induction"
            },
            self.shots,
            self.repeats
        )
    }
}

/// One episode: its classes (data set labels) and images as (image index, class position).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub classes: Vec<u32>,
    /// Support images in prompt order (repeats included).
    pub support: Vec<(usize, usize)>,
    pub queries: Vec<(usize, usize)>,
}

/// Few-shot runs stop for the same reasons as every in-context task.
pub type FewshotError = TaskError;

/// How many queries each support set is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Queries {
    /// In all, of uniformly drawn classes (Frozen: 1).
    PerEpisode(usize),
    /// For every class (the usual few-shot query set: 15).
    PerClass(usize),
}

/// Draws an episode from labelled images: `way` distinct classes, then per class `shots` support
/// images and query candidates, all distinct. Support order is shuffled once and the whole
/// sequence repeated `repeats` more times; queries are shuffled (and, per episode, the first
/// `n` kept).
pub fn sample_episode(
    labels: &[u32],
    n_classes: usize,
    setting: &Setting,
    queries: Queries,
    rng: &mut StdRng,
) -> Result<Episode, FewshotError> {
    let (per_class, keep) = match queries {
        Queries::PerEpisode(n) => (n, n),
        Queries::PerClass(n) => (n, n * setting.way),
    };
    if setting.way < 2 || setting.way > n_classes {
        return Err(FewshotError::Data(format!(
            "{}-way needs 2 to {n_classes} classes",
            setting.way
        )));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let need = setting.shots + per_class;
    // Classes with too few images for an episode are never drawn.
    let mut classes: Vec<u32> = (0..n_classes as u32)
        .filter(|&c| by_class[c as usize].len() >= need)
        .collect();
    if classes.len() < setting.way {
        return Err(FewshotError::Data(format!(
            "{}-way with {need} images per class: only {} of the {n_classes} classes have that many images",
            setting.way,
            classes.len()
        )));
    }
    classes.shuffle(rng);
    classes.truncate(setting.way);
    let mut support = Vec::new();
    let mut query = Vec::new();
    for (pos, &c) in classes.iter().enumerate() {
        let pool = &by_class[c as usize];
        let picks: Vec<usize> = pool.choose_multiple(rng, need).copied().collect();
        support.extend(picks[..setting.shots].iter().map(|&i| (i, pos)));
        query.extend(picks[setting.shots..].iter().map(|&i| (i, pos)));
    }
    support.shuffle(rng);
    query.shuffle(rng);
    query.truncate(keep);
    let once = support.clone();
    for _ in 0..setting.repeats {
        support.extend_from_slice(&once);
    }
    Ok(Episode {
        classes,
        support,
        queries: query,
    })
}

/// Builds prompts as token ids: image words go in as their ids, text is tokenized.
pub struct Prompter<'a> {
    pub llm: &'a Llm,
    /// The answers (class names, or one caption per image for captioning).
    pub class_names: &'a [String],
    /// The text between an image's words and its answer.
    pub stem: &'a str,
}

/// The classification stem (Frozen, LQAE, SPAE): "... output: This is a {class}."
pub const CLASSIFY_STEM: &str = " output: This is a";

impl Prompter<'_> {
    /// "Answer with a, b or c." for the episode's classes.
    pub fn induction(&self, classes: &[u32]) -> Vec<u32> {
        let names: Vec<&str> = classes
            .iter()
            .map(|&c| self.class_names[c as usize].as_str())
            .collect();
        let (last, rest) = names.split_last().expect("an episode has classes");
        self.text(&format!("Answer with {} or {last}.\n", rest.join(", ")))
    }

    /// The prompt before a query: the induction line for `classes` when asked for, then each
    /// support example (its words and class) in order. Episodes and single questions share it.
    pub fn support_prefix<'w>(
        &self,
        induction: bool,
        classes: &[u32],
        support: impl IntoIterator<Item = (&'w [u32], u32)>,
    ) -> Vec<u32> {
        let mut ids = if induction {
            self.induction(classes)
        } else {
            Vec::new()
        };
        for (words, class) in support {
            ids.extend(self.example(words, class));
        }
        ids
    }

    /// "Input:{words}{stem} {class}.\n"
    pub fn example(&self, words: &[u32], class: u32) -> Vec<u32> {
        let mut ids = self.query(words);
        ids.extend(self.answer(class));
        ids.extend(self.text("\n"));
        ids
    }

    /// " {class}."
    pub fn answer(&self, class: u32) -> Vec<u32> {
        self.text(&format!(" {}.", self.class_names[class as usize]))
    }

    /// "Input:{words}{stem}"
    pub fn query(&self, words: &[u32]) -> Vec<u32> {
        let mut ids = self.text("Input:");
        ids.extend_from_slice(words);
        ids.extend(self.text(self.stem));
        ids
    }

    /// The constrained choices: each class name with its full stop, " {class}.".
    pub fn choices(&self, classes: &[u32]) -> Result<Choices, LlmError> {
        Choices::new(classes.iter().map(|&c| self.answer(c)).collect())
    }

    pub fn text(&self, s: &str) -> Vec<u32> {
        use spae::codebook::VocabTokenizer;
        self.llm.tokenize(s)
    }
}

/// Whether an open-ended answer names the class: its text, trimmed, starts with the name
/// (ASCII case ignored).
pub fn open_answer_correct(answer: &str, class_name: &str) -> bool {
    answer
        .trim_start()
        .to_ascii_lowercase()
        .starts_with(&class_name.to_ascii_lowercase())
}

/// Wilson score interval of a proportion, `z = 1.96` (95%).
pub fn wilson_interval(correct: usize, total: usize) -> (f64, f64) {
    if total == 0 {
        return (0.0, 1.0);
    }
    let (n, p, z) = (total as f64, correct as f64 / total as f64, 1.96f64);
    let centre = p + z * z / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let d = 1.0 + z * z / n;
    (
        ((centre - half) / d).max(0.0),
        ((centre + half) / d).min(1.0),
    )
}

/// A clear error, with how many support examples would fit, when a prompt of `tokens` (answer
/// included) holding `n_support` examples of about `per_example` tokens overflows the context.
pub(crate) fn check_fits(
    session: &dyn Backend,
    tokens: usize,
    per_example: usize,
    n_support: usize,
    setting: &str,
) -> Result<(), FewshotError> {
    if tokens <= session.n_ctx() {
        return Ok(());
    }
    let fixed = tokens.saturating_sub(per_example * n_support);
    Err(FewshotError::DoesNotFit {
        setting: setting.to_string(),
        tokens,
        n_ctx: session.n_ctx(),
        fit: session.n_ctx().saturating_sub(fixed) / per_example.max(1),
        per_example,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn table1_has_seven_settings_per_way() {
        let t = Setting::table1(5);
        assert_eq!(t.len(), 7);
        assert_eq!(t.iter().filter(|s| !s.induction).count(), 1);
        assert_eq!(
            t.iter().map(|s| (s.shots, s.repeats)).collect::<Vec<_>>(),
            vec![(1, 0), (1, 0), (3, 0), (5, 0), (1, 1), (1, 3), (1, 5)]
        );
    }

    #[test]
    fn episodes_are_balanced_distinct_and_repeated() {
        let labels: Vec<u32> = (0..60).map(|i| i % 6).collect();
        let s = Setting {
            way: 3,
            induction: true,
            shots: 2,
            repeats: 2,
        };
        let mut rng = StdRng::seed_from_u64(1);
        let ep = sample_episode(&labels, 6, &s, Queries::PerClass(4), &mut rng).unwrap();
        assert_eq!(ep.classes.len(), 3);
        assert_eq!(ep.support.len(), 3 * 2 * 3);
        assert_eq!(ep.support[..6], ep.support[6..12]);
        assert_eq!(ep.queries.len(), 12);
        let mut seen: Vec<usize> = ep.support[..6].iter().map(|p| p.0).collect();
        seen.extend(ep.queries.iter().map(|p| p.0));
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n, "support and queries are distinct images");
        for &(i, pos) in ep.support.iter().chain(&ep.queries) {
            assert_eq!(labels[i], ep.classes[pos]);
        }
        let again = sample_episode(
            &labels,
            6,
            &s,
            Queries::PerClass(4),
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        assert_eq!(ep, again, "seeded");
        let one = sample_episode(&labels, 6, &s, Queries::PerEpisode(1), &mut rng).unwrap();
        assert_eq!(one.queries.len(), 1);
        let big = Setting { shots: 9, ..s };
        assert!(sample_episode(&labels, 6, &big, Queries::PerClass(4), &mut rng).is_err());
        let wide = Setting { way: 7, ..s };
        assert!(sample_episode(&labels, 6, &wide, Queries::PerEpisode(1), &mut rng).is_err());
        // A class with too few images (class 5: one image) is never drawn.
        let mut sparse: Vec<u32> = (0..50).map(|i| i % 5).collect();
        sparse.push(5);
        for _ in 0..20 {
            let ep = sample_episode(&sparse, 6, &s, Queries::PerClass(1), &mut rng).unwrap();
            assert!(!ep.classes.contains(&5), "{:?}", ep.classes);
        }
        let six = Setting { way: 6, ..s };
        let e = sample_episode(&sparse, 6, &six, Queries::PerClass(1), &mut rng).unwrap_err();
        assert!(e.to_string().contains("only 5 of the 6 classes"), "{e}");
    }

    #[test]
    fn wilson_interval_by_hand() {
        // 5 of 10: centre 0.5, half-width 1.96 sqrt(0.025 + 0.009604) / 1.38416 = 0.26340.
        let (lo, hi) = wilson_interval(5, 10);
        assert!(
            (lo - 0.23659).abs() < 1e-4 && (hi - 0.76341).abs() < 1e-4,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn open_answers_match_by_prefix() {
        assert!(open_answer_correct(" Ankle boot.", "ankle boot"));
        assert!(!open_answer_correct(" boot", "ankle boot"));
    }
}
