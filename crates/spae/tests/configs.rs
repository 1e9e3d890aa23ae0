//! Every shipped training configuration parses, its pyramid is valid over its latent grid, its
//! data fit its model, and its encoder / decoder / discriminator have the shapes it promises.

use burn::tensor::{Device, Tensor};
use spae::assets::Assets;
use spae::data::Split;
use spae::pyramid::{Pyramid, PyramidLayout};
use spae::train::{dataset, training_set, TrainConfig, VideoTrainConfig};

fn configs() -> Vec<std::path::PathBuf> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");
    let mut out = Vec::new();
    for dir in [
        root.to_string(),
        format!("{root}/table4"),
        format!("{root}/semantic-ablation"),
    ] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".toml") && name != "codebook.toml" {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A shipped video configuration: valid, and its model maps a clip to the pyramid's latent grid
/// and back.
fn video_config_builds(path: &std::path::Path, text: &str, device: &Device) {
    let cfg: VideoTrainConfig =
        toml::from_str(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    cfg.validate()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pyramid = cfg.video_pyramid().unwrap();
    let m = &cfg.model;
    let model = m.init(device);
    let c = m.image_channels;
    let x = Tensor::<5>::zeros([1, c, m.frames, m.image_size, m.image_size], device);
    let z = model.encoder.forward(x);
    let (t, h, w) = pyramid.latent;
    assert_eq!(z.dims(), [1, m.latent_dim, t, h, w], "{}", path.display());
    let y = model.decoder.forward(z);
    assert_eq!(y.dims(), [1, c, m.frames, m.image_size, m.image_size]);
}

#[test]
fn shipped_configs_build() {
    let assets = Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"));
    let device = Device::flex();
    let paths = configs();
    assert!(paths.len() >= 8, "{paths:?}");
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        if value.get("model").and_then(|m| m.get("frames")).is_some() {
            video_config_builds(&path, &text, &device);
            continue;
        }
        let cfg: TrainConfig =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let side = cfg.model.latent_size();
        let pyramid = Pyramid::square(side, &cfg.pyramid).unwrap();
        // The first decodable depth is the first whose layers cover every latent position.
        let covered = |d: usize| {
            let mut seen = vec![false; side * side];
            for l in 0..d {
                for p in pyramid.positions(l) {
                    seen[p] = true;
                }
            }
            seen.iter().all(|&s| s)
        };
        let d = pyramid.first_decodable_depth();
        assert!(
            covered(d) && (d == 1 || !covered(d - 1)),
            "{}",
            path.display()
        );
        let test = dataset(&cfg, &assets, Split::Test).unwrap();
        assert_eq!(
            test.channels,
            cfg.model.image_channels,
            "{}",
            path.display()
        );
        assert!(test.width <= cfg.model.image_size && !test.is_empty());
        // A class-disjoint or capped training set: only the named classes, at most N images.
        if cfg.data.classes.is_some() || cfg.data.max_images.is_some() {
            let train = training_set(&cfg, &assets).unwrap();
            assert!(train.len() <= cfg.data.max_images.unwrap_or(usize::MAX) && !train.is_empty());
            if let Some(names) = &cfg.data.classes {
                let allowed = train.class_labels(names).unwrap();
                assert!(
                    train.labels.iter().all(|l| allowed.contains(l)),
                    "{}",
                    path.display()
                );
                let present: std::collections::BTreeSet<u32> =
                    train.labels.iter().copied().collect();
                assert_eq!(present.len(), names.len(), "{}", path.display());
            }
        }
        let (s, c) = (cfg.model.image_size, cfg.model.image_channels);
        let model = cfg.model.init(&device);
        let z = model
            .encoder
            .forward(Tensor::<4>::zeros([1, c, s, s], &device));
        assert_eq!(
            z.dims(),
            [1, cfg.model.latent_dim, side, side],
            "{}",
            path.display()
        );
        assert_eq!(model.decoder.forward(z).dims(), [1, c, s, s]);
        let disc = cfg.discriminator.init(s, c, &device);
        assert_eq!(
            disc.forward(Tensor::<4>::zeros([1, c, s, s], &device))
                .dims(),
            [1]
        );
    }
}
