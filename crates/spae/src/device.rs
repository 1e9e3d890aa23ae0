//! The one compute device of a run, named by the user (`--device`, `SPAE_DEVICE`) and passed down
//! as a value: the libraries never pick one themselves.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use burn::module::{Module, ModuleMapper, Param};
pub use burn::tensor::Device;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Whether `device` is burn's pure-Rust CPU backend (flex), with or without autodiff: where the
/// host kernels (the nearest-word search, the fused layers) run.
pub fn is_flex(device: &Device) -> bool {
    let t = burn::tensor::Tensor::<1>::zeros([1], device);
    t.clone().try_into_primitive::<burn_flex::Flex>().is_ok()
        || t.try_into_primitive::<burn_autodiff::Autodiff<burn_flex::Flex>>()
            .is_ok()
}

/// Seeds a run's random draws: `device`'s generator, and the CPU's (flex), which draws every
/// initial weight ([`drawn`]).
pub fn seed_run(device: &Device, seed: u64) {
    device.seed(seed);
    if !is_flex(device) {
        Device::flex().seed(seed);
    }
}

/// A module whose random initial weights depend on the seed alone: `make` builds it on the CPU
/// (burn's flex backend, seeded by [`seed_run`]), every parameter draws its values there at once,
/// in the module's order, and the module moves to `device`.
///
/// burn otherwise draws a parameter's values when it is first read, on the device it then lives
/// on: in the order of the first forward pass, and from the GPU's generator on a GPU, which draws
/// other numbers from the same seed. So one seed gave one model on the CPU and another on a GPU.
pub fn drawn<M: Module>(device: &Device, make: impl FnOnce(&Device) -> M) -> M {
    if is_flex(device) {
        return make(device).map(&mut Materialise);
    }
    let cpu = match device.is_autodiff() {
        true => Device::flex().autodiff(),
        false => Device::flex(),
    };
    // `fork` makes the moved copies leaves of the autodiff graph, as fresh parameters are.
    make(&cpu).map(&mut Materialise).fork(device)
}

/// Takes every float parameter's value, so that a lazily initialised one draws it now.
struct Materialise;

