//! A few-shot run's episodes in a run journal ([`spae::journal::Journal`]): one line per
//! finished episode, read back by `--resume`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use spae::journal::Journal;

use super::{EpisodeLog, EpisodeRecord, FewshotError, Setting};

/// One journal line: which episode, and its answers.
#[derive(Serialize, Deserialize)]
struct Line {
    layers: usize,
    setting: Setting,
    episode: usize,
    #[serde(flatten)]
    record: EpisodeRecord,
}

/// Episodes kept in a journal file.
pub struct JournalLog {
    journal: Journal,
    done: HashMap<(usize, Setting), Vec<EpisodeRecord>>,
}

impl JournalLog {
    /// Opens the journal at `path` for the run `header` describes (see [`Journal::open`]); with
    /// `resume`, the episodes an earlier run of the same header finished are kept.
    pub fn open(
        path: &Path,
        header: &serde_json::Value,
        resume: bool,
    ) -> Result<Self, FewshotError> {
        let (journal, lines) = Journal::open::<Line>(path, header, resume)?;
        let mut done: HashMap<(usize, Setting), Vec<EpisodeRecord>> = HashMap::new();
        for l in lines {
            let eps = done.entry((l.layers, l.setting)).or_default();
            if l.episode != eps.len() {
                return Err(FewshotError::Data(format!(
                    "run journal {}: episode {} of {} at {} layer(s) follows {} episodes",
                    path.display(),
                    l.episode,
                    l.setting.name(),
                    l.layers,
                    eps.len()
                )));
            }
            eps.push(l.record);
        }
        Ok(JournalLog { journal, done })
    }

    /// Episodes read back from an earlier run.
    pub fn resumed(&self) -> usize {
        self.done.values().map(Vec::len).sum()
    }
}

impl EpisodeLog for JournalLog {
    fn done(&self, layers: usize, setting: &Setting) -> Vec<EpisodeRecord> {
        self.done
            .get(&(layers, *setting))
            .cloned()
            .unwrap_or_default()
    }

    fn record(
        &mut self,
        layers: usize,
        setting: &Setting,
        episode: usize,
        record: &EpisodeRecord,
    ) -> Result<(), FewshotError> {
        let line = Line {
            layers,
            setting: *setting,
            episode,
            record: record.clone(),
        };
        Ok(self.journal.append(&line)?)
    }
}
