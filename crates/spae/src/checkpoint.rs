//! Reading a tokenizer's checkpoint (its `state.json` and weights) and exporting a released
//! model: below both the tokenizer and training. Training's own side (optimizer and
//! discriminator state, resumable saves) is `train::checkpoint`. Layout: each checkpoint is a
//! complete folder `step-NNNNNNNN/` (the model as `model.safetensors` for other tools and as
//! `model.bpk` with the parameter ids the optimizer state refers to, optimizer state, the
//! configuration and the step), and the file `LATEST`, replaced atomically after the folder is
//! complete, names the newest.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ApplyResult, BurnpackStore, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{LoopConfig, TrainConfig, VideoTrainConfig};
use crate::io::write_atomic;
use crate::weights::incomplete;

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

pub(crate) fn bad(path: &Path, what: impl ToString) -> CheckpointError {
    CheckpointError::Bad {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The configuration a checkpoint's `state.json` records: an image run's [`TrainConfig`] or a
/// video run's [`VideoTrainConfig`].
pub trait RunConfig: Serialize + DeserializeOwned + Clone + PartialEq {
    /// Checks the configuration, so that no model is built from an inconsistent one.
    fn check(&self) -> Result<(), String>;

    /// The loop settings (`[loop]`).
    fn run_settings(&self) -> &LoopConfig;

    fn run_settings_mut(&mut self) -> &mut LoopConfig;
}

impl RunConfig for TrainConfig {
    fn check(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }

    fn run_settings(&self) -> &LoopConfig {
        &self.run
    }

    fn run_settings_mut(&mut self) -> &mut LoopConfig {
        &mut self.run
    }
}

impl RunConfig for VideoTrainConfig {
    fn check(&self) -> Result<(), String> {
        self.validate().map_err(|e| e.to_string())
    }

    fn run_settings(&self) -> &LoopConfig {
        &self.run
    }

    fn run_settings_mut(&mut self) -> &mut LoopConfig {
        &mut self.run
    }
}

/// `state.json` of a checkpoint (an image tokenizer's unless `C` says otherwise).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State<C = TrainConfig> {
    /// Steps completed.
    pub step: usize,
    pub config: C,
    /// LeCAM's anchors (runs with the GAN on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lecam: Option<LecamEma>,
    /// [`crate::codebook::Codebook::fingerprint`] of the codebook the model was trained with
    /// (absent in checkpoints written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codebook: Option<String>,
    /// The labels the training signal used, through the warm-start chain (absent in
    /// checkpoints written before it was recorded: training's `labels_seen` then infers them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<crate::labels::LabelsSeen>,
}

pub(crate) fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), CheckpointError> {
    module
        .save_into(&mut BurnpackStore::from_file(path).overwrite(true))
        .map_err(|e| bad(path, e))?;
    readable(path)
}

/// The model's weights as safetensors under their module names (`encoder.conv_in.weight`, ...).
pub fn save_safetensors<M: Module>(model: &M, path: &Path) -> Result<(), CheckpointError> {
    model
        .save_into(&mut SafetensorsStore::from_file(path).overwrite(true))
        .map_err(|e| bad(path, e))?;
    readable(path)
}

/// Weights files readable by everyone, writable by their owner (burn's stores write them through
/// a private temporary file, mode 0600), like every other file a run or an export writes.
fn readable(path: &Path) -> Result<(), CheckpointError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(io(path))?;
    }
    Ok(())
}

/// A released model: `model.safetensors` and `state.json` of a checkpoint (or a run's latest)
/// in `out`, without optimizer state.
pub fn export<M: Module, C: RunConfig>(
    checkpoint: &Path,
    model: &mut M,
    out: &Path,
) -> Result<State<C>, CheckpointError> {
    let state = read_latest(checkpoint, |dir| {
        let state = load_state_of::<C>(dir)?;
        load_model(dir, model)?;
        Ok::<_, CheckpointError>(state)
    })?;
    fs::create_dir_all(out).map_err(io(out))?;
    save_safetensors(model, &out.join("model.safetensors"))?;
    let state_path = out.join("state.json");
    write_atomic(
        &state_path,
        &serde_json::to_vec_pretty(&state).expect("state serializes"),
    )
    .map_err(io(&state_path))?;
    Ok(state)
}

