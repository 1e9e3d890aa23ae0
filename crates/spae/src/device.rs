//! The one compute device of a run, named by the user (`--device`, `SPAE_DEVICE`) and passed down
//! as a value: the libraries never pick one themselves.

use std::fmt;
use std::str::FromStr;

pub use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The environment variable read when no `--device` is given.
pub const DEVICE_ENV: &str = "SPAE_DEVICE";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("unknown device '{0}': cpu, cuda[:N], tch-cpu or tch-cuda[:N]")]
    Unknown(String),
    #[error("device '{0}' needs spae built with `--features {1}`")]
    NotBuilt(String, &'static str),
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

    /// The burn device; an error when this build lacks the backend's feature.
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda(n) => Ok(Device::cuda(n)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(_) => Err(DeviceError::NotBuilt(self.to_string(), "cuda")),
            #[cfg(feature = "tch")]
            #[allow(deprecated)] // burn 0.22 deprecates libtorch but still ships it
            Self::TchCpu => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCuda(n) => Ok(Device::libtorch_cuda(n)),
            #[cfg(not(feature = "tch"))]
            Self::TchCpu | Self::TchCuda(_) => Err(DeviceError::NotBuilt(self.to_string(), "tch")),
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
