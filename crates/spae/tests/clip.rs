//! CLIP in burn against Hugging Face `transformers` on a tiny randomly initialised CLIPModel
//! (tools/clip_fixtures.py): the same token ids, and the same projected text and image embeddings
//! to 1e-4.

use burn::tensor::{Device, Tensor, TensorData};
use spae::scorer::Clip;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/clip-tiny");

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn close(got: &[Vec<f32>], want: &serde_json::Value, what: &str) {
    for (g, w) in got.iter().zip(want.as_array().unwrap()) {
        let w = floats(w);
        assert_eq!(g.len(), w.len(), "{what}");
        let max = g
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-4, "{what}: max diff {max}");
    }
}

#[test]
fn clip_matches_transformers() {
    let device = Device::flex();
    let clip = Clip::load(std::path::Path::new(DIR), &device).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/reference.json")).unwrap())
            .unwrap();
    let texts: Vec<String> = r["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let ids = clip.tokenize(&texts).unwrap();
    let want_ids: Vec<Vec<u32>> = serde_json::from_value(r["ids"].clone()).unwrap();
    assert_eq!(ids, want_ids);
    close(
        &clip.text_features(&texts).unwrap(),
        &r["text_embeds"],
        "text",
    );
    let pixels = Tensor::<4>::from_data(
        TensorData::new(floats(&r["pixel_values"]), [2, 3, 32, 32]),
        &device,
    );
    close(
        &clip.image_features_of_pixel_values(pixels),
        &r["image_embeds"],
        "image",
    );
}

#[test]
fn clip_rejects_bad_checkpoints() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(format!("{DIR}/{f}"), tmp.path().join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(tmp.path().join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 48", "\"intermediate_size\": 64");
    std::fs::write(tmp.path().join("config.json"), cfg).unwrap();
    let e = Clip::load(tmp.path(), &device).err().unwrap().to_string();
    assert!(e.contains("fc1.weight") && e.contains("[64, 32]"), "{e}");
    std::fs::write(tmp.path().join("tokenizer.json"), "{").unwrap();
    let e = Clip::load(tmp.path(), &device).err().unwrap().to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
}
