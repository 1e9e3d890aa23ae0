//! A llama.cpp context that keeps its KV cache between prompts: a prompt that starts like the
//! previous one only evaluates the part that differs (prefix reuse), and generation can be
//! constrained to a set of token sequences (e.g. the class names of a few-shot episode).

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::backend::{fits, Backend};
pub use crate::backend::{Choices, Generation, SessionStats};
use crate::spelling::{Spellings, Step};
use crate::{llama_backend, Llm, LlmError};

/// How a session runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// Context length in tokens.
    pub n_ctx: u32,
    /// CPU threads for prompt processing and generation (0: all cores).
    pub threads: usize,
    /// Tokens evaluated per llama.cpp batch.
    pub batch: u32,
    /// Keep the KV cache of the longest common prefix between consecutive prompts.
    pub reuse_prefix: bool,
    /// Prompt tokens are evaluated in chunks of this many that start at multiples of it
    /// (positions from 0), and a reused prefix is cut back to such a multiple, so every prompt
    /// token is computed in the same llama.cpp batch whether or not a prefix was reused: the
    /// answers do not depend on the speed switch (near-tied greedy choices would otherwise flip
    /// with the batching). 0: no alignment, batches of `batch` from wherever the reused prefix
    /// ends (fastest; answers may differ with and without reuse).
    pub align: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            n_ctx: 2048,
            threads: 0,
            batch: 512,
            reuse_prefix: true,
            align: DEFAULT_ALIGN,
        }
    }
}

/// [`SessionConfig::align`]'s default: small enough that little of a reused prefix is evaluated
/// again, large enough for efficient batches.
pub const DEFAULT_ALIGN: u32 = 32;

/// Natural-log softmax of one logit row, at one index.
pub fn log_softmax_at(logits: &[f32], index: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    f64::from(logits[index] - max) - sum.ln()
}

/// The highest-scoring token, among `allowed` when given (ties: the lowest id).
pub fn argmax(logits: &[f32], allowed: Option<&[u32]>) -> u32 {
    let better = |best: Option<u32>, k: u32| match best {
        Some(b) if (logits[b as usize], k) > (logits[k as usize], b) => Some(b),
        _ => Some(k),
    };
    let best = match allowed {
        Some(ids) => ids.iter().copied().fold(None, better),
        None => (0..logits.len() as u32).fold(None, better),
    };
    best.unwrap_or(0)
}

/// How much of a reusable prefix of `keep` tokens is kept: all of it without alignment, else
/// cut back to a multiple of `align` (the start of the chunk it ends in).
pub fn aligned_keep(keep: usize, align: u32) -> usize {
    match align as usize {
        0 => keep,
        a => keep - keep % a,
    }
}

/// The CPU threads a session runs on: `threads`, or every core for 0.
pub fn threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
}

pub struct Session<'m> {
    llm: &'m Llm,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    /// Tokens whose keys and values are in the cache (sequence 0), in order.
    cached: Vec<u32>,
    logits: Vec<f32>,
    config: SessionConfig,
    pub stats: SessionStats,
}

impl<'m> Session<'m> {
    pub fn new(llm: &'m Llm, config: SessionConfig) -> Result<Self, LlmError> {
        if config.align > config.batch {
            return Err(LlmError::Context(format!(
                "align ({}) must not exceed the batch ({})",
                config.align, config.batch
            )));
        }
        let threads = threads(config.threads) as i32;
        let n_ctx = NonZeroU32::new(config.n_ctx)
            .ok_or_else(|| LlmError::Context("n_ctx must be positive".into()))?;
        let params = LlamaContextParams::default()
            .with_n_ctx(Some(n_ctx))
            .with_n_batch(config.batch)
            .with_n_ubatch(config.batch)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let ctx = llm
            .model()
            .new_context(llama_backend()?, params)
            .map_err(|e| LlmError::Context(e.to_string()))?;
        Ok(Session {
            llm,
            ctx,
            batch: LlamaBatch::new(config.batch as usize, 1),
            cached: Vec::new(),
            logits: Vec::new(),
            config,
            stats: SessionStats::default(),
        })
    }

    /// Brings the cache to exactly `ids` and returns the next-token logits after them. With
    /// prefix reuse only the tokens after the common prefix with the cache are evaluated.
    pub fn prefill(&mut self, ids: &[u32]) -> Result<&[f32], LlmError> {
        if ids.is_empty() {
            return Err(LlmError::Context("empty prompt".into()));
        }
        if ids.len() > self.n_ctx() {
            return Err(LlmError::TooLong {
                tokens: ids.len(),
                n_ctx: self.n_ctx(),
            });
        }
        let t = Instant::now();
        let mut keep = if self.config.reuse_prefix {
            self.cached
                .iter()
                .zip(ids)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            0
        };
        // The last prompt token is always evaluated: its logits are the answer.
        keep = aligned_keep(keep.min(ids.len() - 1), self.config.align);
        self.truncate(keep)?;
        self.feed(&ids[keep..])?;
        self.stats.reused_tokens += keep;
        self.stats.prompt_tokens += ids.len() - keep;
        self.stats.prompt_seconds += t.elapsed().as_secs_f64();
        Ok(&self.logits)
    }

