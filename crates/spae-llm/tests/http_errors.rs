//! The OpenAI-compatible client against servers that misbehave on purpose (a loopback socket
//! that answers with scripted replies): retries with backoff after 5xx, an immediate clear error
//! for 4xx, malformed JSON, a hanging server (timeout), a dead port, and a server that ignores
//! `logit_bias`. The requests it sends are checked too (token-id prompts, greedy, logit_bias,
//! bearer key). The real server is in tests/http_server.rs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spae::codebook::VocabTokenizer;
use spae_llm::backend::Backend;
use spae_llm::backend::Choices;
use spae_llm::http::{HttpBackend, HttpConfig};
use spae_llm::spelling::Spellings;
use spae_llm::{Llm, LlmError};

use common::smollm2;

/// A scripted reply: status and body, or `None` to hang without answering.
type Reply = Option<(u16, String)>;

/// The requests a scripted server received: header block and body.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `replies` in order, one per connection, on a loopback port; returns the base URL and
/// the requests received (header block and body).
fn scripted(replies: Vec<Reply>) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            log.lock()
                .unwrap()
                .push((head, String::from_utf8(body).unwrap()));
            let mut stream = reader.into_inner();
            match reply {
                Some((status, body)) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                None => std::thread::sleep(Duration::from_secs(3)),
            }
        }
    });
    (url, seen)
}

fn completion(text: &str) -> Reply {
    Some((
        200,
        serde_json::json!({
            "choices": [{"text": text, "index": 0}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1,
                      "prompt_tokens_details": {"cached_tokens": 4}}
        })
        .to_string(),
    ))
}

fn config(url: &str) -> HttpConfig {
    HttpConfig {
        timeout_s: 1.0,
        retries: 1,
        backoff_s: 0.05,
        api_key_env: "SPAE_TEST_HTTP_KEY".into(),
        n_ctx: 64,
        ..HttpConfig::new(url)
    }
}

