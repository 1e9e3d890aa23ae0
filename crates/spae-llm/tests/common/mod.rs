//! Helpers shared by the LLM tests.

use std::path::PathBuf;

use spae::assets::Assets;

/// The installed SmolLM2 GGUF ($SPAE_ASSETS, else the repository's assets/).
pub fn smollm2() -> PathBuf {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
        .path("smollm2")
        .expect("the SmolLM2 GGUF is installed by scripts/install-assets.sh")
}
