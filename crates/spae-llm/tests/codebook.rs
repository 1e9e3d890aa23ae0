//! The SmolLM2 codebook built from the real GGUF with the real llama.cpp tokenizer: every word
//! round-trips, alone and in random sequences; rows are the model's embedding rows; save/load
//! keeps everything.

mod common;

use rand::seq::IndexedRandom;
use rand::SeedableRng;
use spae::codebook::{Codebook, CodebookConfig, SourceModel, VocabTokenizer};
use spae::gguf::GgufFile;
use spae_llm::Llm;

use common::smollm2;

fn build() -> (Codebook, Llm, GgufFile) {
    let path = smollm2();
    let gguf = GgufFile::open(&path).unwrap();
    let llm = Llm::load_vocab_only(&path).unwrap();
    let source = SourceModel {
        name: "smollm2".into(),
        sha256: "test".into(),
        vocab_size: 49152,
    };
    let cb = Codebook::build(&gguf, &llm, source, &CodebookConfig::default(), &mut |_| {}).unwrap();
    (cb, llm, gguf)
}

#[test]
fn smollm2_codebook_words_round_trip_and_rows_are_embeddings() {
    let (cb, llm, gguf) = build();
    let r = &cb.report;
    assert_eq!(r.vocab_size, 49152);
    assert!(cb.len() > 20_000, "|T| = {}", cb.len());
    assert_eq!(
        r.accepted + r.rejected.values().sum::<usize>(),
        r.vocab_size
    );
    assert_eq!(cb.dim, 576);
    for w in [" cat", " dog", " red", " shoe", " the"] {
        assert!(cb.words.iter().any(|x| x.text == w), "{w} missing");
    }
    // Every word alone.
    for w in &cb.words {
        assert_eq!(llm.tokenize(&w.text), vec![w.id], "{:?}", w.text);
    }
    // Random sentences of codebook words come back as exactly their ids.
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for _ in 0..200 {
        let seq: Vec<_> = cb.words.choose_multiple(&mut rng, 100).collect();
        let text: String = seq.iter().map(|w| w.text.as_str()).collect();
        let ids: Vec<u32> = seq.iter().map(|w| w.id).collect();
        assert_eq!(llm.tokenize(&text), ids, "{text}");
    }
    // Rows are the GGUF's embedding rows.
    let (table, _, dim) = gguf.dequantize_matrix("token_embd.weight").unwrap();
    for k in (0..cb.len()).step_by(997) {
        let id = cb.words[k].id as usize;
        assert_eq!(cb.row(k), &table[id * dim..(id + 1) * dim]);
    }
    // Save / load.
    let dir = tempfile::tempdir().unwrap();
    cb.save(dir.path()).unwrap();
    let back = Codebook::load(dir.path()).unwrap();
    assert_eq!(back.words, cb.words);
    assert_eq!(back.embeddings, cb.embeddings);
    assert_eq!(back.report, cb.report);
    assert_eq!(back.source, cb.source);
}

#[test]
fn corrupted_codebook_files_are_rejected() {
    let (cb, _, _) = build();
    let dir = tempfile::tempdir().unwrap();
    cb.save(dir.path()).unwrap();
    let st = dir.path().join("codebook.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 3]).unwrap();
    let e = Codebook::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("codebook.safetensors"), "{e}");
    // A vocabulary file from another model.
    std::fs::write(&st, &bytes).unwrap();
    let js = dir.path().join("codebook.vocab.json");
    let text = std::fs::read_to_string(&js)
        .unwrap()
        .replace("\"sha256\": \"test\"", "\"sha256\": \"other\"");
    std::fs::write(&js, text).unwrap();
    let e = Codebook::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("differs"), "{e}");
}
