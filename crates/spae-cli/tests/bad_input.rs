//! Bad input at the command line: each case exits non-zero with one error line naming the file
//! and the problem, and never panics.

mod common;

use std::path::Path;
use std::process::Command;

use common::assets_root;

/// Runs `spae ARGS` and returns (exit code, stderr).
fn spae(args: &[&str], assets: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spae"))
        .args(args)
        .env("SPAE_ASSETS", assets)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a clean failure: non-zero exit, exactly one line, naming `file` and `problem`.
fn assert_one_line_error(args: &[&str], file: &str, problem: &str) {
    let (code, err) = spae(args, &assets_root());
    assert_ne!(code, 0, "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        lines[0].contains(file),
        "{args:?}: '{file}' not named in: {err}"
    );
    assert!(
        lines[0].contains(problem),
        "{args:?}: '{problem}' not said in: {err}"
    );
}

fn real_gguf() -> Vec<u8> {
    std::fs::read(assets_root().join("llm/SmolLM2-135M-Instruct.Q4_1.gguf"))
        .expect("the SmolLM2 GGUF is installed by scripts/install-assets.sh")
}

/// Byte offset just after the name of tensor `token_embd.weight` in the tensor directory.
fn after_embd_name(bytes: &[u8]) -> usize {
    let name = b"token_embd.weight";
    bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len()
}

fn build_with(dir: &Path, file: &str, bytes: &[u8]) -> Vec<String> {
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    let out = dir.join("out");
    vec![
        "codebook".into(),
        "build".into(),
        "--llm".into(),
        p.to_string_lossy().into_owned(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
    ]
}

#[test]
fn malformed_gguf_files() {
    let dir = tempfile::tempdir().unwrap();
    let real = real_gguf();
    let run = |file: &str, bytes: &[u8], problem: &str| {
        let args = build_with(dir.path(), file, bytes);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_one_line_error(&args, file, problem);
    };
    run("truncated.gguf", &real[..real.len() / 2], "truncated");
    run("empty.gguf", &[], "truncated");

    let mut magic = real.clone();
    magic[..4].copy_from_slice(b"GGML");
    run("magic.gguf", &magic, "not a GGUF file");

    let mut renamed = real.clone();
    let at = after_embd_name(&renamed);
    renamed[at - 6..at].copy_from_slice(b"weighx");
    run(
        "no-embd.gguf",
        &renamed,
        "has no tensor named 'token_embd.weight'",
    );

    let mut q2k = real.clone();
    let at = after_embd_name(&q2k);
    let n_dims = u32::from_le_bytes(q2k[at..at + 4].try_into().unwrap()) as usize;
    let ty = at + 4 + 8 * n_dims;
    q2k[ty..ty + 4].copy_from_slice(&10u32.to_le_bytes());
    run("q2k.gguf", &q2k, "cannot dequantize");
}

#[test]
fn missing_assets_and_files() {
    let (code, err) = spae(&["codebook", "build"], Path::new("/nonexistent-assets"));
    assert_ne!(code, 0);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("missing asset smollm2") && err.contains("install-assets.sh"),
        "{err}"
    );
    assert_one_line_error(
        &["data", "inspect", "/nonexistent/x.png"],
        "/nonexistent/x.png",
        "No such file",
    );
}

#[test]
fn corrupt_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    std::fs::write(p("empty.png"), b"").unwrap();
    assert_one_line_error(
        &["data", "inspect", &p("empty.png")],
        "empty.png",
        "empty file",
    );
    std::fs::write(p("bad.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert_one_line_error(&["data", "inspect", &p("bad.png")], "bad.png", "PNG");
    // A real emoji PNG cut short.
    let real = std::fs::read(assets_root().join("data/emoji/img/google/64/1f600.png")).unwrap();
    std::fs::write(p("cut.png"), &real[..real.len() / 2]).unwrap();
    assert_one_line_error(&["data", "inspect", &p("cut.png")], "cut.png", "PNG");
    // A real Fashion-MNIST label file cut short, and a file that is not IDX at all.
    let idx =
        std::fs::read(assets_root().join("data/fashion-mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&idx[..]), &mut raw).unwrap();
    std::fs::write(p("cut-idx1-ubyte"), &raw[..raw.len() - 10]).unwrap();
    assert_one_line_error(
        &["data", "inspect", &p("cut-idx1-ubyte")],
        "cut-idx1-ubyte",
        "need 10000 bytes",
    );
    std::fs::write(p("text-idx1-ubyte"), b"hello world").unwrap();
    assert_one_line_error(
        &["data", "inspect", &p("text-idx1-ubyte")],
        "text-idx1-ubyte",
        "not an IDX file",
    );
    std::fs::write(p("cut.gz"), &idx[..idx.len() / 2]).unwrap();
    assert_one_line_error(&["data", "inspect", &p("cut.gz")], "cut.gz", "gzip");
}

#[test]
fn codebook_build_neighbors_and_unknown_word() {
    let dir = tempfile::tempdir().unwrap();
    let cb = dir.path().join("cb").to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_spae"))
        .args(["codebook", "build", "--out", &cb])
        .env("SPAE_ASSETS", assets_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("|T|") && stdout.contains("NoLeadingSpace"),
        "{stdout}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_spae"))
        .args(["codebook", "neighbors", "cat", "--codebook", &cb])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("dog"), "{stdout}");
    assert_one_line_error(
        &["codebook", "neighbors", "zzzqxw", "--codebook", &cb],
        "zzzqxw",
        "not a word of this codebook",
    );
}
