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
use crate::config::LoopConfig;
use crate::setup::check_codebook;

/// The random numbers of step `step` (its batch, depth and any noise): they depend on
/// `(seed, step)` only, so a resumed run sees the same ones.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9).wrapping_add(step as u64))
}

/// The checkpoint a run continues from: `None` for a fresh run. A run folder that already holds
/// a checkpoint is refused without `resume`; with it, the checkpoint must have been written with
/// this configuration (its search place aside) and codebook (`fingerprint`).
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
            // Where the search runs is not part of a run: it may resume on another device.
            let mut same = state.config.clone();
            same.run_settings_mut().search = cfg.run_settings().search;
            if same != *cfg {
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

/// What the end of a training step writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTail {
    /// The sample sheet to write, if one is due.
    pub sample: Option<PathBuf>,
    /// Whether a checkpoint is due.
    pub checkpoint: bool,
}

/// After step `step` (0-based) of a run looping as `run`: a sample sheet
/// (`samples/step-N.png`) every `sample_every` steps and at the end (never when it is 0), and a
/// checkpoint every `checkpoint_every` steps, at the end, or when the run is stopped (`go_on`
/// false).
pub fn step_tail(run_dir: &Path, run: &LoopConfig, step: usize, go_on: bool) -> StepTail {
    let done = step + 1;
    let last = done == run.steps;
    let every = |n: usize| n > 0 && done.is_multiple_of(n);
    let sample = (every(run.sample_every) || (last && run.sample_every > 0))
        .then(|| run_dir.join("samples").join(format!("step-{done:08}.png")));
    StepTail {
        sample,
        checkpoint: !go_on || every(run.checkpoint_every.max(1)) || last,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_tail_by_hand() {
        let run = LoopConfig {
            steps: 10,
            sample_every: 4,
            checkpoint_every: 3,
            ..LoopConfig::default()
        };
        let dir = Path::new("r");
        let tail = |step, go_on| step_tail(dir, &run, step, go_on);
        // Step 4 (index 3): a sheet, no checkpoint.
        assert_eq!(
            tail(3, true),
            StepTail {
                sample: Some(dir.join("samples/step-00000004.png")),
                checkpoint: false
            }
        );
        // Step 3: a checkpoint only; step 5: nothing, unless stopped there.
        assert_eq!(
            (tail(2, true).sample, tail(2, true).checkpoint),
            (None, true)
        );
        assert_eq!(
            (tail(4, true).sample, tail(4, true).checkpoint),
            (None, false)
        );
        assert!(tail(4, false).checkpoint);
        // The last step: both.
        assert!(tail(9, true).sample.is_some() && tail(9, true).checkpoint);
        // sample_every 0: never a sheet, even at the end.
        let quiet = LoopConfig {
            sample_every: 0,
            ..run.clone()
        };
        assert_eq!(step_tail(dir, &quiet, 9, true).sample, None);
    }
}
