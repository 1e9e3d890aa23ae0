//! Eq. 5 over a whole codebook: the text feature `t(k)` of every word, computed once per
//! (codebook, scorer, templates) and cached on disk as safetensors whose metadata names all three
//! fingerprints. A cache written for anything else (or unreadable) is rebuilt, never used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use super::templates::fill;
use super::token_text_feature;
use crate::journal::{JournalError, Rows};
use crate::scorer::error::ScorerError;

/// Codebook words searched for the class name's nearest, in the hit rate of `spae eval semantic`
/// and `spae eval scorer`.
pub const HIT_WORDS: usize = 50;

/// `s(I, k) = f_img(I) . t(k)` for every codebook word (Eq. 6 before its normalisation).
pub fn similarities(image: &[f32], text: &TextFeatures) -> Vec<f32> {
    (0..text.len())
        .map(|k| text.row(k).iter().zip(image).map(|(a, b)| a * b).sum())
        .collect()
}

/// The `k` codebook indices whose token text features score highest against `f`, best first.
pub fn best_words(f: &[f32], words: &TextFeatures, k: usize) -> Vec<u32> {
    let s = similarities(f, words);
    let mut order: Vec<u32> = (0..s.len() as u32).collect();
    order.sort_by(|&a, &b| s[b as usize].total_cmp(&s[a as usize]));
    order.truncate(k);
    order
}

/// `t(k)` for every codebook word, row-major `K x dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFeatures {
    pub dim: usize,
    pub rows: Vec<f32>,
}

impl TextFeatures {
    pub fn len(&self) -> usize {
        self.rows.len() / self.dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn row(&self, k: usize) -> &[f32] {
        &self.rows[k * self.dim..(k + 1) * self.dim]
    }
}

/// What a cache file was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheKey {
    /// sha256 of the codebook's words (ids and texts, in order).
    pub codebook: String,
    /// A fingerprint of the scorer's weights.
    pub scorer: String,
    /// sha256 of the templates.
    pub templates: String,
}

impl CacheKey {
    pub fn new(words: &[(u32, String)], scorer: &str, templates: &[&str]) -> Self {
        let mut h = Sha256::new();
        for (id, text) in words {
            h.update(id.to_le_bytes());
            h.update(text.as_bytes());
            h.update([0]);
        }
        let codebook = format!("{:x}", h.finalize());
        let templates = format!("{:x}", Sha256::digest(templates.join("\n").as_bytes()));
        CacheKey {
            codebook,
            scorer: scorer.to_string(),
            templates,
        }
    }

    /// The cache file for this key under `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(format!(
            "text-features-{}-{}-{}.safetensors",
            &self.codebook[..16],
            &self.scorer[..16.min(self.scorer.len())],
            &self.templates[..16]
        ))
    }

    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("codebook".to_string(), self.codebook.clone()),
            ("scorer".to_string(), self.scorer.clone()),
            ("templates".to_string(), self.templates.clone()),
        ])
    }
}

/// A text encoder: texts in, unit-length embeddings out.
pub type EmbedFn<'a> = dyn FnMut(&[String]) -> Result<Vec<Vec<f32>>, ScorerError> + 'a;

/// Eq. 5 for every word: the templates filled with the word (leading space trimmed), embedded by
/// `embed` (unit vectors), averaged and normalised. `progress` gets the number of words done.
pub fn token_text_features(
    words: &[String],
    templates: &[&str],
    embed: &mut EmbedFn<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<TextFeatures, ScorerError> {
    let empty = TextFeatures {
        dim: 0,
        rows: Vec::new(),
    };
    features_after(words, templates, embed, progress, empty, &mut |_| Ok(()))
}

/// Words per embedding call: a few hundred sentences at a time.
fn words_per_call(templates: &[&str]) -> usize {
    (512 / templates.len().max(1)).max(1)
}

/// [`token_text_features`] continued after `start` (the features of the first words, a whole
/// number of calls, from a killed run); `on_call` gets the features of each call's words as
/// they are computed.
fn features_after(
    words: &[String],
    templates: &[&str],
    embed: &mut EmbedFn<'_>,
    progress: &mut dyn FnMut(usize),
    start: TextFeatures,
    on_call: &mut dyn FnMut(&TextFeatures) -> Result<(), JournalError>,
) -> Result<TextFeatures, ScorerError> {
    let per_call = words_per_call(templates);
    let TextFeatures { mut dim, mut rows } = start;
    let first = start_words(&rows, dim);
    for (done, chunk) in words[first..].chunks(per_call).enumerate() {
        let texts: Vec<String> = chunk
            .iter()
            .flat_map(|w| templates.iter().map(move |t| fill(t, w.trim())))
            .collect();
        let emb = embed(&texts)?;
        let mut new = Vec::new();
        for per_word in emb.chunks(templates.len()) {
            let t = token_text_feature(per_word);
            dim = t.len();
            new.extend(t);
        }
        let call = TextFeatures { dim, rows: new };
        on_call(&call)?;
        rows.extend(call.rows);
        progress((first + done * per_call + chunk.len()).min(words.len()));
    }
    Ok(TextFeatures { dim, rows })
}

/// Words whose features `rows` of width `dim` hold.
fn start_words(rows: &[f32], dim: usize) -> usize {
    rows.len().checked_div(dim).unwrap_or(0)
}

/// Reads a cache file if it exists and was written for `key` with `k` rows; `None` otherwise.
pub fn read_cache(path: &Path, key: &CacheKey, k: usize) -> Option<TextFeatures> {
    let bytes = std::fs::read(path).ok()?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).ok()?;
    if meta.metadata().as_ref()? != &key.metadata() {
        return None;
    }
    let st = SafeTensors::deserialize(&bytes).ok()?;
    let t = st.tensor("text_features").ok()?;
    if t.dtype() != Dtype::F32 || t.shape().len() != 2 || t.shape()[0] != k {
        return None;
    }
    Some(TextFeatures {
        dim: t.shape()[1],
        rows: t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    })
}

