//! An OpenAI-compatible server as the frozen LLM (vLLM, a llama.cpp server, llama-cpp-python, a
//! hosted API): `/completions` with the prompt as token ids or as text, or `/chat/completions`
//! with the prompt as one user message. Greedy (temperature 0); constrained decoding asks for one
//! token at a time with `logit_bias` on the tokens allowed at that step; the API key comes from
//! the environment; requests time out and are retried with exponential backoff.
//!
//! The codebook's source vocabulary (a local GGUF, vocabulary only) turns answers back into ids
//! and, for text prompts, ids into text: the codebook's round-trip guarantee makes the server's
//! re-tokenization of SPAE words exact.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spae::codebook::VocabTokenizer;

use crate::backend::{fits, Backend, Choices, Generation, SessionStats};
pub use crate::reply::Endpoint;
use crate::reply::{read_reply, snippet, Outcome, Reply};
use crate::spelling::Spellings;
use crate::{Llm, LlmError};

/// How prompts travel on the completions endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptForm {
    /// Token ids (llama.cpp server, vLLM, OpenAI's legacy completions).
    Ids,
    /// Text, re-tokenized by the server.
    Text,
}

/// Where the server is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpConfig {
    /// Base URL including the API version, e.g. `http://127.0.0.1:8000/v1`.
    pub url: String,
    /// The `model` field of every request.
    pub model: String,
    pub endpoint: Endpoint,
    pub prompt: PromptForm,
    /// Environment variable holding the API key (sent as a bearer token when set).
    pub api_key_env: String,
    /// Limit on one request, connection included, in seconds.
    pub timeout_s: f64,
    /// Retries after a failed connection, a timeout, 429 or 5xx (4xx other than 429 fail at once).
    pub retries: u32,
    /// First retry delay in seconds; it doubles with every retry.
    pub backoff_s: f64,
    /// The server's context length in tokens (prompt and answer).
    pub n_ctx: usize,
}

impl std::str::FromStr for PromptForm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ids" => Ok(PromptForm::Ids),
            "text" => Ok(PromptForm::Text),
            _ => Err(format!("unknown prompt form '{s}': ids or text")),
        }
    }
}

impl HttpConfig {
    /// Defaults for the server at `url`.
    pub fn new(url: &str) -> Self {
        HttpConfig {
            url: url.trim_end_matches('/').to_string(),
            model: "default".into(),
            endpoint: Endpoint::Completions,
            prompt: PromptForm::Ids,
            api_key_env: "OPENAI_API_KEY".into(),
            timeout_s: 120.0,
            retries: 3,
            backoff_s: 0.5,
            n_ctx: 2048,
        }
    }
}

pub struct HttpBackend<'v> {
    config: HttpConfig,
    vocab: &'v Llm,
    agent: ureq::Agent,
    api_key: Option<String>,
    stats: SessionStats,
}

impl<'v> HttpBackend<'v> {
    /// A client; nothing is sent until the first prompt.
    pub fn new(config: HttpConfig, vocab: &'v Llm) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(config.timeout_s)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let api_key = std::env::var(&config.api_key_env)
            .ok()
            .filter(|k| !k.is_empty());
        HttpBackend {
            config,
            vocab,
            agent,
            api_key,
            stats: SessionStats::default(),
        }
    }

    /// POSTs `body` to `{url}/{path}`, retrying transient failures, and reads the reply.
    fn post(&self, path: &str, body: &Value) -> Result<Reply, LlmError> {
        let url = format!("{}/{path}", self.config.url);
        let fail = |message: String| LlmError::Http {
            url: url.clone(),
            message,
        };
        let mut attempt = 0;
        loop {
            let mut req = self.agent.post(&url);
            if let Some(key) = &self.api_key {
                req = req.header("Authorization", &format!("Bearer {key}"));
            }
            let transient = match req.send_json(body) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let text = resp
                        .body_mut()
                        .read_to_string()
                        .map_err(|e| fail(format!("reading the reply: {e}")))?;
                    match read_reply(status, &text, self.config.endpoint) {
                        Outcome::Answer(reply) => return Ok(reply),
                        Outcome::Fail(message) => return Err(fail(message)),
                        Outcome::Retry(message) => message,
                    }
                }
                Err(e) => e.to_string(),
            };
            if attempt >= self.config.retries {
                return Err(fail(format!(
                    "{transient} (gave up after {} attempts)",
                    attempt + 1
                )));
            }
            let delay = self.config.backoff_s * 2f64.powi(attempt as i32);
            tracing::warn!("{url}: {transient}; retrying in {delay:.1} s");
            std::thread::sleep(Duration::from_secs_f64(delay));
            attempt += 1;
        }
    }

    /// One greedy request: at most `max_tokens`, with `bias` on some token ids.
    fn complete(
        &mut self,
        prompt: &[u32],
        max_tokens: usize,
        bias: &[u32],
    ) -> Result<Reply, LlmError> {
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": max_tokens,
            "temperature": 0.0,
        });
        if !bias.is_empty() {
            let b: serde_json::Map<String, Value> =
                bias.iter().map(|id| (id.to_string(), json!(100))).collect();
            body["logit_bias"] = Value::Object(b);
        }
        let path = match self.config.endpoint {
            Endpoint::Completions => {
                body["prompt"] = match self.config.prompt {
                    PromptForm::Ids => json!(prompt),
                    PromptForm::Text => json!(self.vocab.detokenize(prompt)),
                };
                "completions"
            }
            Endpoint::Chat => {
                body["messages"] =
                    json!([{"role": "user", "content": self.vocab.detokenize(prompt)}]);
                "chat/completions"
            }
        };
        let t = Instant::now();
        let reply = self.post(path, &body)?;
        self.stats.prompt_seconds += t.elapsed().as_secs_f64();
        Ok(reply)
    }

    fn count(&mut self, reply: &Reply, generated: usize) {
        self.stats.prompt_tokens += reply.prompt_tokens - reply.cached_tokens;
        self.stats.reused_tokens += reply.cached_tokens;
        self.stats.generated_tokens += generated;
    }

    /// The allowed token whose text the server returned under `logit_bias`.
    fn chosen(&self, text: &str, allowed: &[u32]) -> Result<u32, LlmError> {
        allowed
            .iter()
            .copied()
            .find(|&id| self.vocab.detokenize(&[id]) == text)
            .ok_or_else(|| LlmError::Http {
                url: self.config.url.clone(),
                message: format!(
                    "the server answered {text:?}, none of the {} tokens allowed by logit_bias: it ignores logit_bias, or serves another vocabulary",
                    allowed.len()
                ),
            })
    }
}

