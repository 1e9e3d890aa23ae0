//! A GGUF reader: header, metadata, tensor directory, and f32 dequantization of one tensor.
//!
//! The file is memory-mapped (or, for bytes already in memory, [`GgufFile::from_bytes`]); every
//! offset and length read from it is checked against the file's size before use, so a truncated or
//! malformed file is an error naming the file, never a panic.
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

mod cursor;
mod quants;

use cursor::Cursor;

pub use quants::{dequantize, GgmlType, SUPPORTED};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use thiserror::Error;

/// `GGUF` in little-endian byte order.
const MAGIC: u32 = 0x4655_4747;
/// Default data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;

/// Everything that can be wrong with a GGUF file.
#[derive(Debug, Error)]
pub enum GgufError {
    #[error("{path}: cannot open: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a GGUF file (magic {found:#010x}, expected 0x46554747 'GGUF')")]
    BadMagic { path: PathBuf, found: u32 },
    #[error("{path}: unsupported GGUF version {0}", .version)]
    BadVersion { path: PathBuf, version: u32 },
    #[error("{path}: truncated: {what} needs bytes {start}..{end} but the file has {len}")]
    Truncated {
        path: PathBuf,
        what: String,
        start: u64,
        end: u64,
        len: u64,
    },
    #[error("{path}: malformed: {what}")]
    Malformed { path: PathBuf, what: String },
    #[error("{path}: has no tensor named '{name}'")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: has no metadata key '{key}' of the expected type")]
    MissingKey { path: PathBuf, key: String },
    #[error("{path}: tensor '{name}' has type {ty} which this reader cannot dequantize (supported: {supported})")]
    UnsupportedType {
        path: PathBuf,
        name: String,
        ty: String,
        supported: String,
    },
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, when it is an integer of any width that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where one tensor lives in the file.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the fastest-varying (row length).
    pub dims: Vec<u64>,
    /// The element type, when this reader supports it.
    pub ty: Option<GgmlType>,
    /// The raw ggml type id, kept for error messages about unsupported types.
    pub raw_type: u32,
    /// Absolute byte offset of the tensor data in the file.
    pub offset: u64,
}

impl TensorInfo {
    /// The element count (the product of `dims`; a parsed file's never overflows, checked when
    /// it was read).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }
}

/// A GGUF file's bytes: mapped from disk, or owned.
enum Storage {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Storage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// An opened, validated GGUF file.
pub struct GgufFile {
    path: PathBuf,
    map: Storage,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
}

impl GgufFile {
    /// Opens and validates a GGUF file: header, metadata and the tensor directory, and checks that
    /// every tensor's data lies inside the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| GgufError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        // SAFETY: the map is read-only; a file changed underneath us is the user's problem, as
        // with any reader of a mapped file.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Self::parse(Storage::Mapped(map), path)
    }

    /// Validates a GGUF file already in memory as [`GgufFile::open`] does; `name` stands for its
    /// path in errors.
    pub fn from_bytes(bytes: Vec<u8>, name: impl Into<PathBuf>) -> Result<Self, GgufError> {
        Self::parse(Storage::Owned(bytes), name.into())
    }

