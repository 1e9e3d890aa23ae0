//! The HTTP backend against a real OpenAI-compatible server: llama-cpp-python's server
//! (installed by scripts/install-llama-server.sh) serving the same SmolLM2 GGUF on loopback.
//! Constrained answers (logit_bias, one token at a time) and greedy open answers agree with the
//! embedded llama.cpp session; token-id prompts, which this server does not take, are a clear
//! error with the server's message.

mod common;
// This test does not kill its server (the service's fault test does).
#[allow(dead_code)]
#[path = "common/llama_server.rs"]
mod llama_server;

use spae::codebook::VocabTokenizer;
use spae_llm::backend::Backend;
use spae_llm::backend::Choices;
use spae_llm::http::{HttpBackend, HttpConfig, PromptForm};
use spae_llm::Llm;

use common::{session, smollm2};
use llama_server::LlamaServer;

#[test]
fn a_real_server_answers_like_the_embedded_llm() {
    let gguf = smollm2();
    let server = LlamaServer::start(&gguf, 512);
    let url = server.url.clone();
    let llm = Llm::load(&gguf).unwrap();
    let mut local = session(&llm);
    let config = HttpConfig {
        prompt: PromptForm::Text,
        n_ctx: 512,
        timeout_s: 60.0,
        ..HttpConfig::new(&url)
    };
    let mut remote = HttpBackend::new(config.clone(), &llm);
    let prefix = "Answer with cat, dog or fish.\nInput: purr whiskers output: This is a cat.\nInput: bark bone output: This is a dog.\nInput: fins water output: This is a fish.\n";
    let choices = Choices::new(vec![
        llm.tokenize(" cat."),
        llm.tokenize(" dog."),
        llm.tokenize(" fish."),
    ])
    .unwrap();
    let stop = |ids: &[u32]| llm.detokenize(ids).contains('.');
    for q in [" purr milk", " bark leash", " fins swim"] {
        let prompt = llm.tokenize(&format!("{prefix}Input:{q} output: This is a"));
        let a = local
            .generate(&prompt, 4, Some(&choices), &|_| false)
            .unwrap();
        let b = remote
            .generate(&prompt, 4, Some(&choices), &|_| false)
            .unwrap();
        assert_eq!(
            llm.detokenize(&a.ids),
            llm.detokenize(&b.ids),
            "{q}: constrained"
        );
        let a = local.generate(&prompt, 4, None, &stop).unwrap();
        let b = remote.generate(&prompt, 4, None, &stop).unwrap();
        assert_eq!(llm.detokenize(&a.ids), llm.detokenize(&b.ids), "{q}: open");
    }
    let s = remote.stats();
    assert!(s.prompt_tokens > 0 && s.generated_tokens > 0, "{s:?}");

    // This server takes text prompts only: token ids are a validation error (which it sends as
    // a 500), shown with the server's own message.
    let mut ids = HttpBackend::new(
        HttpConfig {
            prompt: PromptForm::Ids,
            retries: 0,
            ..config
        },
        &llm,
    );
    let e = ids
        .generate(&llm.tokenize("This is a"), 2, None, &|_| false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 500") && e.contains("Input should be a valid string"),
        "{e}"
    );
}
