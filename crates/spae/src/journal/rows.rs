//! Binary run journals of numbers: an append-only file of fixed-width `f64` rows (bit-exact),
//! for runs whose units are many numbers (Inception features, text features), where JSON lines
//! would be large and not bit-exact. Layout: a magic line, the header's length (u32 LE) and
//! bytes, the row width (u32 LE; 0 until the first rows), then the rows (f64 LE).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{first_difference, JournalError};

const MAGIC: &[u8] = b"SPAE-ROWS-1\n";

/// An open row journal.
pub struct Rows {
    path: PathBuf,
    file: File,
    width: usize,
    /// Where the width is stored.
    width_at: u64,
}

impl Rows {
    /// Opens the row journal at `path` for the run `header` describes (as a [`super::Journal`]'s
    /// header: a journal of another header is refused, naming the first field that differs).
    /// With `resume`, an earlier journal of the same header gives back its rows, cut back to a whole number of `unit`
    /// rows (a kill may leave a partial unit; the file is cut there too), and new rows are
    /// appended; otherwise (or when there is none, or it is unreadable) a new one replaces it.
    pub fn open(
        path: &Path,
        header: &Value,
        unit: usize,
        resume: bool,
    ) -> Result<(Rows, Vec<f64>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let header = header.to_string();
        let width_at = (MAGIC.len() + 4 + header.len()) as u64;
        if resume && path.exists() {
            let mut bytes = Vec::new();
            File::open(path)
                .map_err(io)?
                .read_to_end(&mut bytes)
                .map_err(io)?;
            if let Some((found, width, rows)) = parse(&bytes) {
                let want: Value = serde_json::from_str(&header).expect("a JSON value's text");
                let found = serde_json::from_str(&found).unwrap_or(Value::String(found));
                if let Some(what) = first_difference(&want, &found, "") {
                    return Err(JournalError::OtherRun {
                        path: path.to_path_buf(),
                        what,
                    });
                }
                let whole = match width {
                    0 => 0,
                    w => rows.len() / 8 / w / unit.max(1) * unit.max(1),
                };
                let values: Vec<f64> = rows[..whole * width * 8]
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect();
                let mut file = OpenOptions::new().write(true).open(path).map_err(io)?;
                file.set_len(width_at + 4 + (values.len() * 8) as u64)
                    .map_err(io)?;
                file.seek(SeekFrom::End(0)).map_err(io)?;
                let r = Rows {
                    path: path.to_path_buf(),
                    file,
                    width,
                    width_at,
                };
                return Ok((r, values));
            }
            tracing::warn!("{} is unreadable: starting over", path.display());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = File::create(path).map_err(io)?;
        let mut head = MAGIC.to_vec();
        head.extend((header.len() as u32).to_le_bytes());
        head.extend(header.as_bytes());
        head.extend(0u32.to_le_bytes());
        file.write_all(&head).map_err(io)?;
        let r = Rows {
            path: path.to_path_buf(),
            file,
            width: 0,
            width_at,
        };
        Ok((r, Vec::new()))
    }

    /// The row width (0 before the first rows).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Appends rows of `width` numbers (the first call sets the width).
    pub fn append(&mut self, values: &[f64], width: usize) -> Result<(), JournalError> {
        let bad = |message: String| JournalError::Corrupt {
            path: self.path.clone(),
            line: 0,
            message,
        };
        if width == 0 || !values.len().is_multiple_of(width) {
            return Err(bad(format!(
                "{} numbers are not rows of {width}",
                values.len()
            )));
        }
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        if self.width == 0 {
            self.file.seek(SeekFrom::Start(self.width_at)).map_err(io)?;
            self.file
                .write_all(&(width as u32).to_le_bytes())
                .map_err(io)?;
            self.file.seek(SeekFrom::End(0)).map_err(io)?;
            self.width = width;
        } else if width != self.width {
            return Err(bad(format!(
                "rows of {width}, the journal's are {}",
                self.width
            )));
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.file.write_all(&bytes).map_err(io)
    }
}

/// Header, width and row bytes of a row journal; `None` when it is not one.
fn parse(bytes: &[u8]) -> Option<(String, usize, &[u8])> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let header = std::str::from_utf8(rest.get(4..4 + len)?).ok()?.to_string();
    let rest = rest.get(4 + len..)?;
    let width = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    Some((header, width, &rest[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_bit_exact_in_whole_units() {
        let (a, b) = (
            serde_json::json!({"run": "a"}),
            serde_json::json!({"run": "b"}),
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.rows");
        let (mut r, old) = Rows::open(&p, &a, 2, true).unwrap();
        assert!(old.is_empty());
        let v = [0.1, 1.0 / 3.0, -2.5e-300, f64::MAX, 7.0, 8.0];
        r.append(&v[..4], 2).unwrap();
        assert!(r.append(&v[..3], 2).is_err(), "not whole rows");
        r.append(&v[4..], 2).unwrap();
        drop(r);
        // A kill inside a row: cut back; units of 2 rows: the third row goes too.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[9; 5]).unwrap();
        drop(f);
        let (mut r, old) = Rows::open(&p, &a, 2, true).unwrap();
        assert_eq!(old, v[..4].to_vec());
        assert_eq!(r.width(), 2);
        r.append(&[1.0, 2.0], 2).unwrap();
        drop(r);
        let (_, old) = Rows::open(&p, &a, 1, true).unwrap();
        assert_eq!(old, [&v[..4], &[1.0, 2.0][..]].concat());
        let e = Rows::open(&p, &b, 1, true).err().unwrap().to_string();
        assert!(
            e.contains("different run") && e.contains("run: \"b\" here"),
            "{e}"
        );
        let (_, old) = Rows::open(&p, &b, 1, false).unwrap();
        assert!(old.is_empty());
    }
}
