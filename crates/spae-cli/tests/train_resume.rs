//! Training survives `kill -9`: a run killed mid-way resumes from its last checkpoint, loses at
//! most one checkpoint interval, writes each step's metrics once, and ends where an uninterrupted
//! run ends. Bad checkpoints and misuse give one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn assets_root() -> PathBuf {
    std::env::var_os("SPAE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets"))
}

fn spae(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spae"));
    c.args(args).env("SPAE_ASSETS", assets_root());
    c
}

fn ok(args: &[&str]) -> String {
    let out = spae(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let out = spae(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A small configuration: tiny model, batch 4, 30 steps, checkpoints every 5.
fn config(dir: &Path, codebook: &str) -> String {
    let text = format!(
        r#"codebook = "{codebook}"
pyramid = [1, 2, 4, 8, 8]
[model]
base_channels = 8
latent_dim = 576
[loss]
lr = 0.001
warmup_steps = 5
cooldown_steps = 5
[loop]
batch_size = 4
steps = 30
checkpoint_every = 5
seed = 3
"#
    );
    let p = dir.join("tiny.toml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn metric_steps(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["l2"].as_f64().unwrap())
        })
        .collect()
}

fn latest_step(run: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(run.join("LATEST")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

#[test]
fn kill_nine_then_resume_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let cb = dir.path().join("cb").to_string_lossy().into_owned();
    ok(&["codebook", "build", "--out", &cb]);
    let cfg = config(dir.path(), &cb);

    // Reference: uninterrupted.
    let full = dir.path().join("full");
    ok(&["train", "--config", &cfg, "--out", full.to_str().unwrap()]);
    let reference = metric_steps(&full);
    assert_eq!(
        reference.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );

    // Killed with SIGKILL once a checkpoint beyond step 10 exists.
    let run = dir.path().join("killed");
    let mut child = spae(&["train", "--config", &cfg, "--out", run.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while latest_step(&run).is_none_or(|s| s < 10) {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no checkpoint in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = latest_step(&run).unwrap();
    assert!(at_kill < 30, "the run finished before it was killed");

    // Without --resume the folder is refused; with it the run continues.
    let err = fails(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert!(err.contains("--resume"), "{err}");
    ok(&[
        "train",
        "--config",
        &cfg,
        "--out",
        run.to_str().unwrap(),
        "--resume",
    ]);
    let resumed = metric_steps(&run);
    assert_eq!(
        resumed.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    assert_eq!(latest_step(&run), Some(30));
    // The same batches, weights and optimizer state: the same losses as the uninterrupted run.
    for ((s, a), (_, b)) in reference.iter().zip(&resumed) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1e-3),
            "step {s}: {a} vs {b}"
        );
    }
    // And the loss went down.
    let mean = |v: &[(u64, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
    assert!(mean(&resumed[25..]) < mean(&resumed[..5]), "{resumed:?}");
}

#[test]
fn bad_checkpoints_and_configs() {
    let dir = tempfile::tempdir().unwrap();
    let cb = dir.path().join("cb").to_string_lossy().into_owned();
    ok(&["codebook", "build", "--out", &cb]);
    let cfg = config(dir.path(), &cb);
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    ok(&["train", "--config", &cfg, "--out", r, "--max-steps", "5"]);

    // Another configuration cannot resume this run.
    let other = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("seed = 3", "seed = 4");
    let other_path = dir.path().join("other.toml");
    std::fs::write(&other_path, other).unwrap();
    let err = fails(&[
        "train",
        "--config",
        other_path.to_str().unwrap(),
        "--out",
        r,
        "--resume",
    ]);
    assert!(err.contains("another configuration"), "{err}");

    // A truncated model file.
    let model = run.join("step-00000005/model.bpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&["train", "--config", &cfg, "--out", r, "--resume"]);
    assert!(err.contains("model.bpk"), "{err}");

    // Unknown fields and missing codebooks.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "quantiser = \"saq\"\n").unwrap();
    let err = fails(&["train", "--config", bad.to_str().unwrap(), "--out", r]);
    assert!(
        err.contains("bad.toml") && err.contains("quantiser"),
        "{err}"
    );
    let err = fails(&[
        "train",
        "--config",
        &cfg,
        "--out",
        r,
        "--codebook",
        "/nonexistent-cb",
    ]);
    assert!(err.contains("no codebook at /nonexistent-cb"), "{err}");
}
