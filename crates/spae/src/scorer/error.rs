//! What can go wrong loading or running a scorer (a leaf: the semantic code names it without
//! importing the scorers).

use std::path::PathBuf;

use thiserror::Error;

use crate::weights::WeightsError;

#[derive(Debug, Error)]
pub enum ScorerError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("{0}")]
    Input(String),
}
