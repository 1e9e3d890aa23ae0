//! The frozen LLM: embedded through llama.cpp (`llama-cpp-2`, any GGUF model) or served by an
//! OpenAI-compatible HTTP server ([`http`]), behind one [`backend::Backend`] trait.
//!
//! Every file is validated by spae's own GGUF reader before llama.cpp sees it, so a truncated or
//! malformed file is a clear error rather than a crash inside C++.

pub mod backend;
pub mod codebooks;
pub mod http;
pub mod reply;
pub mod session;
pub mod spec;
pub mod spelling;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use spae::codebook::{sha256_file, Codebook, VocabTokenizer};
use spae::gguf::{GgufError, GgufFile};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LlmError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("{path}: llama.cpp could not load the model: {message}")]
    Load { path: PathBuf, message: String },
    #[error("llama.cpp backend: {0}")]
    Backend(String),
    #[error("llama.cpp context: {0}")]
    Context(String),
    #[error("{tokens} tokens do not fit the context of {n_ctx}")]
    TooLong { tokens: usize, n_ctx: usize },
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("constrained choices: {0}")]
    Choices(String),
    #[error("prompt template: {0}")]
    Template(String),
    #[error(transparent)]
    Vocabulary(Box<VocabularyMismatch>),
}

/// An LLM and a codebook built from another model's vocabulary.
#[derive(Debug, Error)]
#[error("vocabulary mismatch: {llm} (sha256 {llm_sha256}) does not share the vocabulary of the codebook's source model {source_name} (sha256 {source_sha256}): token {id} is {here:?} in the LLM, {there:?} in the codebook")]
pub struct VocabularyMismatch {
    pub llm: String,
    pub llm_sha256: String,
    pub source_name: String,
    pub source_sha256: String,
    pub id: u32,
    pub here: String,
    pub there: String,
}

/// llama.cpp's process-wide backend, initialised once (it may be initialised only once).
fn llama_backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every tensor it loads; route its logs through `tracing`, off.
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(false),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::Backend(e.clone()))
}

/// A loaded GGUF model.
pub struct Llm {
    model: LlamaModel,
    path: PathBuf,
}

impl Llm {
    /// Loads a model with its weights.
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        Self::load_with(path, LlamaModelParams::default())
    }

    /// Loads only the vocabulary and tokenizer (fast; enough to build a codebook).
    pub fn load_vocab_only(path: &Path) -> Result<Self, LlmError> {
        Self::load_with(path, LlamaModelParams::default().with_vocab_only(true))
    }

    fn load_with(path: &Path, params: LlamaModelParams) -> Result<Self, LlmError> {
        // Validate the container first: llama.cpp aborts on some malformed files.
        GgufFile::open(path)?;
        let model = LlamaModel::load_from_file(llama_backend()?, path, &params).map_err(|e| {
            LlmError::Load {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        Ok(Llm {
            model,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn model(&self) -> &LlamaModel {
        &self.model
    }

    /// Text of token ids, concatenated.
    pub fn detokenize(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.piece(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Refuses a codebook whose words are other tokens in this model (a codebook built from
    /// another model's vocabulary), naming both models' hashes.
    pub fn check_codebook(&self, cb: &Codebook) -> Result<(), LlmError> {
        let n = self.n_vocab();
        for w in &cb.words {
            let here = if (w.id as usize) < n {
                String::from_utf8_lossy(&self.piece(w.id)).into_owned()
            } else {
                format!("<no token: vocabulary of {n}>")
            };
            if here != w.text {
                return Err(LlmError::Vocabulary(Box::new(VocabularyMismatch {
                    llm: self.path.display().to_string(),
                    llm_sha256: sha256_file(&self.path).unwrap_or_else(|e| e.to_string()),
                    source_name: cb.source.name.clone(),
                    source_sha256: cb.source.sha256.clone(),
                    id: w.id,
                    here,
                    there: w.text.clone(),
                })));
            }
        }
        Ok(())
    }
}

impl VocabTokenizer for Llm {
    fn n_vocab(&self) -> usize {
        self.model.vocab().n_tokens().max(0) as usize
    }

    fn piece(&self, id: u32) -> Vec<u8> {
        self.model
            .vocab()
            .token_to_piece(LlamaToken(id as i32), false, None)
    }

    fn tokenize(&self, text: &str) -> Vec<u32> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .into_iter()
            .map(|t| t.0 as u32)
            .collect()
    }
}
