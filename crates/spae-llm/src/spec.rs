//! Which backend answers, as a value: the embedded llama.cpp session or an OpenAI-compatible
//! server, opened into one [`Backend`] for any in-context task.

use crate::backend::Backend;
use crate::http::{HttpBackend, HttpConfig};
use crate::session::{Session, SessionConfig};
use crate::{Llm, LlmError};

/// How the frozen LLM runs.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSpec {
    /// llama.cpp in this process, on the loaded model.
    Embedded(SessionConfig),
    /// An OpenAI-compatible server; the loaded model only lends its vocabulary.
    Http(HttpConfig),
}

impl BackendSpec {
    /// Opens the backend on `llm` (for [`BackendSpec::Http`], `llm` may be loaded vocabulary-only).
    pub fn open<'a>(&self, llm: &'a Llm) -> Result<Box<dyn Backend + 'a>, LlmError> {
        Ok(match self {
            BackendSpec::Embedded(config) => Box::new(Session::new(llm, config.clone())?),
            BackendSpec::Http(config) => Box::new(HttpBackend::new(config.clone(), llm)),
        })
    }
}
