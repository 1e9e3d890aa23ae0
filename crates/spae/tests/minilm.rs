//! all-MiniLM-L6-v2 in burn against sentence-transformers (tools/minilm_fixtures.py): the same
//! token ids and the same embeddings to 1e-4, truncation included.

use burn::tensor::Device;
use spae::assets::Assets;
use spae::scorer::{LabelScorer, MiniLm, ScorerError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn assets() -> Assets {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
}

#[test]
fn minilm_matches_sentence_transformers() {
    let model = MiniLm::load(&assets().path("minilm").unwrap(), &Device::flex()).unwrap();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/minilm_reference.json")).unwrap(),
    )
    .unwrap();
    let texts: Vec<String> = reference["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let got = model.embed(&texts).unwrap();
    for (i, (g, want)) in got
        .iter()
        .zip(reference["embeddings"].as_array().unwrap())
        .enumerate()
    {
        let want: Vec<f32> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(g.len(), want.len());
        // sentence-transformers' all-MiniLM pipeline ends in Normalize: compare unit vectors.
        let norm = want.iter().map(|v| v * v).sum::<f32>().sqrt();
        let max = g
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b / norm).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-4, "text {i} {:?}: max diff {max}", texts[i]);
    }
    // Related words are closer than unrelated ones.
    let e = model
        .embed(&["cat".into(), "kitten".into(), "spreadsheet".into()])
        .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&e[0], &e[1]) > dot(&e[0], &e[2]) + 0.2);
}

#[test]
fn label_scorer_and_bad_weights() {
    let device = Device::flex();
    let dir = assets().path("minilm").unwrap();
    let text = MiniLm::load(&dir, &device).unwrap();
    let scorer = LabelScorer::new(text, &["sneaker".into(), "bag".into()]).unwrap();
    let f = scorer.image_features(&[1, 0]).unwrap();
    assert_eq!(f[0], scorer.classes[1].as_slice());
    let e = scorer.image_features(&[2]).unwrap_err().to_string();
    assert!(e.contains("label 2 out of range"), "{e}");

    // A copy of the model folder with a cut safetensors file, then a wrong-shaped config.
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "config.json",
        "sentence_bert_config.json",
        "tokenizer.json",
        "model.safetensors",
    ] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let st = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 3]).unwrap();
    let e = MiniLm::load(tmp.path(), &device).err().unwrap();
    assert!(matches!(e, ScorerError::Weights(_)), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    std::fs::write(&st, &bytes).unwrap();
    let cfg = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 1536", "\"intermediate_size\": 1000");
    std::fs::write(tmp.path().join("config.json"), cfg).unwrap();
    let e = MiniLm::load(tmp.path(), &device).err().unwrap().to_string();
    assert!(
        e.contains("intermediate.dense.weight") && e.contains("[1000, 384]"),
        "{e}"
    );
    std::fs::remove_file(tmp.path().join("tokenizer.json")).unwrap();
    let e = MiniLm::load(tmp.path(), &device).err().unwrap().to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
}

#[test]
fn text_features_are_cached_per_key_and_stale_caches_rebuilt() {
    use spae::semantic::features::{
        cached_text_features, read_cache, write_cache, CacheKey, EmbedFn,
    };
    let model = MiniLm::load(&assets().path("minilm").unwrap(), &Device::flex()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let words: Vec<String> = [" cat", " dog", " house"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let templates = ["a photo of a {}.", "a drawing of the {}."];
    let ids: Vec<(u32, String)> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (i as u32, w.clone()))
        .collect();
    let key = CacheKey::new(&ids, model.fingerprint(), &templates);
    let features = |embed: &mut EmbedFn<'_>| {
        cached_text_features(dir.path(), &key, &words, &templates, embed, &mut |_| {}).unwrap()
    };
    let mut calls = 0;
    let (f, cached) = features(&mut |t: &[String]| {
        calls += 1;
        model.embed(t)
    });
    assert!(!cached && calls > 0);
    assert_eq!((f.len(), f.dim), (3, 384));
    // Eq. 5 by hand for " cat": the normalised mean of the two template embeddings.
    let e = model
        .embed(&["a photo of a cat.".into(), "a drawing of the cat.".into()])
        .unwrap();
    let want = spae::semantic::token_text_feature(&e);
    assert!(f
        .row(0)
        .iter()
        .zip(&want)
        .all(|(a, b)| (a - b).abs() < 1e-5));
    // The second time comes from the cache.
    let (again, cached) = features(&mut |_: &[String]| -> Result<Vec<Vec<f32>>, ScorerError> {
        panic!("the cache should have been used")
    });
    assert!(cached);
    assert_eq!(again, f);
    // Another codebook has another key (and file); a stale or corrupt file under this key is
    // rebuilt, not used.
    let other = CacheKey::new(&ids[..2], model.fingerprint(), &templates);
    assert_ne!(other.path(dir.path()), key.path(dir.path()));
    let forged = CacheKey {
        scorer: "another-scorer-fingerprint".into(),
        ..key.clone()
    };
    write_cache(&key.path(dir.path()), &forged, &f).unwrap();
    assert!(read_cache(&key.path(dir.path()), &key, 3).is_none());
    std::fs::write(key.path(dir.path()), b"garbage").unwrap();
    let (rebuilt, cached) = features(&mut |t: &[String]| model.embed(t));
    assert!(!cached);
    assert_eq!(rebuilt, f);
}
