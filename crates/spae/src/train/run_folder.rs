//! What the image and the video training loops share about a run folder: where a run starts
//! (afresh, or from its latest checkpoint with `--resume`), `metrics.jsonl` (cut back to the
//! checkpoint a run resumes from), and each step's seeded random numbers.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use super::checkpoint::{self, State};
use super::TrainError;
use crate::checkpoint::{load_state_of, RunConfig};
use crate::setup::check_codebook;

/// The random numbers of step `step` (its batch, depth and any noise): they depend on
/// `(seed, step)` only, so a resumed run sees the same ones.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9).wrapping_add(step as u64))
}

/// The checkpoint a run continues from: `None` for a fresh run. A run folder that already holds
/// a checkpoint is refused without `resume`; with it, the checkpoint must have been written with
/// this configuration and codebook (`fingerprint`).
pub fn resume_point<C: RunConfig>(
    run_dir: &Path,
    resume: bool,
    cfg: &C,
    fingerprint: &str,
) -> Result<Option<(PathBuf, State<C>)>, TrainError> {
    match (checkpoint::latest(run_dir)?, resume) {
        (Some(dir), true) => {
            let state = load_state_of::<C>(&dir)?;
            check_codebook(&state, fingerprint, &dir)?;
            if state.config != *cfg {
                return Err(TrainError::Config(format!(
                    "{}: checkpoint was written with another configuration",
                    dir.display()
                )));
            }
            Ok(Some((dir, state)))
        }
        (Some(dir), false) => Err(TrainError::Config(format!(
            "{} already holds checkpoint {}: pass --resume to continue it, or another output folder",
            run_dir.display(),
            dir.display()
        ))),
        (None, _) => Ok(None),
    }
}

/// `metrics.jsonl` of a run, one JSON line per step, appended to.
pub struct Metrics {
    path: PathBuf,
    file: fs::File,
}

impl Metrics {
    /// Opens the run's metrics for appending after dropping the lines of steps after `start`
    /// (written after the checkpoint a run resumes from).
    pub fn open(run_dir: &Path, start: usize) -> Result<Self, TrainError> {
        fs::create_dir_all(run_dir).map_err(|source| TrainError::Io {
            path: run_dir.to_path_buf(),
            source,
        })?;
        let path = run_dir.join("metrics.jsonl");
        keep_metrics_before(&path, start)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| TrainError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Metrics { path, file })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &impl Serialize) -> Result<(), TrainError> {
        let line = serde_json::to_string(record).expect("record serializes");
        writeln!(self.file, "{line}").map_err(|source| TrainError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Drops metric lines of steps after `start`.
fn keep_metrics_before(path: &Path, start: usize) -> Result<(), TrainError> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s as usize <= start)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::io::write_atomic(path, kept.as_bytes()).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}
