//! Helpers shared by the LLM tests.
// Each test binary uses some of them.
#![allow(dead_code)]

use std::path::PathBuf;

use spae::assets::Assets;
use spae_llm::session::{Session, SessionConfig};
use spae_llm::Llm;

/// The installed SmolLM2 GGUF ($SPAE_ASSETS, else the repository's assets/).
pub fn smollm2() -> PathBuf {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
        .path("smollm2")
        .expect("the SmolLM2 GGUF is installed by scripts/install-assets.sh")
}

/// A llama.cpp session on `llm` with a 512-token context on 2 threads.
pub fn session(llm: &Llm) -> Session<'_> {
    Session::new(
        llm,
        SessionConfig {
            n_ctx: 512,
            threads: 2,
            ..SessionConfig::default()
        },
    )
    .unwrap()
}
