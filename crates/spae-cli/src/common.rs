//! What several commands share: the LLM and plan flags, what a report records of the LLM, data
//! splits and configuration files by name, and loading a tokenizer or codebook with progress.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::codebook::Codebook;
use spae::data::Fit;
use spae::device::Device;
use spae::tokenizer::ImageTokenizer;
use spae_icl::denoise::DenoiseConfig;
use spae_icl::progressive::{Plan, PlanKind};
use spae_llm::backend::Backend;
use spae_llm::codebooks::{ensure_codebook, load_tokenizer};
use spae_llm::http::{Endpoint, HttpConfig, PromptForm};
use spae_llm::session::{self, SessionConfig};
use spae_llm::spec::BackendSpec;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use crate::{llm_source, progress};

/// How images of another size than the model's reach it (encode, fewshot --images, denoise).
#[derive(Args, Clone, Debug)]
pub struct FitArgs {
    /// Refuse images that are not the model's size (or a smaller square, centred) instead of
    /// resizing them. By default any PNG, JPEG or WebP is taken: its centred square resampled to
    /// the model's canvas (antialiased bilinear, as Pillow's ImageOps.fit).
    #[arg(long)]
    pub no_resize: bool,
}

impl FitArgs {
    pub fn fit(&self) -> Fit {
        match self.no_resize {
            true => Fit::Strict,
            false => Fit::Resize,
        }
    }
}

/// Which frozen LLM answers, and how it runs.
#[derive(Args, Clone, Debug)]
pub struct LlmArgs {
    /// The frozen LLM: an installed asset (smollm2, qwen0.5b, ...), a .gguf path or
    /// hf:OWNER/REPO/FILE.gguf. With --server, only its vocabulary is read (the served model's).
    #[arg(long, default_value = "smollm2")]
    pub llm: String,
    /// Ask an OpenAI-compatible server instead of running the LLM here (base URL with the API
    /// version, e.g. http://127.0.0.1:8000/v1; API key from $OPENAI_API_KEY).
    #[arg(long)]
    pub server: Option<String>,
    /// The server's `model` field.
    #[arg(long, default_value = "default")]
    pub server_model: String,
    /// completions or chat.
    #[arg(long, default_value = "completions")]
    pub endpoint: Endpoint,
    /// Prompts to the completions endpoint as token ids or as text.
    #[arg(long, default_value = "ids")]
    pub prompt_as: PromptForm,
    /// Seconds before a request to the server is given up (then retried).
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Retries of a failed request (with exponential backoff).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Re-process every prompt from the start instead of reusing the cached prefix.
    #[arg(long)]
    pub no_reuse: bool,
    /// Evaluate prompts in chunks of N tokens starting at multiples of N, and cut a reused
    /// prefix back to one, so answers are the same with and without reuse; 0: batches of 512
    /// from wherever the reused prefix ends (a little faster; near-tied answers may then
    /// differ with --no-reuse).
    #[arg(long, default_value_t = session::DEFAULT_ALIGN)]
    pub align: u32,
    /// Context length in tokens (default: 2048 for classification and captions, 4096 for
    /// generation).
    #[arg(long)]
    pub n_ctx: Option<u32>,
    /// CPU threads for the LLM (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Give the LLM each image's words as text, tokenized by its own tokenizer, so that an LLM
    /// with another vocabulary than the codebook's source model (Qwen, Gemma, ...) can read a
    /// tokenizer's words, and write them (generate, denoise: each token constrained to continue
    /// a codebook word's spelling).
    #[arg(long)]
    pub words_as_text: bool,
}

impl Default for LlmArgs {
    /// The flags' defaults (a test checks they agree).
    fn default() -> Self {
        LlmArgs {
            llm: "smollm2".into(),
            server: None,
            server_model: "default".into(),
            endpoint: Endpoint::Completions,
            prompt_as: PromptForm::Ids,
            timeout: 120.0,
            retries: 3,
            no_reuse: false,
            align: session::DEFAULT_ALIGN,
            n_ctx: None,
            threads: 0,
            words_as_text: false,
        }
    }
}

impl LlmArgs {
    /// The LLM's GGUF path and the model (vocabulary only with --server), checked against the
    /// codebook's vocabulary unless --words-as-text.
    pub fn load(&self, assets: &Assets, codebook: &Codebook) -> Result<(PathBuf, Llm)> {
        let (path, _) = llm_source::resolve(&self.llm, assets)?;
        let llm = match self.server {
            Some(_) => Llm::load_vocab_only(&path)?,
            None => Llm::load(&path)?,
        };
        if !self.words_as_text {
            llm.check_codebook(codebook)?;
        }
        Ok((path, llm))
    }

