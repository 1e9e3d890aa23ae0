//! `spae codebook ...`: build the frozen language codebook, inspect it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use spae::assets::Assets;
use spae::codebook::{sha256_file, Codebook, CodebookConfig, SourceModel};
use spae::gguf::GgufFile;
use spae::tokenizer::ImageTokenizer;
use spae::train::{latest_checkpoint, load_state};
use spae_llm::Llm;

use crate::{llm_source, progress};

#[derive(Subcommand)]
pub enum CodebookCommand {
    /// Build the codebook of an LLM: choose T, dequantize its embeddings, save them.
    Build {
        /// Installed asset name, .gguf path, or hf:OWNER/REPO/FILE.gguf.
        #[arg(long, default_value = "smollm2")]
        llm: String,
        /// Output folder (default: ASSETS/codebooks/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
        /// TOML file with a CodebookConfig (word rules, embedding tensor).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a codebook's statistics.
    Stats {
        /// Codebook folder (default: ASSETS/codebooks/smollm2).
        #[arg(long)]
        codebook: Option<PathBuf>,
    },
    /// Print the nearest words of WORD by cosine similarity of their embeddings.
    Neighbors {
        word: String,
        #[arg(short = 'n', long, default_value_t = 10)]
        count: usize,
        #[arg(long)]
        codebook: Option<PathBuf>,
    },
}

pub fn run(cmd: CodebookCommand, assets: &Assets) -> Result<()> {
    match cmd {
        CodebookCommand::Build { llm, out, config } => {
            let cfg = match config {
                Some(p) => crate::read_toml(&p)?,
                None => CodebookConfig::default(),
            };
            let (path, name) = llm_source::resolve(&llm, assets)?;
            let out = out.unwrap_or_else(|| assets.codebook_dir(&name));
            let cb = build(&path, &name, &cfg, &out)?;
            print_stats(&cb, &out);
            Ok(())
        }
        CodebookCommand::Stats { codebook } => {
            let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
            print_stats(&load(&dir)?, &dir);
            Ok(())
        }
        CodebookCommand::Neighbors {
            word,
            count,
            codebook,
        } => {
            let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
            let cb = load(&dir)?;
            print_neighbors(&cb, &word, count)
        }
    }
}

/// Builds and saves the codebook of the GGUF at `path`.
pub fn build(path: &Path, name: &str, cfg: &CodebookConfig, out: &Path) -> Result<Codebook> {
    let gguf = GgufFile::open(path)?;
    // Check the embedding table before llama.cpp reads the file.
    gguf.matrix_info(&cfg.embedding_tensor)?;
    let llm = Llm::load_vocab_only(path)?;
    let source = SourceModel {
        name: name.to_string(),
        sha256: sha256_file(path)?,
        vocab_size: gguf.vocab_tokens()?.len(),
    };
    let pb = progress::bar(source.vocab_size as u64, "tokens checked");
    let cb = Codebook::build(&gguf, &llm, source, cfg, &mut |n| pb.set_position(n as u64))?;
    pb.finish();
    cb.save(out)?;
    Ok(cb)
}

/// Builds a missing codebook folder that is named after an installed LLM asset (the default
/// `assets/codebooks/smollm2` that configurations and released models name), once, with the
/// default configuration; the model's codebook fingerprint check then confirms it is the same
/// codebook. Other missing folders are left for the loader to report.
pub fn ensure(dir: &Path, assets: &Assets) -> Result<()> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if dir.exists() || !Assets::llm_names().any(|n| n == name) {
        return Ok(());
    }
    let gguf = assets.path(name)?;
    println!(
        "building the {name} codebook at {} (once) ...",
        dir.display()
    );
    // Built aside and renamed into place, so that a concurrent process never sees a half-written
    // folder; if another process got there first, its (identical) codebook is kept.
    let part = dir.with_extension(format!("part-{}", std::process::id()));
    build(&gguf, name, &CodebookConfig::default(), &part)?;
    if let Err(e) = std::fs::rename(&part, dir) {
        std::fs::remove_dir_all(&part)?;
        if !dir.join("codebook.vocab.json").exists() {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Loads a checkpoint, run or released model as a tokenizer, building its codebook first if
/// [`ensure`] can.
pub fn tokenizer(checkpoint: &Path, assets: &Assets) -> Result<ImageTokenizer> {
    let dir = latest_checkpoint(checkpoint)?.unwrap_or_else(|| checkpoint.to_path_buf());
    ensure(Path::new(&load_state(&dir)?.config.codebook), assets)?;
    Ok(ImageTokenizer::load(checkpoint)?)
}

/// Loads a codebook, with a hint to build it when the folder is missing.
pub fn load(dir: &Path) -> Result<Codebook> {
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
