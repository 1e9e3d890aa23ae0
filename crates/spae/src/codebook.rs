//! The frozen language codebook `C = {(k, e(k)) : k in T}` (method.md, Notation).
//!
//! `T` is the subset of an LLM's vocabulary whose tokens are plain words that the LLM's own
//! tokenizer reproduces exactly: a prompt that carries an image as these words is read by the LLM
//! as exactly these token ids. `e(k)` is the LLM's input embedding row of `k`, dequantized from the
//! GGUF file. The codebook is never trained.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::gguf::{GgufError, GgufFile};
use crate::io::write_atomic;

#[derive(Debug, Error)]
pub enum CodebookError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid codebook: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("{model}: tokenizer has {tokenizer} tokens but the embedding table has {table} rows")]
    VocabMismatch {
        model: String,
        tokenizer: usize,
        table: usize,
    },
    #[error("'{0}' is not a word of this codebook (words are single LLM tokens of letters; try a more common word)")]
    UnknownWord(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CodebookError + '_ {
    move |source| CodebookError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The LLM tokenizer, as far as the codebook needs it. Implemented by the llama.cpp backend.
pub trait VocabTokenizer {
    /// Number of tokens in the vocabulary.
    fn n_vocab(&self) -> usize;
    /// The text a token detokenizes to (raw bytes: a token may hold part of a UTF-8 character).
    fn piece(&self, id: u32) -> Vec<u8>;
    /// Tokenizes text as it would appear inside a prompt: no BOS/EOS added, specials not parsed.
    fn tokenize(&self, text: &str) -> Vec<u32>;
}

/// How `T` is chosen. Every rule is a field; defaults follow the foundation issue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CodebookConfig {
    /// GGUF tensor holding the input embeddings `e(k)`.
    pub embedding_tensor: String,
    /// Minimum number of letters in a word (after the leading space).
    pub min_letters: usize,
    /// Words must start with a single space, so that a sequence of them detokenizes to
    /// space-separated text and tokenizes back into the same ids.
    pub leading_space: bool,
    /// Only ASCII letters (`a-z`, `A-Z`); otherwise any Unicode alphabetic character.
    pub ascii_only: bool,
    /// Length of the random word sequences used for the in-context round-trip check.
    pub context_check_len: usize,
    /// Number of shuffled passes over `T` for the in-context round-trip check.
    pub context_check_rounds: usize,
    /// Seed of those shuffles.
    pub seed: u64,
}

impl Default for CodebookConfig {
    fn default() -> Self {
        CodebookConfig {
            embedding_tensor: "token_embd.weight".into(),
            min_letters: 2,
            leading_space: true,
            ascii_only: true,
            context_check_len: 64,
            context_check_rounds: 2,
            seed: 0,
        }
    }
}

/// Why a vocabulary token is not in `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Control, unknown, user-defined, unused or byte token (GGUF `token_type` other than 1).
    Special,
    /// Not valid UTF-8 on its own.
    NotUtf8,
    /// Does not start with exactly one space.
    NoLeadingSpace,
    /// Contains something other than letters.
    NotLetters,
    /// Fewer than `min_letters` letters.
    TooShort,
    /// The tokenizer turns its text into other ids.
    NoRoundTrip,
    /// Round-trips alone but merges with or splits next to another word in a sequence.
    ContextRoundTrip,
}

/// What `build` kept and dropped, for the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BuildReport {
    pub vocab_size: usize,
    pub accepted: usize,
    pub rejected: BTreeMap<Rejection, usize>,
}

/// The LLM a codebook was taken from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceModel {
    /// File name or hub id of the GGUF.
    pub name: String,
    /// sha256 of the GGUF file, hex.
    pub sha256: String,
    pub vocab_size: usize,
}

/// One codebook entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Word {
    /// Id in the LLM's vocabulary.
    pub id: u32,
    /// Its text, leading space included.
    pub text: String,
}

/// The frozen codebook: `|T|` words and their `dim`-wide embeddings, row-major.
#[derive(Debug, Clone)]
pub struct Codebook {
    pub source: SourceModel,
    pub words: Vec<Word>,
    pub dim: usize,
    pub embeddings: Vec<f32>,
    pub report: BuildReport,
}