    /// How `llm` spells the codebook's words (--words-as-text: as text in its own tokens).
    pub fn spellings(&self, llm: &Llm, codebook: &Codebook) -> Result<Spellings> {
        Ok(Spellings::of_codebook(llm, codebook, self.words_as_text)?)
    }

    /// What a report records of the LLM that answered `path` ran.
    pub fn record(&self, path: &Path) -> LlmRecord {
        LlmRecord {
            llm: path.display().to_string(),
            server: self.server.clone(),
            threads: self
                .server
                .is_none()
                .then(|| session::threads(self.threads)),
            reuse_prefix: !self.no_reuse,
            align: self.server.is_none().then_some(self.align),
            words_as_text: self.words_as_text,
        }
    }

    /// How the LLM runs: a llama.cpp session, or the server; `n_ctx` unless --n-ctx is given.
    pub fn spec(&self, n_ctx: u32) -> BackendSpec {
        let n_ctx = self.n_ctx.unwrap_or(n_ctx);
        match &self.server {
            Some(url) => BackendSpec::Http(HttpConfig {
                model: self.server_model.clone(),
                endpoint: self.endpoint,
                prompt: self.prompt_as,
                timeout_s: self.timeout,
                retries: self.retries,
                n_ctx: n_ctx as usize,
                ..HttpConfig::new(url)
            }),
            None => BackendSpec::Embedded(SessionConfig {
                n_ctx,
                threads: self.threads,
                reuse_prefix: !self.no_reuse,
                align: self.align,
                ..SessionConfig::default()
            }),
        }
    }

    /// The backend that answers, opened on `llm` ([`LlmArgs::spec`]).
    pub fn backend<'a>(&self, llm: &'a Llm, n_ctx: u32) -> Result<Box<dyn Backend + 'a>> {
        Ok(self.spec(n_ctx).open(llm)?)
    }
}

/// What a report records of the LLM: enough to rerun it (llama.cpp's greedy choices between
/// near-tied tokens depend on the thread count).
#[derive(Serialize, Clone)]
pub struct LlmRecord {
    /// The GGUF (with a server: whose vocabulary was used).
    pub llm: String,
    pub server: Option<String>,
    /// CPU threads of the embedded LLM.
    pub threads: Option<usize>,
    pub reuse_prefix: bool,
    /// The embedded LLM's prompt chunk alignment (`--align`).
    pub align: Option<u32>,
    pub words_as_text: bool,
}

/// What the LLM writes and in which passes (Eq. 11).
#[derive(Args)]
pub struct PlanArgs {
    /// Pyramid layers written (default: the first decodable depth).
    #[arg(long)]
    pub depth: Option<usize>,
    /// paper (PAR for every layer but the last, PNAR for the last), par, pnar or single (the
    /// whole target in one pass).
    #[arg(long, default_value = "paper")]
    pub plan: PlanKind,
    /// Tokens per pass (default 16: one pass for each of the 1-, 4- and 16-word layers, four
    /// for a 64-word layer); 0: a whole layer per pass.
    #[arg(long, default_value_t = 16)]
    pub stride: usize,
}

impl PlanArgs {
    pub fn plan(&self) -> Plan {
        Plan {
            depth: self.depth,
            kind: self.plan,
            stride: self.stride,
        }
    }
}

/// The denoising protocol's flags, shared by `spae denoise` and `spae predict-frames`.
#[derive(Args)]
pub struct ProtocolArgs {
    /// Examples in context (default: 10 for images, the paper's; 4 for clips).
    #[arg(long)]
    pub examples: Option<usize>,
    /// Corruption rate of the first example.
    #[arg(long, default_value_t = 0.5)]
    pub rate_from: f64,
    /// Corruption rate of the last example.
    #[arg(long, default_value_t = 0.2)]
    pub rate_to: f64,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Seed of the corruption (query `i` uses seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ProtocolArgs {
    /// The configuration, `examples` examples unless `--examples` says otherwise.
    pub fn config(&self, examples: usize) -> DenoiseConfig {
        DenoiseConfig {
            examples: self.examples.unwrap_or(examples),
            rate_from: self.rate_from,
            rate_to: self.rate_to,
            plan: self.plan.plan(),
            seed: self.seed,
        }
    }
}

/// A data split named on the command line.
pub fn parse_split(split: &str) -> anyhow::Result<spae::data::Split> {
    match split {
        "test" => Ok(spae::data::Split::Test),
        "train" => Ok(spae::data::Split::Train),
        other => anyhow::bail!("unknown split '{other}' (train or test)"),
    }
}

/// Reads a TOML configuration file into its typed struct.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: bad config", path.display()))
}

pub fn tokens_checked(pb: &indicatif::ProgressBar) -> impl FnMut(usize, usize) + '_ {
    move |n, total| {
        pb.set_length(total as u64);
        pb.set_position(n as u64)
    }
}

