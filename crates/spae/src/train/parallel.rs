//! Data-parallel training over several devices of one machine (issue 17), through burn's own
//! distributed training: every device holds a copy of the model whose trainable parameters are
//! marked distributed ([`mark_distributed`]), trains on its shard of each global batch
//! ([`shard`]) in its own thread, and burn's gradient sync server all-reduces (means) each
//! parameter's gradient across the devices during the backward pass (collective all-reduce,
//! NCCL on CUDA). Every rank then takes the same optimizer step, so the copies stay equal; rank
//! 0 writes metrics, samples and checkpoints.
//!
//! What is not a gradient crosses between the threads as host values ([`Peers`]): the loss
//! values logged (the mean over the ranks), the discriminator's batch means that move LeCAM's
//! anchors, and whether to go on.
//!
//! burn 0.22 implements the collective all-reduce for its CUDA backend only (burn-flex's and
//! libtorch's are `unimplemented!()`), and its sync server lives in one process, so
//! [`check_devices`] takes distinct CUDA devices of this machine (one is a check of the path).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use burn::tensor::{Device, Tensor};

use super::{Share, StepStats, TrainError};
use crate::device::DeviceSpec;

/// The rows of a global batch of `batch` that rank `rank` of `world` trains on: the contiguous
/// shard `[rank * batch / world, (rank + 1) * batch / world)`. Every shard has the same size, so
/// the mean of the shards' mean losses is the global batch's mean loss and burn's mean
/// all-reduce of their gradients is the global batch's gradient; a batch that `world` does not
/// divide is refused.
pub fn shard(batch: usize, world: usize, rank: usize) -> Result<Range<usize>, TrainError> {
    if world == 0 || rank >= world {
        return Err(TrainError::Config(format!(
            "rank {rank} of {world} devices does not exist"
        )));
    }
    if batch == 0 || !batch.is_multiple_of(world) {
        return Err(TrainError::Config(format!(
            "loop.batch_size {batch} does not split evenly over {world} devices: use a multiple of {world}"
        )));
    }
    let n = batch / world;
    Ok(rank * n..(rank + 1) * n)
}

/// Checks a `--devices` list for a global batch of `batch`: not empty, none named twice, each one
/// whose backend has burn's collective all-reduce (CUDA, `cuda:N`), and as many as split the
/// batch evenly ([`shard`]). One device is allowed: it runs the data-parallel path (burn's sync
/// server, a one-device all-reduce), a check of that path on a machine with one GPU.
pub fn check_devices(specs: &[DeviceSpec], batch: usize) -> Result<(), TrainError> {
    if specs.is_empty() {
        return Err(TrainError::Config(
            "--devices takes one or more devices (cuda:0,cuda:1,...)".into(),
        ));
    }
    for (i, d) in specs.iter().enumerate() {
        if specs[..i].contains(d) {
            return Err(TrainError::Config(format!(
                "--devices names {d} twice: each device trains one shard"
            )));
        }
        if !matches!(d, DeviceSpec::Cuda(_)) {
            return Err(TrainError::Config(format!(
                "--devices: {d} cannot train data-parallel: the gradients are averaged by burn's collective all-reduce, which burn 0.22 implements for its CUDA backend (NCCL) only (flex's, wgpu's and libtorch's are unimplemented); use cuda:N devices, or train on one device with --device"
            )));
        }
    }
    shard(batch, specs.len(), 0).map(|_| ())
}

/// burn's distributed context over the training (autodiff) `devices`: starts its gradient sync
/// server, which averages (mean all-reduce) the gradients of distributed parameters. Dropping
/// it closes the server.
pub fn context(devices: &[Device]) -> DistributedContext {
    DistributedContext::init(
        devices.to_vec(),
        DistributedConfig {
            all_reduce_op: ReduceOperation::Mean,
        },
    )
}

/// `module` with each trainable parameter marked distributed under its own parameter id, so
/// that its gradient is all-reduced across the devices in the backward pass. The optimizer keeps
/// the mark on the parameters it updates. Without a distributed context (one device) the mark
/// changes nothing.
pub fn mark_distributed<M: Module>(module: M) -> M {
    module.map(&mut MarkDistributed)
}

struct MarkDistributed;

impl ModuleMapper for MarkDistributed {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = match tensor.is_require_grad() {
            true => tensor.set_distributed(id),
            false => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// The ranks of a data-parallel run, for the host values they share: each call is a meeting
/// point that every rank reaches once per use, in the same order.
pub struct Peers {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<f32>>>,
    go_on: AtomicBool,
}

impl Peers {
    pub fn new(world: usize) -> Self {
        Peers {
            barrier: Barrier::new(world),
            slots: Mutex::new(vec![Vec::new(); world]),
            go_on: AtomicBool::new(true),
        }
    }