/// Writes a cache file atomically.
pub fn write_cache(path: &Path, key: &CacheKey, f: &TextFeatures) -> std::io::Result<()> {
    let bytes: Vec<u8> = f.rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![f.len(), f.dim], &bytes)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let data = safetensors::serialize([("text_features", view)], Some(key.metadata()))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::io::write_atomic(path, &data)
}

/// The cached features for `key`, or freshly computed (and cached) ones. Returns whether the
/// cache was used.
pub fn cached_text_features(
    cache_dir: &Path,
    key: &CacheKey,
    words: &[String],
    templates: &[&str],
    embed: &mut EmbedFn<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<(TextFeatures, bool), ScorerError> {
    let path = key.path(cache_dir);
    if let Some(f) = read_cache(&path, key, words.len()) {
        return Ok((f, true));
    }
    if path.exists() {
        tracing::warn!("{} is stale or unreadable: rebuilding it", path.display());
    }
    // A killed run's features continue from its partial file (a row journal named and headed
    // by the same key), which every embedding call appends to; the finished cache replaces it.
    let partial = path.with_extension("partial");
    let header = serde_json::json!(key.metadata());
    let (mut rows, done) = Rows::open(&partial, &header, words_per_call(templates), true)?;
    let start = TextFeatures {
        dim: rows.width(),
        rows: done.iter().map(|&v| v as f32).collect(),
    };
    if !start.rows.is_empty() {
        tracing::info!(
            "{}: continuing after {} of {} words",
            partial.display(),
            start_words(&start.rows, start.dim),
            words.len()
        );
    }
    let f = features_after(words, templates, embed, progress, start, &mut |call| {
        let values: Vec<f64> = call.rows.iter().map(|&v| f64::from(v)).collect();
        rows.append(&values, call.dim)
    })?;
    write_cache(&path, key, &f).map_err(|source| ScorerError::Io {
        path: path.clone(),
        source,
    })?;
    let _ = std::fs::remove_file(&partial);
    Ok((f, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in text encoder: a unit vector from the text's bytes; fails after `fail_after`
    /// calls when given.
    fn fake_embed(
        calls: &mut usize,
        fail_after: Option<usize>,
        texts: &[String],
    ) -> Result<Vec<Vec<f32>>, ScorerError> {
        *calls += 1;
        if fail_after.is_some_and(|n| *calls > n) {
            return Err(ScorerError::Io {
                path: "killed".into(),
                source: std::io::Error::other("killed"),
            });
        }
        Ok(texts
            .iter()
            .map(|t| {
                let v: Vec<f32> = (0..4)
                    .map(|i| {
                        t.bytes()
                            .map(|b| f32::from(b) * (i as f32 + 1.0))
                            .sum::<f32>()
                            .sin()
                    })
                    .collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }

    #[test]
    fn a_killed_feature_run_continues_to_the_same_features() {
        let dir = tempfile::tempdir().unwrap();
        let words: Vec<String> = (0..300).map(|i| format!(" w{i}")).collect();
        let pairs: Vec<(u32, String)> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (i as u32, w.clone()))
            .collect();
        let templates = ["a {}.", "the {}!", "{}"];
        let key = CacheKey::new(&pairs, "fake-scorer-0123456789", &templates);
        let whole = {
            let mut calls = 0;
            token_text_features(
                &words,
                &templates,
                &mut |t| fake_embed(&mut calls, None, t),
                &mut |_| {},
            )
            .unwrap()
        };
        // 170 words per call: the first call's words survive the failure of the second.
        let mut calls = 0;
        let e = cached_text_features(
            dir.path(),
            &key,
            &words,
            &templates,
            &mut |t| fake_embed(&mut calls, Some(1), t),
            &mut |_| {},
        );
        assert!(e.is_err());
        let partial = key.path(dir.path()).with_extension("partial");
        assert!(partial.exists());
        // A write cut short inside a row is cut back too.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&partial)
            .unwrap();
        std::io::Write::write_all(&mut f, &[1, 2, 3]).unwrap();
        drop(f);
        let mut calls = 0;
        let mut seen = Vec::new();
        let (again, cached) = cached_text_features(
            dir.path(),
            &key,
            &words,
            &templates,
            &mut |t| fake_embed(&mut calls, None, t),
            &mut |d| seen.push(d),
        )
        .unwrap();
        assert!(!cached);
        assert_eq!(
            calls, 1,
            "only the words after the first call were embedded"
        );
        assert_eq!(seen, vec![300]);
        assert_eq!(again.dim, whole.dim);
        assert_eq!(
            again.rows, whole.rows,
            "the same features as an uninterrupted run"
        );
        assert!(
            !partial.exists(),
            "the finished cache replaces the partial file"
        );
    }

    #[test]
    fn similarities_and_best_words_by_hand() {
        // Three words in 2-d: (1, 0), (0, 1), (0.6, 0.8); the image feature (0.8, 0.6) scores
        // 0.8, 0.6 and 0.48 + 0.48 = 0.96.
        let words = TextFeatures {
            dim: 2,
            rows: vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8],
        };
        let s = similarities(&[0.8, 0.6], &words);
        for (a, b) in s.iter().zip([0.8, 0.6, 0.96]) {
            assert!((a - b).abs() < 1e-6, "{s:?}");
        }
        assert_eq!(best_words(&[0.8, 0.6], &words, 2), vec![2, 0]);
    }
}
