//! `spae eval scorer` (a scorer's zero-shot accuracy over class names, measured as CLIP is) and
//! `spae eval words` (word stability within vs across classes) on real data and models.

mod common;

use std::path::Path;

use common::{fails, spae};

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `spae ARGS` from the repository root (the committed models name their codebook from there).
fn ok_at_root(args: &[&str]) -> String {
    let out = spae(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_bridge_scorer_as_a_zero_shot_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scorer.json");
    let o = out.to_str().unwrap();
    // 20 test images, class-balanced: 2 per class.
    let text = ok_at_root(&[
        "eval", "scorer", "--n", "20", "--flip", "--invert", "auto", "--out", o,
    ]);
    assert!(text.contains("zero-shot accuracy"), "{text}");
    let r = json(&out);
    assert_eq!(r["images"], 20);
    assert_eq!(r["chance"], 0.1);
    assert_eq!(r["bridge"]["flip"], true);
    let per: Vec<(u64, u64)> = r["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
        .collect();
    assert!(per.iter().all(|&(ok, n)| n == 2 && ok <= n), "{per:?}");
    let acc = r["zero_shot_accuracy"].as_f64().unwrap();
    let hits: u64 = per.iter().map(|p| p.0).sum();
    assert_eq!(acc, hits as f64 / 20.0);
    // Leave-one-out: each image's nearest other image (by the scorer's f_img) shares its class
    // for 8 of the 20 (measured); chance is 1 in 19 (one same-class image among 19).
    let nn = r["nearest_neighbour_accuracy"].as_f64().unwrap();
    assert!(nn >= 0.2, "nearest-neighbour accuracy {nn}: {r}");
    // The label scorer's f_img is the class name itself: a (trivial) supervised ceiling.
    ok_at_root(&[
        "eval", "scorer", "--scorer", "label", "--n", "20", "--out", o,
    ]);
    let r = json(&out);
    assert!(r["zero_shot_accuracy"].as_f64().unwrap() >= 0.9, "{r}");
    assert_eq!(r["nearest_neighbour_accuracy"], 1.0, "{r}");
    // Bad input: a canvas smaller than the images, an unknown scorer.
    let e = fails(&["eval", "scorer", "--dataset", "emoji", "--size", "32"]);
    assert!(e.contains("--size 32: emoji images are 64x64"), "{e}");
    let e = fails(&["eval", "scorer", "--scorer", "oracle", "--n", "4"]);
    assert!(e.contains("unknown semantic.scorer 'oracle'"), "{e}");
}

#[test]
fn word_stability_on_seen_and_unseen_classes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("words.json");
    let o = out.to_str().unwrap();
    let base = [
        "eval",
        "words",
        "--checkpoint",
        "models/fashion-mnist-semantic",
        "--n",
        "200",
        "--out",
        o,
    ];
    let text = ok_at_root(&base);
    assert!(text.contains("ALL SEEN"), "{text}");
    let r = json(&out);
    assert_eq!(
        (r["images"].as_u64(), r["classes"].as_u64()),
        (Some(200), Some(10))
    );
    // Trained with these very labels, the top word is close to a class label: it agrees
    // within a class far more than across, and carries information the shuffled labels lack.
    let top = &r["top_word"];
    let f = |k: &str| top[k].as_f64().unwrap();
    assert!(
        f("within_class_agreement") > 3.0 * f("across_class_agreement"),
        "{r}"
    );
    assert!(
        f("mutual_information_bits") > f("shuffled_mi_bits") + 0.5,
        "{r}"
    );
    assert!(f("mutual_information_bits") <= r["label_entropy_bits"].as_f64().unwrap() + 1e-9);
    assert_eq!(r["class_words"].as_array().unwrap().len(), 10);
    // MNIST digits through the same tokenizer: unseen classes, said so.
    let text = ok_at_root(&[&base[..], &["--dataset", "mnist", "--unseen"]].concat());
    assert!(text.contains("all unseen in training"), "{text}");
    assert_eq!(json(&out)["all_unseen"], true);
}