/// The newest complete checkpoint of a run, if any.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    let latest = run_dir.join("LATEST");
    if !latest.exists() {
        return Ok(None);
    }
    let name = fs::read_to_string(&latest).map_err(io(&latest))?;
    let name = name.trim();
    // LATEST names a checkpoint folder of this run, nothing else.
    if !name.starts_with("step-") || name.contains(['/', '\\']) {
        return Err(bad(&latest, format!("names {name:?}, not a step-N folder")));
    }
    Ok(Some(run_dir.join(name)))
}

/// Runs `read` on the checkpoint `path` names: the folder itself, or a run folder's latest. A run
/// being trained replaces its latest checkpoint (and removes the one before) while it is read:
/// when `read` fails and `LATEST` has moved on meanwhile, `read` runs again on the new one (up to
/// 5 times), so a reader gets the last complete checkpoint, or a clear error, never a mix.
pub fn read_latest<T, E: From<CheckpointError>>(
    path: &Path,
    mut read: impl FnMut(&Path) -> Result<T, E>,
) -> Result<T, E> {
    let mut tries = 0;
    loop {
        let dir = latest(path)?.unwrap_or_else(|| path.to_path_buf());
        match read(&dir) {
            Ok(v) => return Ok(v),
            Err(e) => {
                tries += 1;
                let now = latest(path)?.unwrap_or_else(|| path.to_path_buf());
                if now == dir || tries >= 5 {
                    return Err(e);
                }
            }
        }
    }
}

/// What a checkpoint holds: an image or a video tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Image,
    Video,
}

/// Whether the checkpoint `path` names (a checkpoint folder, a run folder's latest, or a
/// released model) holds a video tokenizer (its configuration's `model` has `frames`) or an
/// image one.
pub fn run_kind(path: &Path) -> Result<RunKind, CheckpointError> {
    let dir = latest(path)?.unwrap_or_else(|| path.to_path_buf());
    let file = dir.join("state.json");
    let text = fs::read(&file).map_err(io(&file))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(&file, format!("corrupt state: {e}")))?;
    Ok(match v["config"]["model"].get("frames") {
        Some(_) => RunKind::Video,
        None => RunKind::Image,
    })
}

/// Reads an image tokenizer checkpoint's state.
pub fn load_state(dir: &Path) -> Result<State, CheckpointError> {
    load_state_of(dir)
}

/// Reads a checkpoint's state with configuration type `C`.
pub fn load_state_of<C: RunConfig>(dir: &Path) -> Result<State<C>, CheckpointError> {
    let path = dir.join("state.json");
    let text = fs::read(&path).map_err(io(&path))?;
    parse_state_of(&text, &path)
}

/// Parses an image tokenizer's `state.json` bytes ([`parse_state_of`]).
pub fn parse_state(bytes: &[u8], path: &Path) -> Result<State, CheckpointError> {
    parse_state_of(bytes, path)
}

/// Parses `state.json` bytes (`path` names them in errors) and validates the configuration in
/// them ([`RunConfig::check`]), so no model is built from an inconsistent one. A video
/// checkpoint read as an image one (or the reverse) is named as such.
pub fn parse_state_of<C: RunConfig>(
    bytes: &[u8],
    path: &Path,
) -> Result<State<C>, CheckpointError> {
    let state: State<C> = serde_json::from_slice(bytes).map_err(|e| {
        let video = serde_json::from_slice::<State<VideoTrainConfig>>(bytes).is_ok();
        let image = serde_json::from_slice::<State<TrainConfig>>(bytes).is_ok();
        match (video, image) {
            (true, false) => bad(
                path,
                "is a video tokenizer (for `spae encode`, `decode` and `eval video`), not an image one",
            ),
            (false, true) => bad(path, "is an image tokenizer, not a video one"),
            _ => bad(path, format!("corrupt state: {e}")),
        }
    })?;
    state.config.check().map_err(|e| bad(path, e))?;
    Ok(state)
}

