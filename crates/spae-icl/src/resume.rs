//! Resumable tasks: a task hands each finished unit (an episode, a query) to a [`RunLog`]; the
//! journal-backed [`JournalLog`] writes it as one line of a run journal
//! ([`spae::journal::Journal`]), so that a killed run continued with `--resume` reads the
//! finished units back instead of asking the LLM again, and reports what an uninterrupted run
//! reports.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spae::journal::Journal;

use crate::error::TaskError;

/// Where a task keeps its finished units: per key (a setting at a layer count), in order.
pub trait RunLog<K, R> {
    /// The units of `key` finished before, in order from the first.
    fn done(&self, key: &K) -> Vec<R>;
    /// Keeps unit `index` (0-based) of `key`, just finished.
    fn record(&mut self, key: &K, index: usize, record: &R) -> Result<(), TaskError>;
}

/// A run that keeps nothing (it cannot be resumed).
pub struct NoLog;

impl<K, R> RunLog<K, R> for NoLog {
    fn done(&self, _: &K) -> Vec<R> {
        Vec::new()
    }
    fn record(&mut self, _: &K, _: usize, _: &R) -> Result<(), TaskError> {
        Ok(())
    }
}

/// One journal line: the key's fields, the unit's index and the record's fields.
#[derive(Serialize, Deserialize)]
struct Line<K, R> {
    #[serde(flatten)]
    key: K,
    episode: usize,
    #[serde(flatten)]
    record: R,
}

/// Units kept in a run journal.
pub struct JournalLog<K, R> {
    journal: Journal,
    done: HashMap<K, Vec<R>>,
}

impl<K, R> JournalLog<K, R>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone,
    R: Serialize + DeserializeOwned + Clone,
{
    /// Opens the journal at `path` for the run `header` describes ([`Journal::open`]); with
    /// `resume`, the units an earlier run of the same header finished are kept.
    pub fn open(path: &Path, header: &serde_json::Value, resume: bool) -> Result<Self, TaskError> {
        let (journal, lines) = Journal::open::<Line<K, R>>(path, header, resume)?;
        let mut done: HashMap<K, Vec<R>> = HashMap::new();
        for (n, l) in lines.into_iter().enumerate() {
            let units = done.entry(l.key).or_default();
            if l.episode != units.len() {
                return Err(TaskError::Data(format!(
                    "run journal {}, line {}: episode {} follows {} episodes of its setting",
                    path.display(),
                    n + 2,
                    l.episode,
                    units.len()
                )));
            }
            units.push(l.record);
        }
        Ok(JournalLog { journal, done })
    }

    /// Units read back from an earlier run.
    pub fn resumed(&self) -> usize {
        self.done.values().map(Vec::len).sum()
    }
}

impl<K, R> RunLog<K, R> for JournalLog<K, R>
where
    K: Serialize + Hash + Eq + Clone,
    R: Serialize + Clone,
{
    fn done(&self, key: &K) -> Vec<R> {
        self.done.get(key).cloned().unwrap_or_default()
    }

    fn record(&mut self, key: &K, index: usize, record: &R) -> Result<(), TaskError> {
        let line = Line {
            key: key.clone(),
            episode: index,
            record: record.clone(),
        };
        Ok(self.journal.append(&line)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Hash, PartialEq, Eq, Clone, Debug)]
    struct Key {
        layers: usize,
    }

    #[derive(Serialize, Deserialize, PartialEq, Clone, Debug)]
    struct Rec {
        answer: u32,
    }

    fn rec(answer: u32) -> Rec {
        Rec { answer }
    }

    #[test]
    fn units_come_back_per_key_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let h = serde_json::json!({"task": "t"});
        let mut log = JournalLog::<Key, Rec>::open(&p, &h, false).unwrap();
        let (a, b) = (Key { layers: 1 }, Key { layers: 2 });
        log.record(&a, 0, &rec(1)).unwrap();
        log.record(&b, 0, &rec(2)).unwrap();
        log.record(&a, 1, &rec(3)).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&p).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(last, r#"{"layers":1,"episode":1,"answer":3}"#, "flat lines");
        let log = JournalLog::<Key, Rec>::open(&p, &h, true).unwrap();
        assert_eq!(log.resumed(), 3);
        assert_eq!(log.done(&a), vec![rec(1), rec(3)]);
        assert_eq!(log.done(&b), vec![rec(2)]);
        // A unit out of order is a corrupt journal, named by its line.
        let mut log = JournalLog::<Key, Rec>::open(&p, &h, true).unwrap();
        log.record(&b, 5, &rec(9)).unwrap();
        drop(log);
        let e = JournalLog::<Key, Rec>::open(&p, &h, true).err().unwrap();
        assert!(e.to_string().contains("line 5: episode 5 follows 1"), "{e}");
    }
}
