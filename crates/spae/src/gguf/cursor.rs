//! A bounds-checked little-endian cursor over a GGUF file's bytes: every read is checked
//! against the file's size, nested arrays are limited in depth, and an array's item count is
//! checked against the bytes left before anything is allocated for it.

use std::path::Path;

use super::{GgufError, Value};

/// Deepest nesting of metadata arrays accepted (real files use 1): without a limit a small
/// file of nested array headers recurses until the stack overflows.
pub const MAX_ARRAY_NESTING: usize = 8;

/// A bounds-checked little-endian cursor over the file.
pub(super) struct Cursor<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    pub path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let start = self.pos as u64;
        let end = start.saturating_add(n);
        if end > self.data.len() as u64 {
            return Err(GgufError::Truncated {
                path: self.path.to_path_buf(),
                what: what.to_string(),
                start,
                end,
                len: self.data.len() as u64,
            });
        }
        let slice = &self.data[self.pos..end as usize];
        self.pos = end as usize;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let b = self.take(N as u64, what)?;
        Ok(b.try_into().expect("take returned N bytes"))
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, GgufError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16, GgufError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::Malformed {
            path: self.path.to_path_buf(),
            what: format!("{what} is not valid UTF-8"),
        })
    }

    /// One metadata value of type id `ty`; `depth` counts the arrays it is nested in.
    pub fn value(&mut self, ty: u32, what: &str, depth: usize) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U8(self.u8(what)?),
            1 => Value::I8(self.u8(what)? as i8),
            2 => Value::U16(self.u16(what)?),
            3 => Value::I16(self.u16(what)? as i16),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(self.u32(what)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(what)?)),
            7 => Value::Bool(self.u8(what)? != 0),
            8 => Value::String(self.string(what)?),
            9 => {
                if depth >= MAX_ARRAY_NESTING {
                    return Err(GgufError::Malformed {
                        path: self.path.to_path_buf(),
                        what: format!("{what}: arrays nested deeper than {MAX_ARRAY_NESTING}"),
                    });
                }
                let item_ty = self.u32(what)?;
                let n = self.u64(what)?;
                // Every item takes at least one byte: a count beyond the file is malformed.
                if n > (self.data.len() - self.pos) as u64 {
                    return Err(GgufError::Malformed {
                        path: self.path.to_path_buf(),
                        what: format!("{what}: array of {n} items cannot fit in the file"),
                    });
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(item_ty, what, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(self.u64(what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(what)?)),
            other => {
                return Err(GgufError::Malformed {
                    path: self.path.to_path_buf(),
                    what: format!("{what}: unknown metadata value type {other}"),
                })
            }
        })
    }
}
