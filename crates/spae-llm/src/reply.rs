//! Reading an OpenAI-compatible server's reply: the HTTP status and body of one completion
//! request become the answer's text and token counts, a reason to retry, or an error. Pure code
//! with no llama.cpp, so that the fuzzer (fuzz/fuzz_targets/openai_reply.rs) takes this file
//! alone.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which OpenAI endpoint serves the prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `POST {url}/completions`: raw continuation of the prompt.
    Completions,
    /// `POST {url}/chat/completions`: the prompt as one user message (constrained answers of
    /// more than one token need the completions endpoint).
    Chat,
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "completions" => Ok(Endpoint::Completions),
            "chat" => Ok(Endpoint::Chat),
            _ => Err(format!("unknown endpoint '{s}': completions or chat")),
        }
    }
}

/// One completion: its text and the server's token counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub prompt_tokens: usize,
    /// Prompt tokens the server's cache served (at most `prompt_tokens`).
    pub cached_tokens: usize,
}

/// What a reply means for the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answer(Reply),
    /// 429 or 5xx: worth another attempt.
    Retry(String),
    /// Anything else: a clear error, not retried.
    Fail(String),
}

/// Reads the reply to a request on `endpoint`: its HTTP `status` and `body`.
pub fn read_reply(status: u16, body: &str, endpoint: Endpoint) -> Outcome {
    if !(200..300).contains(&status) {
        let message = format!("HTTP {status}: {}", snippet(body));
        return match status == 429 || status >= 500 {
            true => Outcome::Retry(message),
            false => Outcome::Fail(message),
        };
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Outcome::Fail(format!("malformed JSON reply ({e}): {}", snippet(body))),
    };
    let choice = &v["choices"][0];
    let text = match endpoint {
        Endpoint::Completions => choice["text"].as_str(),
        Endpoint::Chat => choice["message"]["content"].as_str(),
    };
    let Some(text) = text else {
        return Outcome::Fail(format!(
            "reply without choices[0] text: {}",
            snippet(&v.to_string())
        ));
    };
    let count = |v: &Value| usize::try_from(v.as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
    let prompt_tokens = count(&v["usage"]["prompt_tokens"]);
    Outcome::Answer(Reply {
        text: text.to_string(),
        prompt_tokens,
        cached_tokens: count(&v["usage"]["prompt_tokens_details"]["cached_tokens"])
            .min(prompt_tokens),
    })
}

/// The fuzz entry point (fuzz/fuzz_targets/openai_reply.rs, and the stable test over
/// fuzz/seeds/openai_reply/ and fuzz/regressions/openai_reply/): the first two bytes are the
/// HTTP status (little-endian, modulo 600), the rest the body. Any reply gives an answer only
/// for a 2xx status, with at most `prompt_tokens` cached, or a message of bounded length.
pub fn check_reply(data: &[u8]) {
    let [a, b, body @ ..] = data else {
        return;
    };
    let status = u16::from_le_bytes([*a, *b]) % 600;
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    for endpoint in [Endpoint::Completions, Endpoint::Chat] {
        match read_reply(status, body, endpoint) {
            Outcome::Answer(r) => {
                assert!((200..300).contains(&status), "an answer with HTTP {status}");
                assert!(r.cached_tokens <= r.prompt_tokens);
            }
            Outcome::Retry(m) | Outcome::Fail(m) => {
                assert!(
                    m.chars().count() < 800,
                    "a message of {} characters",
                    m.len()
                )
            }
        }
    }
}

/// The start of a long text (300 characters), for error messages.
pub fn snippet(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        format!("{t}...")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_by_status_and_endpoint() {
        let body = r#"{"choices":[{"text":" sandal","message":{"content":"bag"}}],
            "usage":{"prompt_tokens":12,"prompt_tokens_details":{"cached_tokens":40}}}"#;
        let want = |text: &str| {
            Outcome::Answer(Reply {
                text: text.into(),
                prompt_tokens: 12,
                cached_tokens: 12,
            })
        };
        assert_eq!(
            read_reply(200, body, Endpoint::Completions),
            want(" sandal")
        );
        assert_eq!(read_reply(200, body, Endpoint::Chat), want("bag"));
        assert!(
            matches!(read_reply(503, "busy", Endpoint::Chat), Outcome::Retry(m) if m == "HTTP 503: busy")
        );
        assert!(matches!(
            read_reply(429, "", Endpoint::Chat),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            read_reply(404, "no", Endpoint::Chat),
            Outcome::Fail(_)
        ));
        let Outcome::Fail(m) = read_reply(200, "{", Endpoint::Chat) else {
            panic!()
        };
        assert!(m.starts_with("malformed JSON reply"), "{m}");
        let Outcome::Fail(m) = read_reply(200, r#"{"choices":[]}"#, Endpoint::Completions) else {
            panic!()
        };
        assert!(m.starts_with("reply without choices[0] text"), "{m}");
        let long = "é".repeat(400);
        assert_eq!(snippet(&long).chars().count(), 303);
    }
}
