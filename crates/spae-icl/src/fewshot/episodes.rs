//! One Table 1 setting run episode by episode: each episode's answers are an
//! [`EpisodeRecord`], kept by an [`EpisodeLog`] as it finishes, so a killed run resumes at the
//! first episode it had not finished and reports what an uninterrupted run reports.

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use spae_llm::backend::{Backend, SessionStats};

use super::{
    check_fits, open_answer_correct, sample_episode, wilson_interval, Episode, FewshotError,
    Prompter, Queries, Setting,
};
use crate::baselines::overlap_vote;
use crate::resume::RunLog;

/// How a setting is run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunConfig {
    pub episodes: usize,
    pub queries: Queries,
    pub seed: u64,
}

/// A setting's accuracy in both modes.
#[derive(Debug, Clone, Serialize)]
pub struct SettingResult {
    pub setting: Setting,
    pub layers: usize,
    pub words_per_image: usize,
    pub episodes: usize,
    pub queries: usize,
    pub open_correct: usize,
    pub constrained_correct: usize,
    pub open_accuracy: f64,
    pub open_ci95: (f64, f64),
    pub constrained_accuracy: f64,
    pub constrained_ci95: (f64, f64),
    pub chance: f64,
    /// Constrained predictions, in order (class positions), for comparing runs.
    pub predictions: Vec<usize>,
    /// What the words allow without an LLM: the expected accuracy of picking the class whose
    /// support images share the most words with the query ([`overlap_vote`]). Against the LLM's
    /// figure it tells whether the LLM reads the words or ignores them.
    pub word_overlap_accuracy: f64,
    /// The LLM's work, summed over episodes (a resumed run's includes the earlier run's).
    pub stats: SessionStats,
    /// Seconds spent asking, summed over episodes.
    pub seconds: f64,
}

/// The images episodes are drawn from.
pub struct ImagePool<'a> {
    /// Each image's SPAE word ids, layers 1..=`layers` in order.
    pub words: &'a [Vec<u32>],
    pub labels: &'a [u32],
    pub layers: usize,
}

/// One episode's answers from the LLM, per query in the episode's order: all a resumed run
/// needs to count the episode without asking again (the episode itself is drawn again from the
/// seed, and the word-overlap reader needs no LLM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Whether the open-ended answer started with the true class name.
    pub open: Vec<bool>,
    /// The constrained answer's class position (`usize::MAX` when no choice was completed).
    pub constrained: Vec<usize>,
    pub stats: SessionStats,
    pub seconds: f64,
}

/// A setting at a layer count: what a few-shot run's episodes are kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SettingAt {
    pub layers: usize,
    pub setting: Setting,
}

