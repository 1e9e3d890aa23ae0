//! An OpenAI-compatible server's reply (status and body): `spae_llm::reply::check_reply`.
//! spae-llm's build includes llama.cpp, so this target takes the reply module's file alone
//! (pure code: serde and serde_json only).
#![no_main]

#[path = "../../crates/spae-llm/src/reply.rs"]
#[allow(dead_code)]
mod reply;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reply::check_reply(data));
