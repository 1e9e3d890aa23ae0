//! Video from the command line (issue 19): Moving MNIST clips generated from the installed
//! digits of one split, as animated PNGs, a sheet and their digits' record.

mod common;

use common::{fails, ok};

#[test]
fn moving_mnist_clips_from_one_split_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let gen = |split: &str, seed: &str, folder: &str| {
        ok(&[
            "data",
            "moving-mnist",
            "--split",
            split,
            "--clips",
            "3",
            "--seed",
            seed,
            "--out",
            &out(folder),
        ])
    };
    gen("test", "5", "a");
    gen("test", "5", "b");
    gen("test", "6", "c");
    gen("train", "5", "d");
    let read =
        |folder: &str, file: &str| std::fs::read(dir.path().join(folder).join(file)).unwrap();
    // The same seed gives the same clips; another seed or split does not.
    assert_eq!(read("a", "clip-000.png"), read("b", "clip-000.png"));
    assert_ne!(read("a", "clip-000.png"), read("c", "clip-000.png"));
    assert_ne!(read("a", "clips.json"), read("d", "clips.json"));
    // Each clip is an animated PNG of 64x64 frames (its first frame is what a PNG reader sees);
    // the sheet is 20 frames across, 3 clips down.
    let first = spae::data::read_png(&dir.path().join("a/clip-002.png")).unwrap();
    assert_eq!((first.width, first.height, first.channels), (64, 64, 1));
    assert!(first.pixels.iter().any(|&p| p > 0));
    let sheet = spae::data::read_png(&dir.path().join("a/sheet.png")).unwrap();
    assert_eq!((sheet.width, sheet.height), (20 * 64, 3 * 64));
    // The digits of the test split's clips are test digits: the 1,000 held-out ones.
    let report: serde_json::Value = serde_json::from_slice(&read("a", "clips.json")).unwrap();
    assert_eq!(report["split"], "test");
    let clips = report["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 3);
    for clip in clips {
        let digits = clip.as_array().unwrap();
        assert_eq!(digits.len(), 2);
        for d in digits {
            assert!(d["digit_index"].as_u64().unwrap() < 1000, "{d}");
            assert!(d["label"].as_u64().unwrap() < 10, "{d}");
        }
    }
    let err = fails(&["data", "moving-mnist", "--split", "val", "--out", &out("e")]);
    assert!(err.contains("unknown split 'val'"), "{err}");
}
