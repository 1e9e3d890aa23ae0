//! A few-shot evaluation as the CLI runs it (`spae fewshot`, the demo, `spae bench fewshot`):
//! which images episodes draw from (and whether the tokenizer saw their classes labelled), which
//! LLM answers, what runs ([`FewshotConfig`]), where the JSON goes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{Fit, ImageSet, Split};
use spae::device::Device;
use spae::tokenizer::ImageTokenizer;
use spae::train::labels_seen;
use spae::train::{dataset, named_dataset};
use spae_icl::fewshot::{
    self, select, ClassChoice, EpisodeRecord, FewshotConfig, FrozenLlm, PoolLabels, SettingAt,
    SettingResult,
};

use crate::common::{LlmArgs, LlmRecord};
use crate::progress;

/// One few-shot evaluation: the tokenizer, the images, the LLM, the settings, the report file.
pub struct FewshotRun {
    /// A checkpoint, run folder or released model.
    pub checkpoint: PathBuf,
    /// A labelled folder (one subfolder per class) instead of a data set.
    pub images: Option<PathBuf>,
    /// How the folder's images reach the model's size (not in the journal: a strict run either
    /// reads the same pixels or stops).
    pub fit: Fit,
    /// Another installed data set instead of the tokenizer's.
    pub dataset: Option<String>,
    pub split: Split,
    pub choice: ClassChoice,
    /// Episodes draw from the first `pool` images of the allowed classes.
    pub pool: usize,
    pub llm: LlmArgs,
    pub cfg: FewshotConfig,
    /// The JSON report; its run journal (one line per finished episode) is kept beside it.
    pub out: PathBuf,
    /// Continue the run the journal beside `out` holds (same flags), asking only the episodes it
    /// has not finished.
    pub resume: bool,
}

/// The images a tokenizer is evaluated on, and their name for reports: a labelled folder
/// (`images`), another installed data set (`dataset`, checked against the model's image
/// shape) or the tokenizer's own data set; `split` of the data sets.
pub fn load_images(
    tok: &ImageTokenizer,
    images: Option<(&Path, Fit)>,
    dataset_name: Option<&str>,
    split: Split,
    assets: &Assets,
) -> Result<(ImageSet, String)> {
    let (size, channels) = tok.image_shape();
    let split_name = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    Ok(match (images, dataset_name) {
        (Some((dir, fit)), _) => (
            spae::data::image_folder(dir, size, channels, fit)?,
            dir.display().to_string(),
        ),
        (None, Some(name)) => {
            let set = named_dataset(name, assets, split)?;
            if set.width > size || set.height > size || set.channels != channels {
                bail!(
                    "--dataset {name}: its images are {}x{}x{}, the tokenizer takes {size}x{size}x{channels}",
                    set.width,
                    set.height,
                    set.channels
                );
            }
            (set, format!("{name}:{split_name}"))
        }
        (None, None) => (
            dataset(tok.config(), assets, split)?,
            format!("{}:{split_name}", tok.config().data.dataset),
        ),
    })
}

/// Choosing the episodes' classes (`spae_icl::fewshot::ClassChoice` as flags).
#[derive(Args, Clone, Default)]
pub struct ClassChoiceArgs {
    /// Episode classes only from these class names (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Episode classes only from those the tokenizer never saw labelled in training (its
    /// `state.json` labels, by name): the class-disjoint protocol.
    #[arg(long)]
    pub unseen: bool,
}

impl ClassChoiceArgs {
    pub fn choice(&self) -> ClassChoice {
        ClassChoice {
            classes: self.classes.clone(),
            unseen: self.unseen,
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    checkpoint: &'a Path,
    #[serde(flatten)]
    llm: LlmRecord,
    pool: usize,
    /// Set when the words were a class-word control (`--control`): the probability each
    /// word was kept.
    class_word_control: Option<f64>,
    /// The images' data set (or folder), its classes and whether the tokenizer saw them
    /// labelled in training.
    data: String,
    #[serde(flatten)]
    labels: &'a PoolLabels,
    results: &'a [SettingResult],
}

/// Runs the requested settings and writes the JSON report; also returns the pool's classes
/// against the tokenizer's training labels.
pub fn evaluate(
    args: &FewshotRun,
    assets: &Assets,
    device: &Device,
) -> Result<(Vec<SettingResult>, PoolLabels)> {
    let split = args.split;
    let tok = crate::common::tokenizer(&args.checkpoint, assets, device)?;
    let (set, data) = load_images(
        &tok,
        args.images.as_deref().map(|d| (d, args.fit)),
        args.dataset.as_deref(),
        split,
        assets,
    )?;
    let seen = labels_seen(&args.checkpoint, assets)?;
    let (set, labels) = select(&set, &seen, &args.choice, args.pool)?;
    let (path, llm) = args.llm.load(assets, tok.codebook())?;
    let spellings = args.llm.spellings(&llm, tok.codebook())?;
    let mut session = args.llm.backend(&llm, 2048)?;
    // Everything that decides the answers: a journal of another run is refused on --resume.
    let header = serde_json::json!({
        "task": "fewshot",
        "data": data,
        "pool": args.pool,
        "classes": labels,
        "llm": args.llm.record(&path),
        "config": args.cfg,
    });
    let mut log = crate::common::run_journal::<SettingAt, EpisodeRecord>(
        &spae::journal::Journal::beside(&args.out),
        &args.checkpoint,
        header,
        args.resume,
    )?;
    let mut bars = progress::Bars::default();
    let frozen = FrozenLlm {
        llm: &llm,
        spellings: &spellings,
        backend: session.as_mut(),
    };
    let rep = fewshot::run(&args.cfg, &tok, &set, frozen, &mut log, &mut |p| {
        bars.show(p.done, p.total, || {
            format!("{} L{}", p.setting.name(), p.layers)
        })
    })?;
    bars.finish();
    let results = rep.results;
    let report = Report {
        checkpoint: &args.checkpoint,
        llm: args.llm.record(&path),
        pool: rep.pool,
        class_word_control: args.cfg.control,
        data,
        labels: &labels,
        results: &results,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(&args.out, &serde_json::to_vec_pretty(&report)?)?;
    Ok((results, labels))
}