impl ModuleMapper for Materialise {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// The environment variable read when no `--device` is given.
pub const DEVICE_ENV: &str = "SPAE_DEVICE";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device '{0}': cpu, cuda[:N], wgpu[:N], wgpu-cpu, tch-cpu or tch-cuda[:N]")]
    Unknown(String),
    #[error("device '{0}' needs spae built with `--features {1}`")]
    NotBuilt(String, &'static str),
    #[error("device '{0}' cannot start: {1}")]
    Unavailable(String, String),
}

/// A device by name: `cpu` (burn's pure-Rust flex backend, the default), `cuda[:N]` (burn's
/// CUDA backend, feature `cuda`), `wgpu[:N]` / `wgpu-cpu` (burn's wgpu backend: Vulkan, Metal or
/// DirectX 12, kernels in WGSL; feature `wgpu`), `tch-cpu` / `tch-cuda[:N]` (libtorch, feature
/// `tch`).
///
/// CUDA and wgpu are one burn backend (cubecl's kernels, fusion, autotune) on two runtimes, so
/// `wgpu-cpu` on a software Vulkan (Mesa's lavapipe) runs spae's GPU path on a machine without
/// a GPU: the rehearsal in `scripts/device-check.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
    /// `wgpu`: the adapter wgpu prefers (a high-power GPU first); `wgpu:N`: the N-th discrete
    /// GPU.
    Wgpu(Option<usize>),
    /// `wgpu-cpu`: an adapter that is a CPU (a software Vulkan such as Mesa's lavapipe).
    WgpuCpu,
    TchCpu,
    TchCuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        let unknown = || DeviceError::Unknown(s.to_string());
        let index = |rest: &str| -> Result<usize, DeviceError> {
            match rest {
                "" => Ok(0),
                r => r
                    .strip_prefix(':')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(unknown),
            }
        };
        match s.trim() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "tch-cpu" => Ok(Self::TchCpu),
            "wgpu" => Ok(Self::Wgpu(None)),
            "wgpu-cpu" => Ok(Self::WgpuCpu),
            t => {
                if let Some(rest) = t.strip_prefix("tch-cuda") {
                    Ok(Self::TchCuda(index(rest)?))
                } else if let Some(rest) = t.strip_prefix("cuda") {
                    Ok(Self::Cuda(index(rest)?))
                } else if let Some(rest) = t.strip_prefix("wgpu") {
                    // Plain `wgpu` matched above, so `rest` is `:N` or wrong.
                    Ok(Self::Wgpu(Some(index(rest)?)))
                } else {
                    Err(unknown())
                }
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu(None) => write!(f, "wgpu"),
            Self::Wgpu(Some(n)) => write!(f, "wgpu:{n}"),
            Self::WgpuCpu => write!(f, "wgpu-cpu"),
            Self::TchCpu => write!(f, "tch-cpu"),
            Self::TchCuda(n) => write!(f, "tch-cuda:{n}"),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = DeviceError;
    fn try_from(s: String) -> Result<Self, DeviceError> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl DeviceSpec {
    /// `name` if given, else `$SPAE_DEVICE` if set and not empty, else the CPU.
    pub fn resolve(name: Option<&str>) -> Result<Self, DeviceError> {
        match name {
            Some(n) => n.parse(),
            None => match std::env::var(DEVICE_ENV) {
                Ok(v) if !v.trim().is_empty() => v.parse(),
                _ => Ok(Self::Cpu),
            },
        }
    }

    /// The burn device; an error when this build lacks the backend's feature, or when a GPU
    /// backend cannot start (no driver, no such GPU: see [`probe`]).
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda(n) => probe(self, Device::cuda(n)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(_) => Err(DeviceError::NotBuilt(self.to_string(), "cuda")),
            #[cfg(feature = "wgpu")]
            Self::Wgpu(n) => probe(
                self,
                Device::wgpu(n.map_or(burn::tensor::DeviceKind::DefaultDevice, |n| {
                    burn::tensor::DeviceKind::DiscreteGpu(n)
                })),
            ),
            #[cfg(feature = "wgpu")]
            Self::WgpuCpu => probe(self, Device::wgpu(burn::tensor::DeviceKind::Cpu)),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu(_) | Self::WgpuCpu => Err(DeviceError::NotBuilt(self.to_string(), "wgpu")),
            #[cfg(feature = "tch")]
            #[allow(deprecated)] // burn 0.22 deprecates libtorch but still ships it
            Self::TchCpu => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCuda(n) => probe(self, Device::libtorch_cuda(n)),
            #[cfg(not(feature = "tch"))]
            Self::TchCpu | Self::TchCuda(_) => Err(DeviceError::NotBuilt(self.to_string(), "tch")),
        }
    }
}

/// Runs one small operation on `device` and reads it back, so that a backend which cannot start
/// (burn's CUDA backend panics in a worker thread when the driver library is missing) is a
/// [`DeviceError::Unavailable`] naming the cause, not a panic in the middle of a command.
pub fn probe(spec: DeviceSpec, device: Device) -> Result<Device, DeviceError> {
    let d = device.clone();
    probe_with(spec, move || {
        burn::tensor::Tensor::<1>::zeros([1], &d).into_data();
    })?;
    Ok(device)
}

/// [`probe`]'s mechanism: `op` runs with panics caught, from any thread, quietly; the first
/// panic's message (its first sentence) becomes the error.
fn probe_with(spec: DeviceSpec, op: impl FnOnce()) -> Result<(), DeviceError> {
    let first: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = first.clone();
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the backend panicked".to_string());
        let mut slot = seen.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(text);
    }));
    let outcome = panic::catch_unwind(AssertUnwindSafe(op));
    panic::set_hook(previous);
    match outcome {
        Ok(()) => Ok(()),
        Err(_) => {
            let text = first
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            let short = text.split(" - ").next().unwrap_or(&text).trim().to_string();
            Err(DeviceError::Unavailable(spec.to_string(), short))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for (name, spec) in [
            ("cpu", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
            ("tch-cpu", DeviceSpec::TchCpu),
            ("tch-cuda:1", DeviceSpec::TchCuda(1)),
            ("wgpu", DeviceSpec::Wgpu(None)),
            ("wgpu:2", DeviceSpec::Wgpu(Some(2))),
            ("wgpu-cpu", DeviceSpec::WgpuCpu),
        ] {
            assert_eq!(name.parse::<DeviceSpec>().unwrap(), spec);
            assert_eq!(spec.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
        for bad in [
            "gpu", "cuda:", "cuda:x", "cuda1", "tch", "wgpu:", "wgpu1", "wgpu-gpu",
        ] {
            assert_eq!(
                bad.parse::<DeviceSpec>(),
                Err(DeviceError::Unknown(bad.into()))
            );
        }
    }

    #[test]
    fn drawn_weights_are_drawn_at_once_in_the_modules_order() {
        use burn::nn::{Linear, LinearConfig};
        #[derive(Module, Debug)]
        struct Two {
            first: Linear,
            second: Linear,
        }
        let device = Device::flex().autodiff();
        let make = |d: &Device| Two {
            first: LinearConfig::new(5, 3).init(d),
            second: LinearConfig::new(5, 3).init(d),
        };
        seed_run(&device, 7);
        let two = drawn(&device, make);
        assert!(
            two.first.weight.is_initialized() && two.second.bias.as_ref().unwrap().is_initialized()
        );
        // Read in the other order, the lazily built module would give `first` the values `drawn`
        // gave `second`.
        device.seed(7);
        let lazy = make(&device);
        let second = lazy.second.weight.val().into_data();
        assert_eq!(second, two.first.weight.val().into_data());
        assert_ne!(second, two.second.weight.val().into_data());
        // Another seed, other weights.
        seed_run(&device, 8);
        assert_ne!(
            drawn(&device, make).first.weight.val().into_data(),
            two.first.weight.val().into_data()
        );
    }

    #[test]
    fn a_device_that_cannot_start_is_an_error_with_the_first_panics_message() {
        let err = probe_with(DeviceSpec::Cuda(1), || {
            let worker = std::thread::spawn(|| {
                panic!("Unable to load \"cuda\" - searched for: libcuda.so");
            });
            assert!(worker.join().is_err());
            panic!("RecvError");
        })
        .unwrap_err();
        assert_eq!(
            err,
            DeviceError::Unavailable("cuda:1".into(), "Unable to load \"cuda\"".into())
        );
        assert_eq!(
            err.to_string(),
            "device 'cuda:1' cannot start: Unable to load \"cuda\""
        );
        assert!(probe(DeviceSpec::Cpu, Device::flex()).is_ok());
    }

    #[test]
    fn a_backend_not_built_is_an_error_naming_the_feature() {
        assert!(DeviceSpec::Cpu.device().is_ok());
        if !cfg!(feature = "cuda") {
            assert_eq!(
                DeviceSpec::Cuda(0).device().unwrap_err(),
                DeviceError::NotBuilt("cuda:0".into(), "cuda")
            );
        }
        if !cfg!(feature = "wgpu") {
            assert_eq!(
                DeviceSpec::WgpuCpu.device().unwrap_err(),
                DeviceError::NotBuilt("wgpu-cpu".into(), "wgpu")
            );
        }
        if !cfg!(feature = "tch") {
            assert!(matches!(
                DeviceSpec::TchCpu.device(),
                Err(DeviceError::NotBuilt(_, "tch"))
            ));
        }
    }
}
