//! Resumable long evaluations (issue 20): a run SIGKILLed mid-way and continued with `--resume`
//! reports exactly what an uninterrupted run reports, asking only what its journal lacks; a
//! journal of other flags is refused by name.

mod common;

use std::path::{Path, PathBuf};

use common::{kill_once, kill_when, lines, repo, spae};
use serde_json::Value;

fn kill(args: &[String], journal: &Path, kill_at: usize) -> usize {
    let mut cmd = spae(&strs(args));
    cmd.current_dir(repo());
    kill_when(cmd, journal, kill_at)
}

fn run(args: &[String]) -> std::process::Output {
    spae(&strs(args)).current_dir(repo()).output().unwrap()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The result fields `keep` of each entry of a report's `results`.
fn figures(path: &Path, keep: &[&str]) -> Vec<Value> {
    let report: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            keep.iter()
                .map(|k| (k.to_string(), r[*k].clone()))
                .collect()
        })
        .collect()
}

/// Runs `args` (ending in `--out`) whole into `whole.json` and, into `killed.json`, killed when
/// its journal holds each of `kills` lines, resumed each time and run to the end; checks that
/// the resumed run asked each of its `units` once and reports the `keep` fields the whole run
/// reports. Returns the killed run's report path.
fn whole_and_killed(
    dir: &Path,
    args: &[String],
    units: usize,
    kills: &[usize],
    keep: &[&str],
) -> PathBuf {
    let with_out = |name: &str| {
        let mut a = args.to_vec();
        a.push(dir.join(name).to_string_lossy().into_owned());
        a
    };
    let r = run(&with_out("whole.json"));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let killed = dir.join("killed.json");
    let journal = PathBuf::from(format!("{}.journal.jsonl", killed.display()));
    let mut resume = with_out("killed.json");
    let mut had = 0;
    for &at in kills {
        let now = kill(&resume, &journal, 1 + at);
        assert!(
            now >= had && now < 1 + units,
            "killed at {now} lines of {}",
            1 + units
        );
        had = now;
        if !resume.contains(&"--resume".to_string()) {
            resume.push("--resume".into());
        }
    }
    let r = run(&resume);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(lines(&journal), 1 + units, "each unit asked once");
    assert_eq!(
        figures(&dir.join("whole.json"), keep),
        figures(&killed, keep)
    );
    killed
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn fewshot_killed_mid_way_resumes_to_the_same_figures() {
    const EPISODES: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let args = |seed: &str| {
        owned(&[
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
        ])
    };
    let keep = [
        "setting",
        "layers",
        "queries",
        "open_correct",
        "constrained_correct",
        "predictions",
        "word_overlap_accuracy",
    ];
    // Killed inside the first layer count's episodes, then inside the second's.
    let killed = whole_and_killed(
        dir.path(),
        &args("7"),
        2 * EPISODES,
        &[EPISODES / 2, EPISODES + 3],
        &keep,
    );

    // A journal of other flags is refused by name; without --resume the run starts over.
    let mut other = args("8");
    other.extend([killed.to_string_lossy().into_owned(), "--resume".into()]);
    let r = run(&other);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("different run") && err.contains("config.seed: 8 here, 7 in the journal"),
        "{err}"
    );
}

#[test]
fn captions_killed_mid_way_resume_to_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let args = owned(&[
        "caption",
        "--checkpoint",
        "models/emoji-64-semantic",
        "--examples",
        "4",
        "--episodes",
        "10",
        "--layers",
        "1,2",
        "--threads",
        "2",
        "--out",
    ]);
    whole_and_killed(
        dir.path(),
        &args,
        20,
        &[4, 13],
        &["layers", "exact_match", "samples"],
    );
}

#[test]
fn reconstruction_scores_killed_mid_way_resume_to_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &str| {
        owned(&[
            "eval",
            "recon",
            "--checkpoint",
            "models/fashion-mnist-appearance",
            "--n",
            "160",
            "--no-fid",
            "--out",
            out,
        ])
    };
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let r = run(&args(&path("whole.json")));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let journal = PathBuf::from(path("killed.json.journal.rows"));
    let whole_rows = std::fs::metadata(path("whole.json.journal.rows"))
        .unwrap()
        .len();
    let size = || std::fs::metadata(&journal).map_or(0, |m| m.len());
    // Killed once the first batch of 50 images is in (a quarter of the rows' bytes).
    let mut cmd = spae(&strs(&args(&path("killed.json"))));
    cmd.current_dir(repo());
    kill_once(cmd, || size() > whole_rows / 4);
    assert!(size() < whole_rows, "killed after the end");
    let mut resume = args(&path("killed.json"));
    resume.push("--resume".into());
    let r = run(&resume);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(size(), whole_rows, "each image measured once");
    let report = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(path(name)).unwrap()).unwrap()
    };
    assert_eq!(report("whole.json"), report("killed.json"));
    assert_eq!(
        std::fs::read(path("whole.png")).unwrap(),
        std::fs::read(path("killed.png")).unwrap(),
        "the same grid"
    );
}
