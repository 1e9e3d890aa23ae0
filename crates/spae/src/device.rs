//! The one compute device of a run, named by the user (`--device`, `SPAE_DEVICE`) and passed down
//! as a value: the libraries never pick one themselves.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

pub use burn::tensor::Device;
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

/// The environment variable read when no `--device` is given.
pub const DEVICE_ENV: &str = "SPAE_DEVICE";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device '{0}': cpu, cuda[:N], tch-cpu or tch-cuda[:N]")]
    Unknown(String),
    #[error("device '{0}' needs spae built with `--features {1}`")]
    NotBuilt(String, &'static str),
    #[error("device '{0}' cannot start: {1}")]
    Unavailable(String, String),
}

/// A device by name: `cpu` (burn's pure-Rust flex backend, the default), `cuda[:N]` (burn's
/// CUDA backend, feature `cuda`), `tch-cpu` / `tch-cuda[:N]` (libtorch, feature `tch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
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
            t => {
                if let Some(rest) = t.strip_prefix("tch-cuda") {
                    Ok(Self::TchCuda(index(rest)?))
                } else if let Some(rest) = t.strip_prefix("cuda") {
                    Ok(Self::Cuda(index(rest)?))
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
        ] {
            assert_eq!(name.parse::<DeviceSpec>().unwrap(), spec);
            assert_eq!(spec.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
        for bad in ["gpu", "cuda:", "cuda:x", "cuda1", "tch"] {
            assert_eq!(
                bad.parse::<DeviceSpec>(),
                Err(DeviceError::Unknown(bad.into()))
            );
        }
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
        if !cfg!(feature = "tch") {
            assert!(matches!(
                DeviceSpec::TchCpu.device(),
                Err(DeviceError::NotBuilt(_, "tch"))
            ));
        }
    }
}