    fn parse(map: Storage, path: PathBuf) -> Result<Self, GgufError> {
        let mut cur = Cursor {
            data: &map,
            pos: 0,
            path: &path,
        };
        let magic = cur.u32("magic")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic { path, found: magic });
        }
        let version = cur.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::BadVersion { path, version });
        }
        let n_tensors = cur.u64("tensor count")?;
        let n_kv = cur.u64("metadata count")?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = cur.string(&format!("metadata key #{i}"))?;
            let ty = cur.u32(&format!("type of '{key}'"))?;
            let value = cur.value(ty, &format!("value of '{key}'"), 0)?;
            metadata.insert(key, value);
        }
        let mut raw = Vec::new();
        for i in 0..n_tensors {
            let name = cur.string(&format!("tensor name #{i}"))?;
            let n_dims = cur.u32(&format!("dims of '{name}'"))?;
            if n_dims == 0 || n_dims > 8 {
                return Err(GgufError::Malformed {
                    path,
                    what: format!("tensor '{name}' has {n_dims} dimensions"),
                });
            }
            let dims = (0..n_dims)
                .map(|_| cur.u64(&format!("dims of '{name}'")))
                .collect::<Result<Vec<_>, _>>()?;
            if dims
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .is_none()
            {
                return Err(GgufError::Malformed {
                    path,
                    what: format!("tensor '{name}' has shape {dims:?}, too many elements"),
                });
            }
            let raw_type = cur.u32(&format!("type of '{name}'"))?;
            let rel = cur.u64(&format!("offset of '{name}'"))?;
            raw.push((name, dims, raw_type, rel));
        }
        let alignment =
            match metadata.get("general.alignment") {
                Some(v) => v.as_u64().filter(|a| a.is_power_of_two()).ok_or_else(|| {
                    GgufError::Malformed {
                        path: path.clone(),
                        what: format!("general.alignment {v:?} is not a power of two"),
                    }
                })?,
                None => DEFAULT_ALIGNMENT,
            };
        let data_start = (cur.pos as u64).div_ceil(alignment) * alignment;
        let file_len = map.len() as u64;
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, dims, raw_type, rel) in raw {
            let ty = GgmlType::from_id(raw_type);
            let offset = data_start.saturating_add(rel);
            let info = TensorInfo {
                name,
                dims,
                ty,
                raw_type,
                offset,
            };
            if let Some(t) = ty.filter(|t| info.n_elements().is_multiple_of(t.block_size() as u64))
            {
                let Some(nbytes) = t.n_bytes(info.n_elements()) else {
                    return Err(GgufError::Malformed {
                        path,
                        what: format!(
                            "tensor '{}' of shape {:?} is larger than any file",
                            info.name, info.dims
                        ),
                    });
                };
                let end = offset.saturating_add(nbytes);
                if end > file_len {
                    return Err(GgufError::Truncated {
                        path,
                        what: format!("data of tensor '{}'", info.name),
                        start: offset,
                        end,
                        len: file_len,
                    });
                }
            }
            tensors.push(info);
        }
        Ok(GgufFile {
            path,
            map,
            version,
            metadata,
            tensors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| GgufError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })
    }

    /// A string metadata value.
    pub fn meta_str(&self, key: &str) -> Result<&str, GgufError> {
        self.metadata
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| self.missing_key(key))
    }

    /// An array metadata value.
    pub fn meta_array(&self, key: &str) -> Result<&[Value], GgufError> {
        self.metadata
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| self.missing_key(key))
    }

    fn missing_key(&self, key: &str) -> GgufError {
        GgufError::MissingKey {
            path: self.path.clone(),
            key: key.to_string(),
        }
    }

    /// The vocabulary strings (`tokenizer.ggml.tokens`).
    pub fn vocab_tokens(&self) -> Result<Vec<String>, GgufError> {
        let key = "tokenizer.ggml.tokens";
        self.meta_array(key)?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.malformed(format!("{key} holds a non-string item")))
    }

    /// The per-token types (`tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte); `None` when the file has none.
    pub fn vocab_token_types(&self) -> Result<Option<Vec<i32>>, GgufError> {
        let key = "tokenizer.ggml.token_type";
        let Some(v) = self.metadata.get(key) else {
            return Ok(None);
        };
        v.as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_i64().and_then(|i| i32::try_from(i).ok()))
                    .collect::<Option<Vec<_>>>()
            })
            .map(Some)
            .ok_or_else(|| self.malformed(format!("{key} is not an array of integers")))
    }

    fn malformed(&self, what: String) -> GgufError {
        GgufError::Malformed {
            path: self.path.clone(),
            what,
        }
    }

    /// The raw bytes of a tensor's data.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        let ty = self.supported_type(info)?;
        let nbytes = ty.n_bytes(info.n_elements()).ok_or_else(|| {
            self.malformed(format!(
                "tensor '{}' has {} elements, not a multiple of {}'s block size {}",
                info.name,
                info.n_elements(),
                ty.name(),
                ty.block_size()
            ))
        })?;
        let start = info.offset as usize;
        Ok(&self.map[start..start + nbytes as usize])
    }

    fn supported_type(&self, info: &TensorInfo) -> Result<GgmlType, GgufError> {
        info.ty.ok_or_else(|| GgufError::UnsupportedType {
            path: self.path.clone(),
            name: info.name.clone(),
            ty: format!("id {}", info.raw_type),
            supported: GgmlType::supported_names(),
        })
    }

    /// Checks that tensor `name` is a matrix this reader can dequantize; returns its type and
    /// `(rows, cols)` with `rows = dims[1]`, `cols = dims[0]`.
    pub fn matrix_info(
        &self,
        name: &str,
    ) -> Result<(&TensorInfo, GgmlType, usize, usize), GgufError> {
        let info = self.tensor(name)?;
        if info.dims.len() != 2 {
            return Err(self.malformed(format!(
                "tensor '{name}' has shape {:?}, expected a matrix",
                info.dims
            )));
        }
        let (cols, rows) = (info.dims[0] as usize, info.dims[1] as usize);
        let ty = self.supported_type(info)?;
        if cols % ty.block_size() != 0 {
            return Err(self.malformed(format!(
                "tensor '{name}' rows of {cols} are not a multiple of {}'s block size {}",
                ty.name(),
                ty.block_size()
            )));
        }
        Ok((info, ty, rows, cols))
    }

    /// Dequantizes a 2-D tensor to row-major f32: `rows = dims[1]`, `cols = dims[0]`.
    pub fn dequantize_matrix(&self, name: &str) -> Result<(Vec<f32>, usize, usize), GgufError> {
        let (info, ty, rows, cols) = self.matrix_info(name)?;
        let bytes = self.tensor_bytes(info)?;
        let mut out = vec![0f32; rows * cols];
        quants::dequantize(ty, bytes, &mut out);
        Ok((out, rows, cols))
    }
}