    fn truncate(&mut self, keep: usize) -> Result<(), LlmError> {
        if keep < self.cached.len() {
            self.ctx
                .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
                .map_err(|e| LlmError::Context(e.to_string()))?;
            self.cached.truncate(keep);
        }
        Ok(())
    }

    /// Evaluates `ids` after the cached tokens, in batches (aligned ones: chunks that start at
    /// multiples of `align`); keeps the last token's logits.
    fn feed(&mut self, ids: &[u32]) -> Result<(), LlmError> {
        let align = self.config.align as usize;
        let mut rest = ids;
        while !rest.is_empty() {
            let room = match align {
                0 => self.config.batch as usize,
                a => a - self.cached.len() % a,
            };
            let (chunk, tail) = rest.split_at(room.min(rest.len()));
            rest = tail;
            self.batch.clear();
            for (i, &id) in chunk.iter().enumerate() {
                let pos = (self.cached.len() + i) as i32;
                self.batch
                    .add(LlamaToken(id as i32), pos, &[0], i + 1 == chunk.len())
                    .map_err(|e| LlmError::Context(e.to_string()))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| LlmError::Context(format!("decode: {e}")))?;
            self.cached.extend_from_slice(chunk);
        }
        self.logits.clear();
        self.logits.extend_from_slice(self.ctx.get_logits());
        Ok(())
    }
}

impl Backend for Session<'_> {
    fn n_ctx(&self) -> usize {
        self.config.n_ctx as usize
    }

    fn generate(
        &mut self,
        prompt: &[u32],
        max_tokens: usize,
        choices: Option<&Choices>,
        stop: &dyn Fn(&[u32]) -> bool,
    ) -> Result<Generation, LlmError> {
        fits(prompt.len() + max_tokens, self.n_ctx())?;
        self.prefill(prompt)?;
        let t = Instant::now();
        let mut out = Generation {
            ids: Vec::new(),
            logprob: Some(0.0),
        };
        while out.ids.len() < max_tokens {
            let allowed = choices.map(|c| c.allowed(&out.ids));
            if allowed.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
            let next = argmax(&self.logits, allowed.as_deref());
            if let Some(lp) = &mut out.logprob {
                *lp += log_softmax_at(&self.logits, next as usize);
            }
            out.ids.push(next);
            let done = match choices {
                Some(c) => c.complete(&out.ids).is_some(),
                None => self.llm.model().vocab().is_eog(LlamaToken(next as i32)) || stop(&out.ids),
            };
            if done {
                break;
            }
            self.feed(&[next])?;
        }
        self.stats.generated_tokens += out.ids.len();
        self.stats.generation_seconds += t.elapsed().as_secs_f64();
        Ok(out)
    }

    fn write(&mut self, prompt: &[u32], n: usize, words: &Spellings) -> Result<Vec<u32>, LlmError> {
        fits(prompt.len() + n * words.max_len(), self.n_ctx())?;
        if n == 0 {
            return Ok(Vec::new());
        }
        self.prefill(prompt)?;
        let t = Instant::now();
        let mut writer = words.writer(n);
        let mut tokens = 0;
        loop {
            let next = argmax(&self.logits, Some(&writer.allowed()));
            tokens += 1;
            if writer.push(next)? == Step::Done {
                break;
            }
            self.feed(&[next])?;
        }
        self.stats.generated_tokens += tokens;
        self.stats.generation_seconds += t.elapsed().as_secs_f64();
        Ok(writer.words())
    }

    fn stats(&self) -> SessionStats {
        self.stats
    }

    fn forget(&mut self) -> Result<(), LlmError> {
        self.truncate(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_prefix_is_cut_back_to_its_chunk_start() {
        assert_eq!(aligned_keep(70, 32), 64);
        assert_eq!(aligned_keep(64, 32), 64);
        assert_eq!(aligned_keep(31, 32), 0);
        assert_eq!(aligned_keep(70, 0), 70);
    }

    #[test]
    fn choices_allow_only_continuations() {
        let c = Choices::new(vec![vec![5, 6, 7], vec![5, 8], vec![9]]).unwrap();
        assert_eq!(c.allowed(&[]), vec![5, 9]);
        assert_eq!(c.allowed(&[5]), vec![6, 8]);
        assert_eq!(c.allowed(&[5, 6]), vec![7]);
        assert_eq!(c.allowed(&[5, 8]), Vec::<u32>::new());
        assert_eq!(c.complete(&[5, 8]), Some(1));
        assert_eq!(c.complete(&[5]), None);
        assert!(Choices::new(vec![vec![1], vec![1, 2]]).is_err());
        assert!(Choices::new(vec![vec![]]).is_err());
    }

    #[test]
    fn log_softmax_and_argmax_by_hand() {
        // log softmax of [0, ln 3] at 1: ln(3 / 4).
        let l = [0.0, 3f32.ln()];
        assert!((log_softmax_at(&l, 1) - (0.75f64).ln()).abs() < 1e-6);
        let logits = [0.5, 2.0, 1.0, 2.0];
        assert_eq!(argmax(&logits, None), 1);
        assert_eq!(argmax(&logits, Some(&[0, 2])), 2);
        assert_eq!(argmax(&logits, Some(&[3, 1])), 1);
    }
}
