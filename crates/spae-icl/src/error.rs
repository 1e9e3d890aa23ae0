//! What can stop an in-context task (one error for every task, below them all).

use spae_llm::LlmError;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("the plan has {steps} layer steps for a pyramid of {layers} layers")]
    Layers { steps: usize, layers: usize },
    #[error("layer {0}: a stride must be at least 1")]
    Stride(usize),
}

/// What can stop an in-context task.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Tokenizer(#[from] spae::tokenizer::TokenizerError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Pyramid(#[from] spae::pyramid::PyramidError),
    #[error(transparent)]
    Fid(#[from] spae::eval::fid::FidError),
    #[error(transparent)]
    Journal(#[from] spae::journal::JournalError),
    #[error("{0}")]
    Data(String),
    #[error("{setting} at this depth needs {tokens} tokens but the context holds {n_ctx}: at most {fit} support examples of {per_example} tokens fit (raise --n-ctx or use fewer layers)")]
    DoesNotFit {
        setting: String,
        tokens: usize,
        n_ctx: usize,
        fit: usize,
        per_example: usize,
    },
}