/// Builds the codebook folder `dir` if it is missing and named after an installed LLM (the
/// library's [`ensure_codebook`]), saying so and showing progress.
pub fn ensure(dir: &Path, assets: &Assets) -> Result<()> {
    let pb = progress::bar(0, "codebook: tokens checked");
    let built = ensure_codebook(dir, assets, &mut tokens_checked(&pb));
    pb.finish_and_clear();
    if built? {
        println!("built the codebook at {}", dir.display());
    }
    Ok(())
}

/// Loads a checkpoint, run or released model as a tokenizer, building its codebook first (with
/// a progress bar) when it is missing and named after an installed LLM.
pub fn tokenizer(checkpoint: &Path, assets: &Assets, device: &Device) -> Result<ImageTokenizer> {
    let pb = progress::bar(0, "codebook: tokens checked");
    let tok = load_tokenizer(checkpoint, assets, device, &mut tokens_checked(&pb));
    pb.finish_and_clear();
    Ok(tok?)
}

/// Loads a codebook, with a hint to build it when the folder is missing.
pub fn load_codebook(dir: &Path) -> Result<Codebook> {
    if !dir.exists() {
        anyhow::bail!(
            "no codebook at {}: build it with `spae codebook build`",
            dir.display()
        );
    }
    Ok(Codebook::load(dir)?)
}

pub fn print_stats(cb: &Codebook, dir: &Path) {
    let r = &cb.report;
    println!("codebook {}", dir.display());
    println!(
        "  source        {} (sha256 {}), vocabulary {}",
        cb.source.name,
        &cb.source.sha256[..16],
        r.vocab_size
    );
    println!(
        "  |T|           {} words of dimension {} ({:.1}% of the vocabulary)",
        cb.len(),
        cb.dim,
        100.0 * cb.len() as f64 / r.vocab_size.max(1) as f64
    );
    println!("  rejected      {}", r.vocab_size - r.accepted);
    for (reason, n) in &r.rejected {
        println!("    {:<20} {n}", format!("{reason:?}"));
    }
    let norms: Vec<f64> = (0..cb.len())
        .map(|k| {
            cb.row(k)
                .iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mean = norms.iter().sum::<f64>() / norms.len().max(1) as f64;
    let sd =
        (norms.iter().map(|n| (n - mean).powi(2)).sum::<f64>() / norms.len().max(1) as f64).sqrt();
    let (lo, hi) = norms
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &n| (a.min(n), b.max(n)));
    println!("  |e(k)|        mean {mean:.3}, sd {sd:.3}, min {lo:.3}, max {hi:.3}");
    let sample: Vec<&str> = cb
        .words
        .iter()
        .step_by(cb.len().max(1) / 12 + 1)
        .map(|w| w.text.trim())
        .collect();
    println!("  sample words  {}", sample.join(", "));
}

pub fn print_neighbors(cb: &Codebook, word: &str, count: usize) -> Result<()> {
    let list = cb.neighbors(word, count)?;
    let shown: Vec<String> = list
        .iter()
        .map(|(w, s)| format!("{} {s:.2}", w.text.trim()))
        .collect();
    println!("{:<10} -> {}", word, shown.join(", "));
    Ok(())
}

/// The checkpoint a run folder points to now (`LATEST`), or `checkpoint` itself (a released
/// model or a step folder): what a run journal's header names as the weights.
pub fn weights(checkpoint: &Path) -> Result<PathBuf> {
    Ok(spae::checkpoint::latest(checkpoint)?.unwrap_or(checkpoint.to_path_buf()))
}

/// The run journal at `path` for a run of the tokenizer at `checkpoint` that `header`
/// describes (the checkpoint its run folder now points to is added), continued with `resume`
/// (see `spae_icl::resume`).
pub fn run_journal<K, R>(
    path: &Path,
    checkpoint: &Path,
    mut header: serde_json::Value,
    resume: bool,
) -> Result<spae_icl::resume::JournalLog<K, R>>
where
    K: Serialize + serde::de::DeserializeOwned + std::hash::Hash + Eq + Clone,
    R: Serialize + serde::de::DeserializeOwned + Clone,
{
    header["weights"] = serde_json::to_value(weights(checkpoint)?)?;
    let log = spae_icl::resume::JournalLog::open(path, &header, resume)?;
    if resume {
        tracing::info!("resuming {}: {} done", path.display(), log.resumed());
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_defaults_agree_with_the_flags() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            llm: LlmArgs,
        }
        let parsed = <Cli as clap::Parser>::parse_from(["spae"]).llm;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", LlmArgs::default()));
    }
}
