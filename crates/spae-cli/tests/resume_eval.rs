//! Resumable long evaluations (issue 20): a run SIGKILLed mid-way and continued with `--resume`
//! reports exactly what an uninterrupted run reports, asking only what its journal lacks; a
//! journal of other flags is refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::spae;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Runs `spae ARGS` from the repository root until `journal` holds `kill_at` lines (header
/// included), then SIGKILLs it; returns the lines it had.
fn kill_when(args: &[String], journal: &Path, kill_at: usize) -> usize {
    let mut child = spae(&strs(args))
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while lines(journal) < kill_at {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before its journal had {kill_at} lines"
        );
        assert!(t.elapsed() < Duration::from_secs(600), "{args:?} stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    lines(journal)
}

fn run(args: &[String]) -> std::process::Output {
    spae(&strs(args)).current_dir(repo()).output().unwrap()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The figures of a few-shot report (not its timings).
fn figures(path: &Path) -> Vec<Value> {
    let report: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let keep = [
                "setting",
                "layers",
                "queries",
                "open_correct",
                "constrained_correct",
                "predictions",
                "word_overlap_accuracy",
            ];
            keep.iter().map(|k| (k.to_string(), r[k].clone())).collect()
        })
        .collect()
}

#[test]
fn fewshot_killed_mid_way_resumes_to_the_same_figures() {
    const EPISODES: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (whole, killed) = (out("whole.json"), out("killed.json"));
    let args = |o: &str, seed: &str| -> Vec<String> {
        let a = [
            "fewshot",
            "--checkpoint",
            "models/fashion-mnist-appearance",
            "--pool",
            "200",
            "--threads",
            "2",
            "--layers",
            "1,2",
            "--way",
            "2",
            "--induction",
            "--episodes",
            "12",
            "--seed",
            seed,
            "--out",
            o,
        ];
        a.iter().map(|s| s.to_string()).collect()
    };
    let r = run(&args(&whole, "7"));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let journal = PathBuf::from(format!("{killed}.journal.jsonl"));
    // Killed twice: inside the first layer count's episodes, then inside the second's.
    let had = kill_when(&args(&killed, "7"), &journal, 1 + EPISODES / 2);
    assert!(had < 1 + 2 * EPISODES, "killed after the end ({had} lines)");
    let mut resume = args(&killed, "7");
    resume.push("--resume".into());
    let had2 = kill_when(&resume, &journal, 1 + EPISODES + 3);
    assert!(
        had2 >= had && had2 < 1 + 2 * EPISODES,
        "{had} then {had2} lines"
    );
    let r = run(&resume);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(lines(&journal), 1 + 2 * EPISODES, "each episode asked once");
    assert_eq!(figures(Path::new(&whole)), figures(Path::new(&killed)));

    // A journal of other flags is refused by name; without --resume the run starts over.
    let mut other = args(&killed, "8");
    other.push("--resume".into());
    let r = run(&other);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("different run") && err.contains("config.seed: 8 here, 7 in the journal"),
        "{err}"
    );
}