fn err(r: Result<impl std::fmt::Debug, LlmError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn retries_errors_timeouts_and_the_requests_sent() {
    // This test binary's only test: no other thread reads the environment.
    std::env::set_var("SPAE_TEST_HTTP_KEY", "sk-test");
    let llm = Llm::load_vocab_only(&smollm2()).unwrap();
    let prompt = llm.tokenize("This is a");
    let cat = llm.tokenize(" cat");
    let dog = llm.tokenize(" dog");
    let choices = Choices::new(vec![cat.clone(), dog.clone()]).unwrap();

    // 503, then a good reply: retried; the open answer is re-tokenized and cut by `stop`.
    let (url, seen) = scripted(vec![
        Some((503, "{\"error\":\"busy\"}".into())),
        completion(" cat. And"),
    ]);
    let mut b = HttpBackend::new(config(&url), &llm);
    let stop = |ids: &[u32]| llm.detokenize(ids).contains('.');
    let g = b.generate(&prompt, 4, None, &stop).unwrap();
    assert_eq!(llm.detokenize(&g.ids), " cat.");
    assert_eq!(b.stats().prompt_tokens, 3);
    assert_eq!(b.stats().reused_tokens, 4);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one retry");
    let (head, body) = &requests[1];
    assert!(head.contains("POST /v1/completions"), "{head}");
    assert!(
        head.contains("authorization: Bearer sk-test")
            || head.contains("Authorization: Bearer sk-test"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["prompt"], serde_json::json!(prompt), "token ids");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 4);

    // Constrained: one request with logit_bias on the allowed first tokens.
    let (url, seen) = scripted(vec![completion(&llm.detokenize(&dog[..1]))]);
    let mut b = HttpBackend::new(config(&url), &llm);
    let g = b.generate(&prompt, 4, Some(&choices), &|_| false).unwrap();
    assert_eq!(g.ids, dog);
    let body: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0].1).unwrap();
    let mut biased: Vec<u32> = body["logit_bias"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    biased.sort_unstable();
    let mut firsts = vec![cat[0], dog[0]];
    firsts.sort_unstable();
    assert_eq!(biased, firsts);
    assert_eq!(body["max_tokens"], 1);

    // The chat endpoint: the prompt as one user message of text.
    let chat =
        serde_json::json!({"choices": [{"message": {"role": "assistant", "content": " dog."}}]});
    let (url, seen) = scripted(vec![Some((200, chat.to_string()))]);
    let cfg = HttpConfig {
        endpoint: spae_llm::http::Endpoint::Chat,
        ..config(&url)
    };
    let g = HttpBackend::new(cfg, &llm)
        .generate(&prompt, 4, None, &|_| false)
        .unwrap();
    assert_eq!(llm.detokenize(&g.ids), " dog.");
    let (head, body) = seen.lock().unwrap()[0].clone();
    assert!(head.contains("POST /v1/chat/completions"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["messages"][0]["content"], "This is a");

    // A server that ignores logit_bias.
    let (url, _) = scripted(vec![completion(" banana")]);
    let mut b = HttpBackend::new(config(&url), &llm);
    let e = err(b.generate(&prompt, 4, Some(&choices), &|_| false));
    assert!(e.contains("ignores logit_bias"), "{e}");

    // Writing exactly n allowed tokens (progressive decoding): checked after re-tokenizing.
    let words = Spellings::own(&[cat[0], dog[0]]).unwrap();
    let text = llm.detokenize(&[dog[0], cat[0]]);
    let (url, _) = scripted(vec![completion(&text), completion(" banana split")]);
    let mut b = HttpBackend::new(config(&url), &llm);
    assert_eq!(b.write(&prompt, 2, &words).unwrap(), vec![dog[0], cat[0]]);
    let e = err(b.write(&prompt, 2, &words));
    assert!(e.contains("asked for 2 tokens among 2 allowed"), "{e}");
    // Words of several tokens (another LLM's spellings) need a choice per token: refused.
    let long = Spellings::new(vec![(1, cat.clone()), (2, vec![dog[0], cat[0]])]).unwrap();
    let e = err(b.write(&prompt, 2, &long));
    assert!(e.contains("writes one-token words only"), "{e}");

    // 400: not retried, the server's message shown.
    let (url, seen) = scripted(vec![
        Some((400, "{\"error\":\"unknown model\"}".into())),
        completion(" cat"),
    ]);
    let mut b = HttpBackend::new(config(&url), &llm);
    let e = err(b.generate(&prompt, 4, None, &|_| false));
    assert!(e.contains("HTTP 400") && e.contains("unknown model"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 1, "4xx is not retried");

    // Malformed JSON and a reply without choices.
    let (url, _) = scripted(vec![Some((200, "{\"choices\": [".into()))]);
    let e = err(HttpBackend::new(config(&url), &llm).generate(&prompt, 4, None, &|_| false));
    assert!(e.contains("malformed JSON"), "{e}");
    let (url, _) = scripted(vec![Some((200, "{\"id\": 1}".into()))]);
    let e = err(HttpBackend::new(config(&url), &llm).generate(&prompt, 4, None, &|_| false));
    assert!(e.contains("without choices[0] text"), "{e}");

    // A server that hangs: each attempt times out after 1 s, then it gives up.
    let (url, _) = scripted(vec![None, None]);
    let t = Instant::now();
    let e = err(HttpBackend::new(config(&url), &llm).generate(&prompt, 4, None, &|_| false));
    assert!(e.contains("gave up after 2 attempts"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // A dead port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let e = err(HttpBackend::new(config(&url), &llm).generate(&prompt, 4, None, &|_| false));
    assert!(
        e.contains(&url) && e.contains("gave up after 2 attempts"),
        "{e}"
    );

    // Too long for the configured context: refused before any request.
    let long = vec![prompt[0]; 70];
    let e = err(HttpBackend::new(config(&url), &llm).generate(&long, 4, None, &|_| false));
    assert!(e.contains("do not fit the context of 64"), "{e}");
}