impl Backend for HttpBackend<'_> {
    fn n_ctx(&self) -> usize {
        self.config.n_ctx
    }

    /// Requests are stateless: the server's own prompt cache (llama.cpp, vLLM, llama-cpp-python,
    /// OpenAI) reuses the shared prefix, and its `cached_tokens` count is reported as reused.
    /// Request wall time is counted as prompt time (a server does not separate the two).
    fn generate(
        &mut self,
        prompt: &[u32],
        max_tokens: usize,
        choices: Option<&Choices>,
        stop: &dyn Fn(&[u32]) -> bool,
    ) -> Result<Generation, LlmError> {
        if prompt.is_empty() {
            return Err(LlmError::Context("empty prompt".into()));
        }
        fits(prompt.len() + max_tokens, self.n_ctx())?;
        let mut ids = Vec::new();
        let Some(choices) = choices else {
            let reply = self.complete(prompt, max_tokens, &[])?;
            for id in self.vocab.tokenize(&reply.text) {
                ids.push(id);
                if stop(&ids) {
                    break;
                }
            }
            self.count(&reply, ids.len());
            return Ok(Generation { ids, logprob: None });
        };
        while ids.len() < max_tokens && choices.complete(&ids).is_none() {
            let allowed = choices.allowed(&ids);
            let next = match allowed[..] {
                [] => break,
                // One way on: no need to ask.
                [only] => only,
                _ => {
                    if !ids.is_empty() && self.config.endpoint == Endpoint::Chat {
                        return Err(LlmError::Http {
                            url: self.config.url.clone(),
                            message: "constrained answers that differ after their first token need the completions endpoint".into(),
                        });
                    }
                    let full: Vec<u32> = prompt.iter().chain(&ids).copied().collect();
                    let reply = self.complete(&full, 1, &allowed)?;
                    self.count(&reply, 1);
                    self.chosen(&reply.text, &allowed)?
                }
            };
            ids.push(next);
        }
        Ok(Generation { ids, logprob: None })
    }

    /// One request of `n` tokens with `logit_bias` on every word's token; the answer must
    /// re-tokenize to exactly `n` word tokens. Words of several tokens (an LLM of another
    /// vocabulary) need a choice per token, which one request cannot make: a clear error.
    fn write(&mut self, prompt: &[u32], n: usize, words: &Spellings) -> Result<Vec<u32>, LlmError> {
        fits(prompt.len() + n, self.n_ctx())?;
        let Some(tokens) = words.single_tokens() else {
            return Err(LlmError::Choices(format!(
                "some of the {} words are several tokens of this vocabulary: the server backend writes one-token words only (write with the embedded LLM)",
                words.ids().len()
            )));
        };
        let mut allowed = tokens.clone();
        allowed.sort_unstable();
        let reply = self.complete(prompt, n, &allowed)?;
        let ids = self.vocab.tokenize(&reply.text);
        self.count(&reply, ids.len());
        let written: Option<Vec<u32>> = ids
            .iter()
            .map(|id| tokens.iter().position(|t| t == id).map(|i| words.ids()[i]))
            .collect();
        match written {
            Some(w) if w.len() == n => Ok(w),
            _ => Err(LlmError::Http {
                url: self.config.url.clone(),
                message: format!(
                    "asked for {n} tokens among {} allowed, the server wrote {:?} ({} tokens): it ignores logit_bias, or serves another vocabulary",
                    allowed.len(),
                    snippet(&reply.text),
                    ids.len()
                ),
            }),
        }
    }

    fn stats(&self) -> SessionStats {
        self.stats
    }
}
