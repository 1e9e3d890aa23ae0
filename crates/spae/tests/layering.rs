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
fn the_service_and_the_python_package_use_inference_only() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for c in ["spae-serve", "spae-py"] {
        let bad = offenders(&crates.join(c).join("src"), None, &["spae::train"]);
        assert!(bad.is_empty(), "{c} imports training: {bad:?}");
    }
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

/// The text of a source file before its `#[cfg(test)]` module (tests may pick the CPU); none for
/// a `tests.rs` that its parent module declares as `#[cfg(test)] mod tests;`.
fn non_test_text(path: &Path) -> String {
    let parent = path.parent().map(|dir| dir.with_extension("rs"));
    if path.ends_with("tests.rs")
        && parent.is_some_and(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| t.contains("#[cfg(test)]\nmod tests;"))
        })
    {
        return String::new();
    }
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

/// The file a module path (below `src`) lives in: the longest prefix that is `a/b.rs` or
/// `a/b/mod.rs`.
fn module_file(src: &Path, segments: &[&str]) -> Option<PathBuf> {
    (1..=segments.len()).rev().find_map(|k| {
        let dir: PathBuf = segments[..k].iter().collect();
        [
            src.join(&dir).with_extension("rs"),
            src.join(&dir).join("mod.rs"),
        ]
        .into_iter()
        .find(|p| p.is_file())
    })
}

/// A file's module path below `src` (`a/b.rs` and `a/b/mod.rs` are both `a::b`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The files of crate `src` each file's non-test code names through `crate::` or `super::`
/// paths (grouped imports resolved item by item).
fn file_graph(src: &Path) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    files
        .iter()
        .map(|f| {
            // Code only: comments and doc links name modules without importing them.
            let text: String = non_test_text(f)
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let module = module_of(src, f);
            let mut deps: Vec<PathBuf> = Vec::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(['c', 's']) {
                rest = &rest[i..];
                let (base, after): (Vec<String>, &str) =
                    if let Some(r) = rest.strip_prefix("crate::") {
                        (Vec::new(), r)
                    } else if let Some(r) = rest.strip_prefix("super::") {
                        let mut up = module.clone();
                        // `super` of a/b.rs (module a::b) is a; of a/mod.rs (module a), the crate.
                        up.pop();
                        (up, r)
                    } else {
                        rest = &rest[1..];
                        continue;
                    };
                // The path: identifiers joined by `::`, possibly ending in a `{...}` group.
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                let path: Vec<String> = after[..end]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                let mut targets = vec![[base.clone(), path.clone()].concat()];
                if after[end..].starts_with('{') {
                    let close = after[end..].find('}').map_or(after.len(), |c| end + c);
                    for item in after[end + 1..close].split(',') {
                        let item: Vec<String> = item
                            .trim()
                            .split("::")
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty() && s != "self")
                            .collect();
                        targets.push([base.clone(), path.clone(), item].concat());
                    }
                }
                for t in targets {
                    let segs: Vec<&str> = t.iter().map(String::as_str).collect();
                    if let Some(dep) = module_file(src, &segs) {
                        if &dep != f && !deps.contains(&dep) {
                            deps.push(dep);
                        }
                    }
                }
                rest = &after[end..];
            }
            (f.clone(), deps)
        })
        .collect()
}

/// A circle of files, if any: each names the next, the last the first.
fn find_circle(graph: &[(PathBuf, Vec<PathBuf>)]) -> Option<Vec<PathBuf>> {
    fn visit(
        f: &PathBuf,
        graph: &[(PathBuf, Vec<PathBuf>)],
        stack: &mut Vec<PathBuf>,
        done: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(i) = stack.iter().position(|s| s == f) {
            return Some(stack[i..].to_vec());
        }
        if done.contains(f) {
            return None;
        }
        stack.push(f.clone());
        let deps = graph.iter().find(|(g, _)| g == f).map(|(_, d)| d.clone());
        for d in deps.unwrap_or_default() {
            if let Some(c) = visit(&d, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.push(f.clone());
        None
    }
    let mut done = Vec::new();
    graph
        .iter()
        .find_map(|(f, _)| visit(f, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_circle_between_files() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in ["spae", "spae-llm", "spae-icl"] {
        let src = crates.join(krate).join("src");
        let graph = file_graph(&src);
        assert!(
            graph.iter().any(|(_, d)| !d.is_empty()),
            "{krate}: no imports found (the scan is broken)"
        );
        if let Some(circle) = find_circle(&graph) {
            let names: Vec<String> = circle
                .iter()
                .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
                .collect();
            panic!(
                "{krate}: files import each other in a circle: {}",
                names.join(" -> ")
            );
        }
    }
}
