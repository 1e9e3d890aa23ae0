//! Frozen codebooks from GGUF LLMs (the vocabulary is read through llama.cpp, so this sits in
//! the runtime crate), and a released tokenizer loaded with the codebook it names built first
//! when it is missing: what a user of the library calls instead of the CLI.

use std::path::Path;

use spae::assets::{Assets, MissingAsset};
use spae::checkpoint::{latest, load_state, CheckpointError};
use spae::codebook::{sha256_file, Codebook, CodebookConfig, CodebookError, SourceModel};
use spae::device::Device;
use spae::gguf::{GgufError, GgufFile};
use spae::tokenizer::{ImageTokenizer, TokenizerError};
use thiserror::Error;

use crate::{Llm, LlmError};

#[derive(Debug, Error)]
pub enum CodebookBuildError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Codebook(#[from] CodebookError),
    #[error(transparent)]
    Asset(#[from] MissingAsset),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Builds the codebook of the GGUF at `path` (source name `name`) and saves it in `out`;
/// `progress` gets the number of vocabulary tokens checked so far (of `vocab_size`).
pub fn build_codebook(
    path: &Path,
    name: &str,
    cfg: &CodebookConfig,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Codebook, CodebookBuildError> {
    let gguf = GgufFile::open(path)?;
    // Check the embedding table before llama.cpp reads the file.
    gguf.matrix_info(&cfg.embedding_tensor)?;
    let llm = Llm::load_vocab_only(path)?;
    let source = SourceModel {
        name: name.to_string(),
        sha256: sha256_file(path)?,
        vocab_size: gguf.vocab_tokens()?.len(),
    };
    let total = source.vocab_size;
    let cb = Codebook::build(&gguf, &llm, source, cfg, &mut |n| progress(n, total))?;
    cb.save(out)?;
    Ok(cb)
}

/// Builds a missing codebook folder that is named after an installed LLM asset (the default
/// `assets/codebooks/smollm2` that configurations and released models name), once, with the
/// default configuration; the model's codebook fingerprint check then confirms it is the same
/// codebook. Other missing folders are left for the loader to report. Returns whether it built.
pub fn ensure_codebook(
    dir: &Path,
    assets: &Assets,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<bool, CodebookBuildError> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if dir.exists() || !Assets::llm_names().any(|n| n == name) {
        return Ok(false);
    }
    let gguf = assets.path(name)?;
    tracing::info!(codebook = %dir.display(), "building the {name} codebook (once)");
    // Built aside and renamed into place, so that a concurrent process never sees a half-written
    // folder; if another process got there first, its (identical) codebook is kept.
    let part = dir.with_extension(format!("part-{}", std::process::id()));
    build_codebook(&gguf, name, &CodebookConfig::default(), &part, progress)?;
    if let Err(source) = std::fs::rename(&part, dir) {
        let _ = std::fs::remove_dir_all(&part);
        if !dir.join("codebook.vocab.json").exists() {
            return Err(CodebookBuildError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    Ok(true)
}

/// Loads a checkpoint, run or released model as a tokenizer, building the codebook it names
/// first when [`ensure_codebook`] can.
pub fn load_tokenizer(
    checkpoint: &Path,
    assets: &Assets,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ImageTokenizer, CodebookBuildError> {
    let dir = latest(checkpoint)?.unwrap_or_else(|| checkpoint.to_path_buf());
    ensure_codebook(
        Path::new(&load_state(&dir)?.config.codebook),
        assets,
        progress,
    )?;
    Ok(ImageTokenizer::load(checkpoint, device)?)
}
