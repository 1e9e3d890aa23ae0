//! Checkpoints that survive `kill -9`: each is a complete folder `step-NNNNNNNN/` (model with its
//! parameter ids, optimizer state, the configuration and the step), and the file `LATEST`, replaced
//! atomically after the folder is complete, names the newest. Older folders are then removed.

use std::fs;
use std::path::{Path, PathBuf};

use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::config::TrainConfig;
use crate::io::write_atomic;
use crate::model::SpaeModel;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{path}: {what}")]
    Bad { path: PathBuf, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn bad(path: &Path, what: impl ToString) -> CheckpointError {
    CheckpointError::Bad {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `state.json` of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Steps completed.
    pub step: usize,
    pub config: TrainConfig,
}

/// Writes the checkpoint of `step` under `run_dir` and points `LATEST` at it.
pub fn save(
    run_dir: &Path,
    model: &SpaeModel,
    optim: &ModuleOptimizer,
    state: &State,
) -> Result<PathBuf, CheckpointError> {
    let dir = run_dir.join(format!("step-{:08}", state.step));
    let tmp = run_dir.join(format!(".step-{:08}.partial", state.step));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let model_path = tmp.join("model.bpk");
    model
        .save_into(&mut BurnpackStore::from_file(&model_path).overwrite(true))
        .map_err(|e| bad(&model_path, e))?;
    let optim_path = tmp.join("optimizer.bpk");
    optim
        .to_record()
        .save(&optim_path)
        .map_err(|e| bad(&optim_path, format!("{e:?}")))?;
    let state_path = tmp.join("state.json");
    write_atomic(
        &state_path,
        &serde_json::to_vec_pretty(state).expect("state serializes"),
    )
    .map_err(io(&state_path))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).map_err(io(&dir))?;
    let latest = run_dir.join("LATEST");
    write_atomic(&latest, dir.file_name().unwrap().as_encoded_bytes()).map_err(io(&latest))?;
    // Only the newest checkpoint is kept.
    for entry in fs::read_dir(run_dir).map_err(io(run_dir))?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("step-") && entry.path() != dir {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(dir)
}

/// The newest complete checkpoint of a run, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    let latest = run_dir.join("LATEST");
    if !latest.exists() {
        return Ok(None);
    }
    let name = fs::read_to_string(&latest).map_err(io(&latest))?;
    Ok(Some(run_dir.join(name.trim())))
}

/// Reads a checkpoint's state.
pub fn load_state(dir: &Path) -> Result<State, CheckpointError> {
    let path = dir.join("state.json");
    let text = fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&text).map_err(|e| bad(&path, format!("corrupt state: {e}")))
}

/// Loads a checkpoint's weights (with their parameter ids) into `model`, which must be built
/// from the checkpoint's configuration.
pub fn load_model(dir: &Path, model: &mut SpaeModel) -> Result<(), CheckpointError> {
    let model_path = dir.join("model.bpk");
    if !model_path.exists() {
        return Err(bad(&model_path, "missing"));
    }
    let result = model
        .load_from(&mut BurnpackStore::from_file(&model_path))
        .map_err(|e| bad(&model_path, format!("truncated or corrupt: {e}")))?;
    if !result.missing.is_empty() || !result.errors.is_empty() || !result.unused.is_empty() {
        return Err(bad(
            &model_path,
            format!(
                "does not match the configured model ({} missing, {} unexpected, {} errors)",
                result.missing.len(),
                result.unused.len(),
                result.errors.len()
            ),
        ));
    }
    Ok(())
}

/// Loads a checkpoint's weights into `model` and its optimizer state into `optim`.
pub fn load_into(
    dir: &Path,
    model: &mut SpaeModel,
    optim: ModuleOptimizer,
) -> Result<ModuleOptimizer, CheckpointError> {
    load_model(dir, model)?;
    let optim_path = dir.join("optimizer.bpk");
    let record = OptimizerRecord::load(&optim_path)
        .map_err(|e| bad(&optim_path, format!("truncated or corrupt: {e:?}")))?;
    Ok(optim.load_record(record))
}