impl Codebook {
    /// The LLM ids of every word, sorted: the set an LLM may write image words from.
    pub fn sorted_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.words.iter().map(|w| w.id).collect();
        ids.sort_unstable();
        ids
    }

    /// sha256 over the words (ids and texts), the width and the embedding rows, hex: what a
    /// checkpoint records of the codebook it was trained with.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for w in &self.words {
            h.update(w.id.to_le_bytes());
            h.update(w.text.as_bytes());
            h.update([0]);
        }
        h.update((self.dim as u64).to_le_bytes());
        for v in &self.embeddings {
            h.update(v.to_le_bytes());
        }
        format!("{:x}", h.finalize())
    }
}

/// The vocabulary file written beside the safetensors.
#[derive(Serialize, Deserialize)]
struct VocabFile {
    source: SourceModel,
    dim: usize,
    report: BuildReport,
    words: Vec<Word>,
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, CodebookError> {
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The word rule: one leading space (if required), then at least `min_letters` letters.
pub fn classify_text(text: &[u8], cfg: &CodebookConfig) -> Result<(), Rejection> {
    let text = std::str::from_utf8(text).map_err(|_| Rejection::NotUtf8)?;
    let body = if cfg.leading_space {
        match text.strip_prefix(' ') {
            Some(b) if !b.starts_with(' ') => b,
            _ => return Err(Rejection::NoLeadingSpace),
        }
    } else {
        text
    };
    let letter = |c: char| {
        if cfg.ascii_only {
            c.is_ascii_alphabetic()
        } else {
            c.is_alphabetic()
        }
    };
    if !body.chars().all(letter) {
        return Err(Rejection::NotLetters);
    }
    if body.chars().count() < cfg.min_letters {
        return Err(Rejection::TooShort);
    }
    Ok(())
}

impl Codebook {
    /// Builds the codebook of the GGUF model `gguf`, choosing `T` with the model's own tokenizer.
    /// `on_progress` is called with the number of vocabulary tokens examined so far.
    pub fn build(
        gguf: &GgufFile,
        tokenizer: &dyn VocabTokenizer,
        source: SourceModel,
        cfg: &CodebookConfig,
        on_progress: &mut dyn FnMut(usize),
    ) -> Result<Codebook, CodebookError> {
        let (table, rows, dim) = gguf.dequantize_matrix(&cfg.embedding_tensor)?;
        if tokenizer.n_vocab() != rows {
            return Err(CodebookError::VocabMismatch {
                model: source.name.clone(),
                tokenizer: tokenizer.n_vocab(),
                table: rows,
            });
        }
        let types = gguf.vocab_token_types()?;
        let mut report = BuildReport {
            vocab_size: rows,
            ..Default::default()
        };
        let mut reject = |r: Rejection| *report.rejected.entry(r).or_default() += 1;
        let mut kept: Vec<Word> = Vec::new();
        for id in 0..rows as u32 {
            if id % 1024 == 0 {
                on_progress(id as usize);
            }
            if types.as_ref().is_some_and(|t| t[id as usize] != 1) {
                reject(Rejection::Special);
                continue;
            }
            let piece = tokenizer.piece(id);
            if let Err(r) = classify_text(&piece, cfg) {
                reject(r);
                continue;
            }
            let text = String::from_utf8(piece).expect("classify_text checked UTF-8");
            if tokenizer.tokenize(&text) != [id] {
                reject(Rejection::NoRoundTrip);
                continue;
            }
            kept.push(Word { id, text });
        }
        on_progress(rows);
        for bad in context_failures(&kept, tokenizer, cfg) {
            reject(Rejection::ContextRoundTrip);
            kept.retain(|w| w.id != bad);
        }
        report.accepted = kept.len();
        let mut embeddings = Vec::with_capacity(kept.len() * dim);
        for w in &kept {
            let r = w.id as usize;
            embeddings.extend_from_slice(&table[r * dim..(r + 1) * dim]);
        }
        Ok(Codebook {
            source,
            words: kept,
            dim,
            embeddings,
            report,
        })
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The embedding `e(k)` of codebook entry `k`.
    pub fn row(&self, k: usize) -> &[f32] {
        &self.embeddings[k * self.dim..(k + 1) * self.dim]
    }

    /// The codebook index of a word, given with or without its leading space.
    pub fn index_of(&self, word: &str) -> Result<usize, CodebookError> {
        let spaced = format!(" {}", word.trim_start());
        self.words
            .iter()
            .position(|w| w.text == spaced || w.text == word)
            .ok_or_else(|| CodebookError::UnknownWord(word.to_string()))
    }

    /// The `n` nearest words of `word` by cosine similarity of their embeddings, best first,
    /// excluding the word itself.
    pub fn neighbors(&self, word: &str, n: usize) -> Result<Vec<(&Word, f32)>, CodebookError> {
        let q = self.index_of(word)?;
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        let qv = self.row(q);
        let qn = norm(qv);
        let mut scored: Vec<(usize, f32)> = (0..self.len())
            .filter(|&k| k != q)
            .map(|k| {
                let r = self.row(k);
                let dot: f32 = r.iter().zip(qv).map(|(a, b)| a * b).sum();
                (k, dot / (norm(r) * qn))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(scored
            .into_iter()
            .take(n)
            .map(|(k, s)| (&self.words[k], s))
            .collect())
    }

    /// Writes `codebook.safetensors` and `codebook.vocab.json` into `dir`, each atomically.
    pub fn save(&self, dir: &Path) -> Result<(), CodebookError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let ids: Vec<u8> = self.words.iter().flat_map(|w| w.id.to_le_bytes()).collect();
        let emb: Vec<u8> = self
            .embeddings
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let invalid = |what: String| CodebookError::Invalid {
            path: dir.to_path_buf(),
            what,
        };
        let tensors = [
            (
                "embeddings",
                TensorView::new(Dtype::F32, vec![self.len(), self.dim], &emb)
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            (
                "token_ids",
                TensorView::new(Dtype::U32, vec![self.len()], &ids)
                    .map_err(|e| invalid(e.to_string()))?,
            ),
        ];
        let meta = HashMap::from([
            ("source_name".to_string(), self.source.name.clone()),
            ("source_sha256".to_string(), self.source.sha256.clone()),
        ]);
        let bytes =
            safetensors::serialize(tensors, Some(meta)).map_err(|e| invalid(e.to_string()))?;
        let st = dir.join("codebook.safetensors");
        write_atomic(&st, &bytes).map_err(io_err(&st))?;
        let vocab = VocabFile {
            source: self.source.clone(),
            dim: self.dim,
            report: self.report.clone(),
            words: self.words.clone(),
        };
        let js = dir.join("codebook.vocab.json");
        let text = serde_json::to_vec_pretty(&vocab).expect("vocab serializes");
        write_atomic(&js, &text).map_err(io_err(&js))
    }

    /// Loads a codebook saved by [`Codebook::save`], checking that its two files agree.
    pub fn load(dir: &Path) -> Result<Codebook, CodebookError> {
        let js = dir.join("codebook.vocab.json");
        let text = fs::read(&js).map_err(io_err(&js))?;
        let vocab: VocabFile =
            serde_json::from_slice(&text).map_err(|e| CodebookError::Invalid {
                path: js.clone(),
                what: e.to_string(),
            })?;
        let st = dir.join("codebook.safetensors");
        let bytes = fs::read(&st).map_err(io_err(&st))?;
        let invalid = |what: String| CodebookError::Invalid {
            path: st.clone(),
            what,
        };
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| invalid(e.to_string()))?;
        let sha = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("source_sha256").cloned());
        if sha.as_deref() != Some(vocab.source.sha256.as_str()) {
            return Err(invalid(format!(
                "source model sha256 {sha:?} differs from the vocabulary file's {}",
                vocab.source.sha256
            )));
        }
        let tensors =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| invalid(e.to_string()))?;
        let emb = tensors
            .tensor("embeddings")
            .map_err(|e| invalid(e.to_string()))?;
        let ids = tensors
            .tensor("token_ids")
            .map_err(|e| invalid(e.to_string()))?;
        let n = vocab.words.len();
        if emb.dtype() != Dtype::F32 || emb.shape() != [n, vocab.dim] {
            return Err(invalid(format!(
                "embeddings are {:?} {:?}, expected F32 [{n}, {}]",
                emb.dtype(),
                emb.shape(),
                vocab.dim
            )));
        }
        if ids.dtype() != Dtype::U32 || ids.shape() != [n] {
            return Err(invalid(format!(
                "token_ids are {:?} {:?}, expected U32 [{n}]",
                ids.dtype(),
                ids.shape()
            )));
        }
        let id_values = ids
            .data()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        if !id_values.eq(vocab.words.iter().map(|w| w.id)) {
            return Err(invalid(
                "token ids differ from the vocabulary file's".to_string(),
            ));
        }
        let embeddings = emb
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Codebook {
            source: vocab.source,
            words: vocab.words,
            dim: vocab.dim,
            embeddings,
            report: vocab.report,
        })
    }
}

/// The in-context round-trip check: detokenize shuffled sequences of candidate words and
/// tokenize them back; in a sequence that does not come back as the same ids, every word that
/// does not round-trip next to its predecessor is returned.
fn context_failures(
    words: &[Word],
    tokenizer: &dyn VocabTokenizer,
    cfg: &CodebookConfig,
) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<&Word> = words.iter().collect();
    let mut bad = Vec::new();
    let round_trips = |seq: &[&Word]| {
        let text: String = seq.iter().map(|w| w.text.as_str()).collect();
        tokenizer
            .tokenize(&text)
            .iter()
            .copied()
            .eq(seq.iter().map(|w| w.id))
    };
    for _ in 0..cfg.context_check_rounds {
        order.shuffle(&mut rng);
        for seq in order.chunks(cfg.context_check_len.max(2)) {
            if round_trips(seq) {
                continue;
            }
            for pair in seq.windows(2) {
                if !round_trips(pair) && !bad.contains(&pair[1].id) {
                    bad.push(pair[1].id);
                }
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_file_is_the_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/codebook.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let cfg: CodebookConfig = toml::from_str(&text).unwrap();
        assert_eq!(cfg, CodebookConfig::default());
    }

    #[test]
    fn word_rule() {
        let cfg = CodebookConfig::default();
        assert_eq!(classify_text(b" cat", &cfg), Ok(()));
        assert_eq!(classify_text(b" Cat", &cfg), Ok(()));
        assert_eq!(classify_text(b"cat", &cfg), Err(Rejection::NoLeadingSpace));
        assert_eq!(
            classify_text(b"  cat", &cfg),
            Err(Rejection::NoLeadingSpace)
        );
        assert_eq!(classify_text(b" a", &cfg), Err(Rejection::TooShort));
        assert_eq!(classify_text(b" c4t", &cfg), Err(Rejection::NotLetters));
        assert_eq!(
            classify_text(" café".as_bytes(), &cfg),
            Err(Rejection::NotLetters)
        );
        assert_eq!(
            classify_text(&[b' ', 0xe2, 0x82], &cfg),
            Err(Rejection::NotUtf8)
        );
        let unicode = CodebookConfig {
            ascii_only: false,
            ..cfg
        };
        assert_eq!(classify_text(" café".as_bytes(), &unicode), Ok(()));
    }

    /// A toy tokenizer over words where " ab" followed by " cd" tokenizes as one token " ab cd".
    struct Toy(Vec<&'static str>);
    impl VocabTokenizer for Toy {
        fn n_vocab(&self) -> usize {
            self.0.len()
        }
        fn piece(&self, id: u32) -> Vec<u8> {
            self.0[id as usize].as_bytes().to_vec()
        }
        fn tokenize(&self, text: &str) -> Vec<u32> {
            let mut out = Vec::new();
            let mut rest = text;
            while !rest.is_empty() {
                // longest match
                let (id, w) = self
                    .0
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| rest.starts_with(**w))
                    .max_by_key(|(_, w)| w.len())
                    .expect("toy vocabulary covers the text");
                out.push(id as u32);
                rest = &rest[w.len()..];
            }
            out
        }
    }

    #[test]
    fn context_check_rejects_merging_words() {
        let tok = Toy(vec![" ab", " cd", " ab cd", " ef"]);
        let words: Vec<Word> = [0u32, 1, 3]
            .iter()
            .map(|&id| Word {
                id,
                text: tok.0[id as usize].to_string(),
            })
            .collect();
        let cfg = CodebookConfig {
            context_check_len: 3,
            context_check_rounds: 20,
            ..Default::default()
        };
        // " ab" + " cd" merges into id 2, so " cd" fails after " ab"; " ef" never fails.
        assert_eq!(context_failures(&words, &tok, &cfg), vec![1]);
    }
}
