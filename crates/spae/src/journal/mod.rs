//! Append-only run journals: a long evaluation writes one JSON line per finished unit (an
//! episode, an image, a batch) as it goes, so a killed run resumes where it stopped
//! (`--resume`) and its final figures are those of an uninterrupted run.
//!
//! The file is JSON Lines: the first line is the run's header (everything that decides the
//! results: model, data, settings, seed), each further line one record. A line cut short by a
//! kill is dropped on resume (only the last line can be, and the file is cut back to the last
//! whole line); a header that differs from the resuming run's is refused, naming the first
//! field that differs, so records of two different runs never mix.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

pub mod rows;
pub use rows::Rows;

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("run journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("run journal {path}, line {line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "run journal {path} was written by a different run ({what}); run without --resume to \
         start over, or give another --out"
    )]
    OtherRun { path: PathBuf, what: String },
}

/// An open journal, appending records.
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// The journal kept next to a report `out`: `out` with `.journal.jsonl` appended.
    pub fn beside(out: &Path) -> PathBuf {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".journal.jsonl");
        out.with_file_name(name)
    }

    /// Opens the journal at `path` for a run described by `header`. With `resume`, an earlier
    /// journal of the same run gives back its records (a last line cut short is dropped) and
    /// new ones are appended; without `resume`, or when there is none, a new journal replaces
    /// any earlier file.
    pub fn open<T: DeserializeOwned>(
        path: &Path,
        header: &Value,
        resume: bool,
    ) -> Result<(Journal, Vec<T>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if resume && path.exists() {
            let (records, good_len) = read(path, header)?;
            let file = OpenOptions::new().write(true).open(path).map_err(io)?;
            // Drop a partial last line, then append after the whole ones.
            file.set_len(good_len).map_err(io)?;
            let mut j = Journal {
                path: path.to_path_buf(),
                file,
            };
            std::io::Seek::seek(&mut j.file, std::io::SeekFrom::End(0)).map_err(io)?;
            return Ok((j, records));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let file = File::create(path).map_err(io)?;
        let mut j = Journal {
            path: path.to_path_buf(),
            file,
        };
        j.write_line(header)?;
        Ok((j, Vec::new()))
    }

    /// Appends one record and flushes it to disk before returning, so that a record the caller
    /// has counted is never lost.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<(), JournalError> {
        self.write_line(record)
    }

    fn write_line<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(v).map_err(|e| JournalError::Corrupt {
            path: self.path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// The records of the journal at `path` and the length of its whole lines; its header must
/// equal `header`.
fn read<T: DeserializeOwned>(path: &Path, header: &Value) -> Result<(Vec<T>, u64), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut records = Vec::new();
    let (mut good_len, mut n) = (0u64, 0usize);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let len = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if len == 0 || buf.last() != Some(&b'\n') {
            // End of file, or a line a kill cut short: dropped.
            break;
        }
        n += 1;
        let corrupt = |message: String| JournalError::Corrupt {
            path: path.to_path_buf(),
            line: n,
            message,
        };
        if n == 1 {
            let found: Value =
                serde_json::from_slice(&buf).map_err(|e| corrupt(format!("header: {e}")))?;
            if let Some(what) = first_difference(header, &found, "") {
                return Err(JournalError::OtherRun {
                    path: path.to_path_buf(),
                    what,
                });
            }
        } else {
            records.push(serde_json::from_slice(&buf).map_err(|e| corrupt(e.to_string()))?);
        }
        good_len += len as u64;
    }
    if n == 0 {
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            message: "no header line".into(),
        });
    }
    Ok((records, good_len))
}

/// Where `found` differs from `want`: the first differing field's path and both values.
pub fn first_difference(want: &Value, found: &Value, at: &str) -> Option<String> {
    match (want, found) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            keys.into_iter().find_map(|k| {
                let here = format!("{at}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(x, y, &here),
                    (x, y) => Some(format!(
                        "{here}: {} here, {} in the journal",
                        show(x),
                        show(y)
                    )),
                }
            })
        }
        _ if want == found => None,
        _ => Some(format!(
            "{}: {want} here, {found} in the journal",
            if at.is_empty() { "header" } else { &at[1..] }
        )),
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "absent".to_string(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resumes_records_and_drops_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = Journal::beside(&dir.path().join("r.json"));
        assert!(p.ends_with("r.json.journal.jsonl"));
        let h = json!({"seed": 1, "cfg": {"way": 2}});
        let (mut j, old) = Journal::open::<u32>(&p, &h, true).unwrap();
        assert!(old.is_empty());
        j.append(&7u32).unwrap();
        j.append(&8u32).unwrap();
        drop(j);
        // A kill in the middle of the third record.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"12").unwrap();
        drop(f);
        let (mut j, old) = Journal::open::<u32>(&p, &h, true).unwrap();
        assert_eq!(old, vec![7, 8]);
        j.append(&9u32).unwrap();
        drop(j);
        let (_, old) = Journal::open::<u32>(&p, &h, true).unwrap();
        assert_eq!(
            old,
            vec![7, 8, 9],
            "the cut line is gone, the new one follows"
        );
        // Without --resume the journal starts over.
        let (_, old) = Journal::open::<u32>(&p, &h, false).unwrap();
        assert!(old.is_empty());
        let (_, old) = Journal::open::<u32>(&p, &h, true).unwrap();
        assert!(old.is_empty());
    }

    #[test]
    fn another_runs_journal_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        Journal::open::<u32>(&p, &json!({"seed": 1, "cfg": {"way": 2}}), false).unwrap();
        let e = Journal::open::<u32>(&p, &json!({"seed": 1, "cfg": {"way": 5}}), true)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cfg.way: 5 here, 2 in the journal"), "{e}");
        let e = Journal::open::<u32>(&p, &json!({"seed": 1}), true)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cfg: absent here"), "{e}");
        // A record that is not one: a clear error with its line.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"\"x\"\n").unwrap();
        drop(f);
        let h = json!({"seed": 1, "cfg": {"way": 2}});
        let e = Journal::open::<u32>(&p, &h, true)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
