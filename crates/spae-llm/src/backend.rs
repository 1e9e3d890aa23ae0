//! One interface to a frozen LLM, whichever way it runs: embedded llama.cpp
//! ([`crate::session::Session`]) or an OpenAI-compatible server ([`crate::http::HttpBackend`]).
//! Prompts are token ids of the LLM's vocabulary; SPAE words reach the model as their spellings
//! ([`crate::spelling`]): with the codebook's own LLM, the exact tokens the tokenizer chose.

use crate::session::{Choices, Generation, SessionStats};
use crate::spelling::Spellings;
use crate::LlmError;

pub trait Backend {
    /// Context length in tokens (prompt and answer together).
    fn n_ctx(&self) -> usize;

    /// Greedy continuation of `prompt`: at most `max_tokens`, restricted at every step to the
    /// tokens that continue one of `choices` when given (it ends when a choice is complete),
    /// else ending after an end-of-generation token or where `stop` says so.
    fn generate(
        &mut self,
        prompt: &[u32],
        max_tokens: usize,
        choices: Option<&Choices>,
        stop: &dyn Fn(&[u32]) -> bool,
    ) -> Result<Generation, LlmError>;

    /// Exactly `n` greedy codebook words after `prompt` (returned as codebook word ids), each
    /// token restricted to the words' spellings, so that whatever is written decodes.
    fn write(&mut self, prompt: &[u32], n: usize, words: &Spellings) -> Result<Vec<u32>, LlmError>;

    /// Token counts and wall time so far.
    fn stats(&self) -> SessionStats;
}

impl SessionStats {
    /// The work done between `before` and `self`.
    pub fn since(&self, before: &SessionStats) -> SessionStats {
        SessionStats {
            prompt_tokens: self.prompt_tokens - before.prompt_tokens,
            reused_tokens: self.reused_tokens - before.reused_tokens,
            prompt_seconds: self.prompt_seconds - before.prompt_seconds,
            generated_tokens: self.generated_tokens - before.generated_tokens,
            generation_seconds: self.generation_seconds - before.generation_seconds,
        }
    }
}

/// A clear error when `tokens` (prompt and answer) do not fit a context of `n_ctx`.
pub(crate) fn fits(tokens: usize, n_ctx: usize) -> Result<(), LlmError> {
    if tokens > n_ctx {
        return Err(LlmError::TooLong { tokens, n_ctx });
    }
    Ok(())
}
