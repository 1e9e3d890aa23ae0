//! Training checkpoints that survive `kill -9` (the layout and the read side are
//! [`crate::checkpoint`]): each is a complete folder `step-NNNNNNNN/` (the model as
//! `model.safetensors` for other tools and as `model.bpk` with the parameter ids the optimizer
//! state refers to, optimizer state, the configuration and the step), and the file `LATEST`, replaced
//! atomically after the folder is complete, names the newest. Older folders are then removed.
//! With the GAN on, the discriminator, its optimizer and the LeCAM anchors are saved too.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use serde::Serialize;

use super::gan::{Adversary, LecamEma};
use crate::checkpoint::{bad, io, load_module, save_module, save_safetensors};
pub use crate::checkpoint::{latest, load_model, load_state, CheckpointError, State};
use crate::io::write_atomic;

fn save_optimizer(optim: &ModuleOptimizer, path: &Path) -> Result<(), CheckpointError> {
    optim
        .to_record()
        .save(path)
        .map_err(|e| bad(path, format!("{e:?}")))
}

/// Writes the checkpoint of `step` under `run_dir` and points `LATEST` at it (for an image or a
/// video model).
pub fn save<M: Module, C: Serialize>(
    run_dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    adversary: Option<&Adversary>,
    state: &State<C>,
) -> Result<PathBuf, CheckpointError> {
    let dir = run_dir.join(format!("step-{:08}", state.step));
    let tmp = run_dir.join(format!(".step-{:08}.partial", state.step));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    save_module(model, &tmp.join("model.bpk"))?;
    save_safetensors(model, &tmp.join("model.safetensors"))?;
    save_optimizer(optim, &tmp.join("optimizer.bpk"))?;
    if let Some(adv) = adversary {
        save_module(&adv.disc, &tmp.join("discriminator.bpk"))?;
        save_optimizer(&adv.optim, &tmp.join("discriminator_optimizer.bpk"))?;
    }
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

fn load_optimizer(path: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer, CheckpointError> {
    let record = OptimizerRecord::load(path)
        .map_err(|e| bad(path, format!("truncated or corrupt: {e:?}")))?;
    Ok(optim.load_record(record))
}

/// Loads a checkpoint's weights into `model` and its optimizer state into `optim`, and, when
/// `adversary` holds one, the discriminator's weights and optimizer with the anchors `lecam`
/// (from the checkpoint's [`State`], image or video).
pub fn load_into<M: Module>(
    dir: &Path,
    model: &mut M,
    optim: ModuleOptimizer,
    adversary: &mut Option<Adversary>,
    lecam: Option<LecamEma>,
) -> Result<ModuleOptimizer, CheckpointError> {
    load_model(dir, model)?;
    let optim = load_optimizer(&dir.join("optimizer.bpk"), optim)?;
    if let Some(mut adv) = adversary.take() {
        load_module(&dir.join("discriminator.bpk"), &mut adv.disc)?;
        let d_optim = load_optimizer(&dir.join("discriminator_optimizer.bpk"), adv.optim)?;
        let ema =
            lecam.ok_or_else(|| bad(&dir.join("state.json"), "no LeCAM anchors for the GAN"))?;
        *adversary = Some(Adversary {
            disc: adv.disc,
            optim: d_optim,
            ema,
        });
    }
    Ok(optim)
}