/// Runs `cfg.episodes` episodes of a setting (the same seed draws the same episodes): those
/// `log` holds are counted from it, the others asked and handed to `log`. Queries of one
/// support set share its prompt prefix (reused when the session reuses prefixes); each episode
/// starts from a backend that has forgotten earlier prompts, so an episode's answers do not
/// depend on where a run started. `on_query` is called after every query (asked or read back).
pub fn run_setting(
    session: &mut dyn Backend,
    prompter: &Prompter,
    pool: &ImagePool,
    setting: &Setting,
    cfg: &RunConfig,
    log: &mut dyn RunLog<SettingAt, EpisodeRecord>,
    on_query: &mut dyn FnMut(),
) -> Result<SettingResult, FewshotError> {
    let (words, labels) = (pool.words, pool.labels);
    let n_classes = prompter.class_names.len();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let key = SettingAt {
        layers: pool.layers,
        setting: *setting,
    };
    let done = log.done(&key);
    if done.len() > cfg.episodes {
        return Err(FewshotError::Data(format!(
            "the run journal holds {} episodes of {} at {} layer(s), this run asks {}",
            done.len(),
            setting.name(),
            pool.layers,
            cfg.episodes
        )));
    }
    let mut stats = SessionStats::default();
    let (mut open_ok, mut con_ok, mut total, mut seconds) = (0, 0, 0, 0.0);
    let mut overlap_ok = 0f64;
    let mut predictions = Vec::new();
    for e in 0..cfg.episodes {
        let ep = sample_episode(labels, n_classes, setting, cfg.queries, &mut rng)?;
        let rec = match done.get(e) {
            Some(r)
                if r.open.len() == ep.queries.len() && r.constrained.len() == ep.queries.len() =>
            {
                for _ in &ep.queries {
                    on_query();
                }
                r.clone()
            }
            Some(r) => {
                return Err(FewshotError::Data(format!(
                    "the run journal's episode {e} of {} has {} answers, the episode {} queries",
                    setting.name(),
                    r.constrained.len(),
                    ep.queries.len()
                )))
            }
            None => {
                let r = ask_episode(session, prompter, words, setting, &ep, on_query)?;
                log.record(&key, e, &r)?;
                r
            }
        };
        // The word-overlap reader's view of the support set, shared by the episode's queries.
        let support: Vec<(&[u32], usize)> = ep
            .support
            .iter()
            .map(|&(i, p)| (words[i].as_slice(), p))
            .collect();
        for (q, &(img, pos)) in ep.queries.iter().enumerate() {
            open_ok += usize::from(rec.open[q]);
            con_ok += usize::from(rec.constrained[q] == pos);
            predictions.push(rec.constrained[q]);
            overlap_ok += overlap_vote(&words[img], &support, setting.way)[pos];
            total += 1;
        }
        stats += rec.stats;
        seconds += rec.seconds;
    }
    Ok(SettingResult {
        setting: *setting,
        layers: pool.layers,
        words_per_image: words.first().map_or(0, Vec::len),
        episodes: cfg.episodes,
        queries: total,
        open_correct: open_ok,
        constrained_correct: con_ok,
        open_accuracy: open_ok as f64 / total.max(1) as f64,
        open_ci95: wilson_interval(open_ok, total),
        constrained_accuracy: con_ok as f64 / total.max(1) as f64,
        constrained_ci95: wilson_interval(con_ok, total),
        chance: 1.0 / setting.way as f64,
        predictions,
        word_overlap_accuracy: overlap_ok / total.max(1) as f64,
        stats,
        seconds,
    })
}

/// Asks the LLM an episode's queries, open-ended and constrained, from a backend that has
/// forgotten earlier prompts.
fn ask_episode(
    session: &mut dyn Backend,
    prompter: &Prompter,
    words: &[Vec<u32>],
    setting: &Setting,
    ep: &Episode,
    on_query: &mut dyn FnMut(),
) -> Result<EpisodeRecord, FewshotError> {
    let t = std::time::Instant::now();
    session.forget()?;
    let before = session.stats();
    let prefix = prompter.support_prefix(
        setting.induction,
        &ep.classes,
        (ep.support.iter()).map(|&(img, pos)| (words[img].as_slice(), ep.classes[pos])),
    );
    let choices = prompter.choices(&ep.classes)?;
    // Room for the longest class name, plus one token of slack for open-ended answers.
    let max_answer = 1 + ep
        .classes
        .iter()
        .map(|&c| prompter.answer(c).len())
        .max()
        .unwrap_or(0);
    let (first, first_pos) = ep.support[0];
    let per_example = prompter.example(&words[first], ep.classes[first_pos]).len();
    let mut rec = EpisodeRecord {
        open: Vec::new(),
        constrained: Vec::new(),
        stats: SessionStats::default(),
        seconds: 0.0,
    };
    for &(img, pos) in &ep.queries {
        let mut prompt = prefix.clone();
        prompt.extend(prompter.query(&words[img]));
        check_fits(
            &*session,
            prompt.len() + max_answer,
            per_example,
            ep.support.len(),
            &setting.name(),
        )?;
        let stop = |ids: &[u32]| {
            let text = prompter.llm.detokenize(ids);
            text.contains('.') || text.contains('\n')
        };
        let open = session.generate(&prompt, max_answer, None, &stop)?;
        let name = &prompter.class_names[ep.classes[pos] as usize];
        rec.open.push(open_answer_correct(
            &prompter.llm.detokenize(&open.ids),
            name,
        ));
        let con = session.generate(&prompt, max_answer, Some(&choices), &|_| false)?;
        rec.constrained
            .push(choices.complete(&con.ids).unwrap_or(usize::MAX));
        on_query();
    }
    rec.stats = session.stats().since(&before);
    rec.seconds = t.elapsed().as_secs_f64();
    Ok(rec)
}
