//! LPIPS parity: the Rust VGG16 LPIPS against distances computed once with the reference `lpips`
//! 0.1.4 package (tools/lpips_fixtures.py), on the same committed image pairs.

use burn::tensor::{Device, Tensor, TensorData};
use spae::assets::Assets;
use spae::eval::lpips::Lpips;
use spae::train::to_vec;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn model(device: &Device) -> Lpips {
    let assets = Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    Lpips::load(&assets.path("lpips").unwrap(), device).unwrap()
}

/// Splits the fixture bytes into the four image batches, scaled to `[-1, 1]`.
fn pairs(device: &Device) -> Vec<Tensor<4>> {
    let bytes = std::fs::read(format!("{FIXTURES}/lpips_pairs.bin")).unwrap();
    let shapes = [
        [3, 3, 64, 64],
        [3, 3, 64, 64],
        [2, 1, 32, 32],
        [2, 1, 32, 32],
    ];
    let mut at = 0;
    shapes
        .iter()
        .map(|&s| {
            let n: usize = s.iter().product();
            let v: Vec<f32> = bytes[at..at + n]
                .iter()
                .map(|&b| f32::from(b) / 127.5 - 1.0)
                .collect();
            at += n;
            Tensor::<4>::from_data(TensorData::new(v, s), device)
        })
        .collect()
}

#[test]
fn lpips_matches_the_reference_package() {
    let device = Device::flex();
    let lpips = model(&device);
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/lpips_reference.json")).unwrap(),
    )
    .unwrap();
    let want = |key: &str| -> Vec<f32> {
        reference[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let p = pairs(&device);
    let rgb = to_vec(lpips.distance(p[0].clone(), p[1].clone()));
    let gray = to_vec(lpips.distance(p[2].clone(), p[3].clone()));
    for (got, want) in [(rgb, want("rgb64")), (gray, want("gray32"))] {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "lpips {g} vs reference {w}");
        }
    }
    // A distance to itself is zero.
    let same = to_vec(lpips.distance(p[0].clone(), p[0].clone()));
    assert!(same.iter().all(|d| d.abs() < 1e-6), "{same:?}");
}

#[test]
fn lpips_rejects_bad_weights() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.safetensors");
    let assets = Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    let bytes = std::fs::read(assets.path("lpips").unwrap()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = Lpips::load(&cut, &device).unwrap_err().to_string();
    assert!(
        e.contains("not valid") && e.contains("cut.safetensors"),
        "{e}"
    );
    let e = Lpips::load(&dir.path().join("none.safetensors"), &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read"), "{e}");
}
