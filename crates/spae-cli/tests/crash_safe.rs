//! Crash-safe training (issue 20): `spae train` SIGKILLed at many random moments (with a
//! checkpoint every step, so many kills land inside checkpoint writes) always leaves a run folder
//! whose `LATEST` loads, and `--resume` then ends exactly where an uninterrupted run ends; a
//! reader loading the run folder while it trains gets the last complete checkpoint or a clean
//! error; a write that fails (file-size limit: a full disk's error) stops training with a clear
//! error and leaves the previous checkpoint intact.
//!
//! `SPAE_CRASH_KILLS=N` sets the number of kills (default 6; `scripts/crash-test.sh` runs more).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_same_metrics, assets_root, codebook, latest_step, metric_steps, ok, spae, tiny_config,
};
use rand::{Rng, SeedableRng};
use spae::tokenizer::ImageTokenizer;

/// The tiny configuration with a checkpoint after every step.
fn every_step_config(dir: &Path, cb: &str, steps: usize) -> String {
    let path = tiny_config(dir, cb, steps);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("checkpoint_every = 5", "checkpoint_every = 1");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn killed_at_random_moments_resumes_exactly() {
    const STEPS: u64 = 12;
    let kills: usize = std::env::var("SPAE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let cb = codebook(dir.path());
    let cfg = every_step_config(dir.path(), &cb, STEPS as usize);
    let full = dir.path().join("full");
    let t = Instant::now();
    ok(&["train", "--config", &cfg, "--out", full.to_str().unwrap()]);
    let whole_run = t.elapsed();
    let reference = metric_steps(&full, "loss");

    let device = spae::device::DeviceSpec::Cpu.device().unwrap();
    let run = dir.path().join("killed");
    let r = run.to_str().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let (mut killed, mut reads) = (0, 0);
    let mut read_errors: Vec<String> = Vec::new();
    // `spae train`, resuming once the run has a checkpoint.
    let train_args = || {
        let mut args = vec!["train", "--config", &cfg, "--out", r];
        if run.join("LATEST").exists() {
            args.push("--resume");
        }
        args
    };
    while killed < kills && latest_step(&run) != Some(STEPS) {
        let mut child = spae(&train_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A moment anywhere in the run: start-up, a step, or a checkpoint write.
        let wait = whole_run.mul_f64(rng.random_range(0.05..0.9));
        let t = Instant::now();
        while t.elapsed() < wait {
            // A reader of the folder while it trains gets the last complete checkpoint (a
            // folder removed under it is retried on the new LATEST).
            if run.join("LATEST").exists() {
                reads += 1;
                if let Err(e) = ImageTokenizer::load(&run, &device) {
                    read_errors.push(e.to_string());
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed += 1;
        // After every kill the folder's LATEST checkpoint loads.
        if run.join("LATEST").exists() {
            ImageTokenizer::load(&run, &device)
                .unwrap_or_else(|e| panic!("kill {killed}: LATEST does not load: {e}"));
        }
    }
    if latest_step(&run) != Some(STEPS) {
        ok(&train_args());
    }
    let resumed = metric_steps(&run, "loss");
    assert_eq!(
        resumed.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=STEPS).collect::<Vec<_>>(),
        "each step's metrics once"
    );
    // The losses of the uninterrupted run, after `killed` kills.
    assert_same_metrics(&reference, &resumed);
    // No partial checkpoint folder is left behind as a checkpoint.
    for e in std::fs::read_dir(&run).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with("step-") || name == format!("step-{STEPS:08}"),
            "{name}"
        );
    }
    eprintln!("{killed} kills, {reads} reads during training");
    assert!(reads > 0 && read_errors.is_empty(), "{read_errors:?}");
}

#[test]
fn a_failing_write_stops_training_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cb = codebook(dir.path());
    let cfg = tiny_config(dir.path(), &cb, 10);
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    ok(&["train", "--config", &cfg, "--out", r, "--max-steps", "5"]);
    assert_eq!(latest_step(&run), Some(5));
    let model = std::fs::metadata(run.join("step-00000005/model.bpk"))
        .unwrap()
        .len();
    // Files may not grow beyond a fifth of the model (in KiB; SIGXFSZ ignored, so the write
    // fails with EFBIG as a full disk fails with ENOSPC).
    let limit_kib = (model / 5 / 1024).max(1);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {limit_kib}; exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_spae"))
        .args(["train", "--config", &cfg, "--out", r, "--resume"])
        .env("SPAE_ASSETS", assets_root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("too large"),
        "{err}"
    );
    // The previous checkpoint is still the latest and loads; resuming without the limit finishes.
    assert_eq!(latest_step(&run), Some(5));
    let device = spae::device::DeviceSpec::Cpu.device().unwrap();
    ImageTokenizer::load(&run, &device).unwrap();
    ok(&["train", "--config", &cfg, "--out", r, "--resume"]);
    assert_eq!(latest_step(&run), Some(10));
}
