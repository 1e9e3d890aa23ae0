//! Where an LLM comes from: an installed asset name, a local GGUF path, or (with the `hub`
//! feature) a Hugging Face hub file `hf:OWNER/REPO/FILE.gguf`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use spae::assets::Assets;

/// Resolves `spec` to a local GGUF file and a short name for default output folders.
pub fn resolve(spec: &str, assets: &Assets) -> Result<(PathBuf, String)> {
    if let Some(hub) = spec.strip_prefix("hf:") {
        return hub_file(hub);
    }
    let path = PathBuf::from(spec);
    if path.extension().is_some_and(|e| e == "gguf") || path.exists() {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "model".into());
        return Ok((path, name));
    }
    if Assets::names().any(|n| n == spec) {
        return Ok((assets.path(spec)?, spec.to_string()));
    }
    bail!(
        "unknown LLM '{spec}': give an installed asset ({}), a .gguf path, or hf:OWNER/REPO/FILE.gguf",
        Assets::llm_names().collect::<Vec<_>>().join(", ")
    )
}

#[cfg(feature = "hub")]
fn hub_file(spec: &str) -> Result<(PathBuf, String)> {
    let (repo, file) = spec
        .rsplit_once('/')
        .filter(|(r, _)| r.contains('/'))
        .ok_or_else(|| anyhow::anyhow!("hub spec '{spec}' is not OWNER/REPO/FILE.gguf"))?;
    let api = hf_hub::api::sync::Api::new()?;
    let path = api.model(repo.to_string()).get(file)?;
    let name = file.trim_end_matches(".gguf").to_lowercase();
    Ok((path, name))
}

#[cfg(not(feature = "hub"))]
fn hub_file(spec: &str) -> Result<(PathBuf, String)> {
    bail!("hf:{spec}: this spae was built without hub support; rebuild with `--features hub` or download the file and pass its path")
}
