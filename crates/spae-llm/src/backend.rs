//! One interface to a frozen LLM, whichever way it runs: embedded llama.cpp
//! ([`crate::session::Session`]) or an OpenAI-compatible server ([`crate::http::HttpBackend`]).
//! Prompts are token ids of the LLM's vocabulary; SPAE words reach the model as their spellings
//! ([`crate::spelling`]): with the codebook's own LLM, the exact tokens the tokenizer chose.

use crate::spelling::Spellings;
use crate::LlmError;

/// Token counts and wall time of a session's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionStats {
    /// Prompt tokens evaluated (not counting reused ones).
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache was reused.
    pub reused_tokens: usize,
    pub prompt_seconds: f64,
    pub generated_tokens: usize,
    pub generation_seconds: f64,
}

/// A generated continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub ids: Vec<u32>,
    /// Sum of the tokens' log-probabilities under the full (unconstrained) distribution, where
    /// the backend reports them.
    pub logprob: Option<f64>,
}

/// Token sequences generation may follow: at every step only a token that continues one of
/// them is allowed, and generation ends when one is complete.
#[derive(Debug, Clone)]
pub struct Choices {
    sequences: Vec<Vec<u32>>,
}

impl Choices {
    /// Refuses an empty sequence and a sequence that is a prefix of another (the choice between
    /// them would be undefined).
    pub fn new(sequences: Vec<Vec<u32>>) -> Result<Self, LlmError> {
        for (i, a) in sequences.iter().enumerate() {
            if a.is_empty() {
                return Err(LlmError::Choices(format!("choice {i} has no tokens")));
            }
            for (j, b) in sequences.iter().enumerate() {
                if i != j && b.starts_with(a) {
                    return Err(LlmError::Choices(format!(
                        "choice {i} is a prefix of choice {j}"
                    )));
                }
            }
        }
        Ok(Choices { sequences })
    }

    /// Tokens that continue some sequence after `prefix` (sorted, unique).
    pub fn allowed(&self, prefix: &[u32]) -> Vec<u32> {
        let mut next: Vec<u32> = self
            .sequences
            .iter()
            .filter(|s| s.len() > prefix.len() && s.starts_with(prefix))
            .map(|s| s[prefix.len()])
            .collect();
        next.sort_unstable();
        next.dedup();
        next
    }

    /// The index of the sequence equal to `ids`, if any.
    pub fn complete(&self, ids: &[u32]) -> Option<usize> {
        self.sequences.iter().position(|s| s == ids)
    }
}

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

    /// Drops what the backend keeps from earlier prompts (a cached prefix), so that the next
    /// answer depends on its prompt alone: a task calls it where a resumed run may start, so
    /// that resumed and uninterrupted runs evaluate every prompt the same way. Stateless
    /// backends have nothing to drop.
    fn forget(&mut self) -> Result<(), LlmError> {
        Ok(())
    }
}

impl std::ops::AddAssign for SessionStats {
    fn add_assign(&mut self, o: SessionStats) {
        self.prompt_tokens += o.prompt_tokens;
        self.reused_tokens += o.reused_tokens;
        self.prompt_seconds += o.prompt_seconds;
        self.generated_tokens += o.generated_tokens;
        self.generation_seconds += o.generation_seconds;
    }
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