    /// The mean over the ranks of the `values` each rank gives (every rank the same length).
    pub fn mean(&self, rank: usize, values: &[f32]) -> Vec<f32> {
        self.lock()[rank] = values.to_vec();
        self.barrier.wait();
        let out = {
            let slots = self.lock();
            let n = slots.len() as f32;
            (0..values.len())
                .map(|i| slots.iter().map(|s| s[i]).sum::<f32>() / n)
                .collect()
        };
        // Nobody writes the next values before everyone has read these.
        self.barrier.wait();
        out
    }

    /// Whether the run goes on after this step: rank 0's `go_on` (the others' is ignored),
    /// known to every rank once all have called.
    pub fn decide(&self, rank: usize, go_on: bool) -> bool {
        if rank == 0 {
            self.go_on.store(go_on, Ordering::SeqCst);
        }
        self.barrier.wait();
        let out = self.go_on.load(Ordering::SeqCst);
        self.barrier.wait();
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<f32>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A step's loss values averaged with `share` (the mean over the ranks of a data-parallel run);
/// the phase timings stay this rank's own.
pub fn share_stats(stats: StepStats, share: Share) -> StepStats {
    let v = share(&[
        stats.l2,
        stats.commitment,
        stats.semantic,
        stats.codebook,
        stats.perceptual,
        stats.gan,
        stats.disc,
        stats.lecam,
        stats.loss,
    ]);
    StepStats {
        l2: v[0],
        commitment: v[1],
        semantic: v[2],
        codebook: v[3],
        perceptual: v[4],
        gan: v[5],
        disc: v[6],
        lecam: v[7],
        loss: v[8],
        phases: stats.phases,
    }
}

/// Whether `ok` holds on every rank, with `share` the mean over the ranks (`ok` itself on one
/// device). A rank that cannot go into a step's backward pass (its images unreadable) must say
/// so before the others do, or they would wait for its gradients for ever.
pub fn on_every_rank(ok: bool, share: Share) -> bool {
    share(&[f32::from(u8::from(ok))])[0] == 1.0
}

/// A rank's seed for its step's random semantic targets (Eq. 7): the step's own for rank 0 (so a
/// one-device run is unchanged), another stream for each other rank.
pub fn rank_seed(seed: u64, rank: usize) -> u64 {
    seed ^ (rank as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_by_hand() {
        assert_eq!(shard(8, 2, 0).unwrap(), 0..4);
        assert_eq!(shard(8, 2, 1).unwrap(), 4..8);
        assert_eq!(shard(6, 3, 2).unwrap(), 4..6);
        assert_eq!(shard(5, 1, 0).unwrap(), 0..5);
        let e = shard(10, 4, 0).unwrap_err().to_string();
        assert!(e.contains("does not split evenly over 4 devices"), "{e}");
        assert!(shard(8, 2, 2).is_err());
        assert!(shard(0, 2, 0).is_err());
    }

    #[test]
    fn device_lists_are_checked() {
        let cuda = DeviceSpec::Cuda;
        assert!(check_devices(&[cuda(0), cuda(1)], 8).is_ok());
        assert!(check_devices(&[cuda(3), cuda(0), cuda(5)], 6).is_ok());
        assert!(check_devices(&[cuda(0)], 5).is_ok());
        let e = |s: &[DeviceSpec]| check_devices(s, 8).unwrap_err().to_string();
        assert!(e(&[]).contains("one or more"));
        assert!(e(&[cuda(1), cuda(1)]).contains("names cuda:1 twice"));
        assert!(e(&[cuda(0), cuda(1), cuda(2)]).contains("does not split evenly over 3"));
        for other in [DeviceSpec::Cpu, DeviceSpec::TchCpu, DeviceSpec::TchCuda(0)] {
            let msg = e(&[cuda(0), other]);
            assert!(
                msg.contains(&other.to_string()) && msg.contains("all-reduce"),
                "{msg}"
            );
        }
    }

    #[test]
    fn peers_average_and_agree_to_stop() {
        let peers = Peers::new(3);
        let out: Vec<(Vec<f32>, bool, Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|r| {
                    let peers = &peers;
                    s.spawn(move || {
                        let first = peers.mean(r, &[r as f32, 10.0 * r as f32]);
                        // rank 0 says stop; the others' wish is ignored
                        let go = peers.decide(r, r != 0);
                        let second = peers.mean(r, &[1.0]);
                        let share = |v: &[f32]| peers.mean(r, v);
                        // every rank holds, then rank 2 alone does not
                        assert!(on_every_rank(true, &share));
                        assert!(!on_every_rank(r != 2, &share));
                        (first, go, second)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (first, go, second) in out {
            // (0 + 1 + 2) / 3 = 1, (0 + 10 + 20) / 3 = 10
            assert_eq!(first, vec![1.0, 10.0]);
            assert!(!go);
            assert_eq!(second, vec![1.0]);
        }
    }

    #[test]
    fn rank_zero_keeps_the_step_seed() {
        assert_eq!(rank_seed(42, 0), 42);
        assert_ne!(rank_seed(42, 1), 42);
        assert_ne!(rank_seed(42, 1), rank_seed(42, 2));
    }
}
