//! The architecture as a test (docs/architecture.md): inference, scorers and evaluation never
//! import training, and the LLM runtime's `Backend` trait does not import its implementations.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Files under `root` (but not under `except`) whose text names any of `needles`.
fn offenders(root: &Path, except: Option<&Path>, needles: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    files
        .into_iter()
        .filter(|f| except.is_none_or(|e| !f.starts_with(e)))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            needles.iter().any(|n| text.contains(n))
        })
        .map(|f| f.display().to_string())
        .collect()
}

#[test]
fn nothing_below_training_imports_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = offenders(
        &src,
        Some(&src.join("train")),
        &["crate::train", "super::train"],
    );
    assert!(bad.is_empty(), "these import training: {bad:?}");
}

#[test]
fn the_backend_trait_stands_alone() {
    let llm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spae-llm/src/backend.rs");
    let text = std::fs::read_to_string(llm).unwrap();
    for other in ["crate::session", "crate::http", "crate::spec"] {
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("use ") && l.contains(other)),
            "backend.rs imports {other}"
        );
    }
}

/// The text of a source file before its `#[cfg(test)]` module (tests may pick the CPU).
fn non_test_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[test]
fn the_device_is_chosen_once_in_main() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bad = Vec::new();
    for krate in ["spae", "spae-llm", "spae-cli"] {
        let mut files = Vec::new();
        sources(&crates.join(krate).join("src"), &mut files);
        for f in files {
            // `device.rs` turns a name into a device; `main.rs` calls it once.
            if f.ends_with("device.rs") || f.ends_with("main.rs") {
                continue;
            }
            let text = non_test_text(&f);
            if ["Device::flex()", "Device::cuda(", "Device::libtorch"]
                .iter()
                .any(|n| text.contains(n))
            {
                bad.push(f.display().to_string());
            }
        }
    }
    assert!(bad.is_empty(), "these choose a device themselves: {bad:?}");
}
