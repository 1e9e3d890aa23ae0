//! Pretrained weights in safetensors files, read into burn tensors with their names, shapes and
//! dtypes checked: a missing tensor or a wrong shape is an error naming the file and the tensor.

use std::path::{Path, PathBuf};

use burn::store::ApplyResult;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WeightsError {
    #[error("cannot read weights {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("weights {path} are not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// What went wrong when a stored module was applied to a model: `None` when every tensor was
/// loaded and nothing was left over, else "N missing, N unexpected, N errors".
pub fn incomplete(result: &ApplyResult) -> Option<String> {
    (!result.missing.is_empty() || !result.errors.is_empty() || !result.unused.is_empty()).then(
        || {
            format!(
                "{} missing, {} unexpected, {} errors",
                result.missing.len(),
                result.unused.len(),
                result.errors.len()
            )
        },
    )
}

/// A safetensors file held in memory.
pub struct Weights {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Weights {
    pub fn open(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let w = Weights {
            path: path.to_path_buf(),
            bytes,
        };
        w.parse()?;
        Ok(w)
    }

    /// sha256 of the file, hex.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        format!("{:x}", Sha256::digest(&self.bytes))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn parse(&self) -> Result<SafeTensors<'_>, WeightsError> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| self.invalid(e.to_string()))
    }

    /// An error about this file.
    pub fn invalid(&self, reason: String) -> WeightsError {
        WeightsError::Invalid {
            path: self.path.clone(),
            reason,
        }
    }

    /// The shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, WeightsError> {
        let st = self.parse()?;
        let t = st
            .tensor(name)
            .map_err(|_| self.invalid(format!("tensor {name} is missing")))?;
        Ok(t.shape().to_vec())
    }

    /// The F32 values of tensor `name`, which must have `shape`.
    pub fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsError> {
        let st = self.parse()?;
        let t = st
            .tensor(name)
            .map_err(|_| self.invalid(format!("tensor {name} is missing")))?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            return Err(self.invalid(format!(
                "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Tensor `name` of `shape` on `device`.
    pub fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>, WeightsError> {
        let v = self.floats(name, &shape)?;
        Ok(Tensor::<D>::from_data(TensorData::new(v, shape), device))
    }
}