/// Loads a checkpoint's weights into `model`, which must be built from the checkpoint's
/// configuration: `model.bpk` (with parameter ids) if present, else `model.safetensors` (a
/// released model).
pub fn load_model<M: Module>(dir: &Path, model: &mut M) -> Result<(), CheckpointError> {
    let bpk = dir.join("model.bpk");
    if bpk.exists() {
        return load_module(&bpk, model);
    }
    let st = dir.join("model.safetensors");
    if !st.exists() {
        return Err(bad(dir, "no model.bpk or model.safetensors"));
    }
    let bytes = std::fs::read(&st).map_err(io(&st))?;
    let result = model
        .load_from(&mut SafetensorsStore::from_bytes(Some(bytes)))
        .map_err(|e| bad(&st, format!("truncated or corrupt: {e}")))?;
    check_applied(&st, &result)
}

pub(crate) fn load_module<M: Module>(path: &Path, module: &mut M) -> Result<(), CheckpointError> {
    if !path.exists() {
        return Err(bad(path, "missing"));
    }
    // Read whole: a file-backed store reads tensors lazily, by path, when they are first used,
    // which a training run that rotates its checkpoints can delete in between.
    let bytes = std::fs::read(path).map_err(io(path))?;
    let result = module
        .load_from(&mut BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(
            bytes,
        ))))
        .map_err(|e| bad(path, format!("truncated or corrupt: {e}")))?;
    check_applied(path, &result)
}

/// Every tensor of the module was loaded and nothing was left over.
fn check_applied(path: &Path, result: &ApplyResult) -> Result<(), CheckpointError> {
    match incomplete(result) {
        Some(what) => Err(bad(
            path,
            format!("does not match the configured model ({what})"),
        )),
        None => Ok(()),
    }
}

/// The LeCAM anchors, saved with every checkpoint so that a resumed run continues exactly
/// (updated by `train::gan`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LecamEma {
    pub real: f32,
    pub fake: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_weights_outlive_their_files() {
        // A checkpoint's weights are read whole at load: a model still runs after a training
        // run that rotates its checkpoints deleted the folder (a file-backed store reads each
        // tensor lazily, by path, when it is first used). A 3-D convolution, whose fused CPU path
        // reads its weights' bytes directly.
        use crate::model::video::VideoModelConfig;
        use burn::tensor::{Device, Tensor};
        let device = Device::flex();
        let cfg = VideoModelConfig {
            frames: 2,
            image_size: 8,
            base_channels: 32,
            channel_mult: vec![1, 2],
            temporal_down: vec![true],
            latent_dim: 256,
            ..VideoModelConfig::default()
        };
        let saved = cfg.init(&device);
        let x = || Tensor::<5>::ones([1, 1, 2, 8, 8], &device);
        let run = |m: &crate::model::video::VideoSpaeModel| {
            crate::tensor::to_vec(m.decoder.forward(m.encoder.forward(x())))
        };
        let want = run(&saved);
        for name in ["model.bpk", "model.safetensors"] {
            let dir = tempfile::tempdir().unwrap();
            match name {
                "model.bpk" => save_module(&saved, &dir.path().join(name)).unwrap(),
                _ => save_safetensors(&saved, &dir.path().join(name)).unwrap(),
            }
            let mut loaded = cfg.init(&device);
            load_model(dir.path(), &mut loaded).unwrap();
            drop(dir);
            assert_eq!(run(&loaded), want, "{name}");
        }
    }

    #[test]
    fn latest_names_a_step_folder_of_the_run_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(latest(dir.path()).unwrap(), None);
        for bad_name in ["../elsewhere", "step-1/../../x", "/etc", "model"] {
            fs::write(dir.path().join("LATEST"), bad_name).unwrap();
            let e = latest(dir.path()).unwrap_err().to_string();
            assert!(e.contains("not a step-N folder"), "{bad_name}: {e}");
        }
        fs::write(dir.path().join("LATEST"), "step-00000007\n").unwrap();
        assert_eq!(
            latest(dir.path()).unwrap(),
            Some(dir.path().join("step-00000007"))
        );
        // read_latest gives up after the folder LATEST names fails and LATEST stays put.
        let mut calls = 0;
        let r: Result<(), CheckpointError> = read_latest(dir.path(), |d| {
            calls += 1;
            Err(bad(d, "unreadable"))
        });
        assert!(r.is_err() && calls == 1);
    }
}
