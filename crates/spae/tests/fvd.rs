//! FVD parity: the burn I3D (its loader, preprocessing and every layer) against a PyTorch twin of
//! `pytorch-i3d` with the VideoGPT / TATS preprocessing (tools/i3d_fixtures.py). No I3D weights
//! are installable here, so the twin is the real architecture at 1/16 of every width with seeded
//! random weights, saved by torch.save and converted by tools/torch_weights.py as a user's
//! checkpoint would be; its features of two clip sets (gray 40x48, 10 frames; RGB 32x32, 12
//! frames) were computed once by PyTorch.

use burn::tensor::Device;
use spae::assets::Assets;
use spae::eval::fid::{frechet_distance, FeatureStats};
use spae::eval::i3d::{I3d, I3dError, I3dPort, MIN_FRAMES};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/i3d");

/// The fixture clips by the formula of tools/i3d_fixtures.py: `N x T x C x H x W` in `[0, 1]`.
fn clips([n, t, c, h, w]: [usize; 5]) -> Vec<f32> {
    let mut v = Vec::with_capacity(n * t * c * h * w);
    for i in 0..n {
        for f in 0..t {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        let a = 0.37 * x as f64
                            + 0.23 * y as f64 * (ch + 1) as f64
                            + 0.9 * f as f64 * (i + 1) as f64
                            + 1.7 * i as f64;
                        v.push((0.5 + 0.5 * a.sin()) as f32);
                    }
                }
            }
        }
    }
    v
}

struct Set {
    shape: [usize; 5],
    features: Vec<f32>,
}

fn fixture() -> (usize, Vec<Set>) {
    let text = std::fs::read_to_string(format!("{FIXTURES}/features.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sets = json["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Set {
            shape: serde_json::from_value(s["shape"].clone()).unwrap(),
            features: serde_json::from_value(s["features"].clone()).unwrap(),
        })
        .collect();
    (json["classes"].as_u64().unwrap() as usize, sets)
}

fn model(port: I3dPort, device: &Device) -> I3d {
    let path = format!("{FIXTURES}/narrow.safetensors");
    I3d::load(std::path::Path::new(&path), port, device).unwrap()
}

/// The largest difference between `got` and `want`, as a share of `want`'s largest value.
fn worst(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "feature count");
    let scale = want.iter().map(|v| v.abs()).fold(0f32, f32::max);
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    diff / scale
}

#[test]
fn i3d_features_match_pytorch() {
    let device = Device::flex();
    let net = model(I3dPort::Videogpt, &device);
    // The same weights read as pytorch-i3d's (batch norm epsilon 0.001, not 1e-5).
    let other = model(I3dPort::PytorchI3d, &device);
    let (classes, sets) = fixture();
    assert_eq!(net.dim(), classes);
    for set in &sets {
        let [n, t, c, h, w] = set.shape;
        let got = net.features(&clips(set.shape), [t, c, h, w]).unwrap();
        let off = worst(&got, &set.features);
        assert!(
            off <= 1e-4,
            "{:?}: off by {off} of the largest feature",
            set.shape
        );
        // The test can fail: the clips' features differ from each other, and the other port's
        // epsilon moves them, by far more than the tolerance.
        let k = classes;
        let first_two = worst(&set.features[..k], &set.features[k..2 * k]);
        assert!(n >= 2 && first_two > 0.05, "clips alike: {first_two}");
        let alt = other.features(&clips(set.shape), [t, c, h, w]).unwrap();
        let eps_gap = worst(&alt, &set.features);
        assert!(eps_gap > 0.01, "epsilon ignored: {eps_gap}");
    }
    // The FVD of the two fixture sets (both as 400-d features) agrees with the one of PyTorch's
    // features: the same Fréchet distance FID uses, on these features.
    let stats = |f: &[f32]| FeatureStats::new(f, classes).unwrap();
    let ours: Vec<Vec<f32>> = sets
        .iter()
        .map(|s| {
            let [_, t, c, h, w] = s.shape;
            net.features(&clips(s.shape), [t, c, h, w]).unwrap()
        })
        .collect();
    let want = frechet_distance(&stats(&sets[0].features), &stats(&sets[1].features)).unwrap();
    let got = frechet_distance(&stats(&ours[0]), &stats(&ours[1])).unwrap();
    assert!(
        (got - want).abs() <= 1e-3 * want.abs().max(1.0),
        "FVD {got} vs {want} from PyTorch's features"
    );
}

#[test]
fn i3d_rejects_short_clips_and_odd_channels() {
    let device = Device::flex();
    let net = model(I3dPort::Videogpt, &device);
    let short = [MIN_FRAMES - 1, 1, 16, 16];
    let err = net.features(&vec![0.5; 16 * 16 * (MIN_FRAMES - 1)], short);
    assert!(matches!(err, Err(I3dError::TooFewFrames(8))), "{err:?}");
    let err = net.features(&vec![0.5; 2 * 16 * 16 * 10], [10, 2, 16, 16]);
    assert!(matches!(err, Err(I3dError::Channels(2))), "{err:?}");
    let err = net.features(&[0.5; 100], [10, 1, 16, 16]);
    assert!(matches!(err, Err(I3dError::Ragged(100, _))), "{err:?}");
}

#[test]
fn i3d_names_a_missing_tensor_and_a_truncated_file() {
    let device = Device::flex();
    // LPIPS's VGG weights are not I3D's: the error names the first tensor it looked for.
    let assets = Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    let err = I3d::load(&assets.path("lpips").unwrap(), I3dPort::Videogpt, &device)
        .err()
        .expect("LPIPS weights load as I3D");
    assert!(
        err.to_string()
            .contains("Conv3d_1a_7x7.conv3d.weight is missing"),
        "{err}"
    );
    // A truncated file is reported with its path, not a panic.
    let dir = std::env::temp_dir().join(format!("spae-fvd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("truncated.safetensors");
    let bytes = std::fs::read(format!("{FIXTURES}/narrow.safetensors")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = I3d::load(&path, I3dPort::Videogpt, &device)
        .err()
        .expect("truncated weights load");
    assert!(err.to_string().contains("truncated.safetensors"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn i3d_refuses_empty_layers_and_takes_extreme_frame_shapes() {
    let device = Device::flex();
    // A first convolution with no output channels: an error, not a panic in a later layer.
    let dir = std::env::temp_dir().join(format!("spae-fvd-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("empty.safetensors");
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![0, 3, 7, 7, 7], &[])
            .unwrap();
    let bytes = safetensors::serialize([("Conv3d_1a_7x7.conv3d.weight", view)], None).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let err = I3d::load(&path, I3dPort::Videogpt, &device)
        .err()
        .expect("empty layer loads");
    assert!(err.to_string().contains("has no output channels"), "{err}");
    std::fs::remove_dir_all(dir).ok();
    // A 1 x 4000 frame: its long side would scale to 896,000 before the crop; only the 224 kept
    // rows of that interpolation are built.
    let net = model(I3dPort::Videogpt, &device);
    let f = net
        .features(&vec![0.5; 10 * 4000], [10, 1, 1, 4000])
        .unwrap();
    assert_eq!(f.len(), net.dim());
    assert!(f.iter().all(|v| v.is_finite()));
}
