//! In-context generation through the CLI, on the committed MNIST and Fashion-MNIST tokenizers and
//! the real SmolLM2: `spae classifier` trains and saves a digit classifier with its test accuracy;
//! `spae generate mnist` writes a PNG per query, a grid, a page and a JSON report with the
//! classifier's verdicts and the distance to the nearest example; `spae denoise` writes its scores
//! and grids; bad input is a clear error.

mod common;

use common::repo;

use std::path::Path;

use common::{kill_when, lines, spae};

fn run(args: &[&str]) -> std::process::Output {
    spae(args).current_dir(repo()).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let r = run(args);
    assert!(
        r.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

fn fails(args: &[&str], needle: &str) {
    let r = run(args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn classifier_then_text_to_image() {
    let dir = tempfile::tempdir().unwrap();
    let cls = dir.path().join("classifier");
    let cls = cls.to_str().unwrap();
    let stdout = ok(&["classifier", "--epochs", "1", "--out", cls]);
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let acc = json(&Path::new(cls).join("classifier.json"))["test_accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc > 0.8, "one epoch of the digit classifier: {acc}");

    let out = dir.path().join("gen");
    let o = out.to_str().unwrap();
    let base = [
        "generate",
        "mnist",
        "--examples",
        "4",
        "--classifier",
        cls,
        "--threads",
        "2",
        "--out",
        o,
    ];
    let stdout = ok(&[&base[..], &["an image of 1+7", "3", "a cat"]].concat());
    assert!(stdout.contains("an image of 1+7:"), "{stdout}");
    let report = json(&out.join("generate.json"));

    // Killed mid-way (issue 20) and resumed: the same words and verdicts, each pass written once.
    let again = dir.path().join("again");
    let a = again.to_str().unwrap();
    let args = [
        &base[..base.len() - 1],
        &[a, "an image of 1+7", "3", "a cat"],
    ]
    .concat();
    let journal = again.join("journal.jsonl");
    let passes = lines(&out.join("journal.jsonl")) - 1;
    let mut cmd = spae(&args);
    cmd.current_dir(repo());
    let had = kill_when(cmd, &journal, 1 + passes / 2);
    assert!(had < 1 + passes, "killed after the end");
    ok(&[&args[..], &["--resume"]].concat());
    assert_eq!(lines(&journal), 1 + passes, "each pass written once");
    let words = |r: &serde_json::Value| {
        let images = r["images"].as_array().unwrap().clone();
        images
            .iter()
            .map(|g| (g["words"].clone(), g["classified"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&json(&again.join("generate.json"))), words(&report));
    assert_eq!(report["words_per_image"], 85);
    // What reproduces it: the thread count changes llama.cpp's near-tied greedy choices.
    assert_eq!(
        (report["threads"].clone(), report["words_as_text"].clone()),
        (2.into(), false.into())
    );
    let images = report["images"].as_array().unwrap();
    let intended: Vec<_> = images.iter().map(|g| g["intended"].clone()).collect();
    assert_eq!(intended, [8.into(), 3.into(), serde_json::Value::Null]);
    assert_eq!(report["judged"], 2);
    // The judge's verdicts add up: `correct` is the judged images whose class is the intended.
    let agree = images
        .iter()
        .filter(|g| !g["intended"].is_null() && g["intended"] == g["classified"])
        .count();
    assert_eq!(report["correct"], agree);
    for g in images {
        let same = g["intended"] == g["classified"];
        assert_eq!(
            g["correct"],
            if g["intended"].is_null() {
                serde_json::Value::Null
            } else {
                same.into()
            }
        );
        assert_eq!(g["words"].as_str().unwrap().split_whitespace().count(), 85);
        let png = spae::data::read_png(&out.join(g["image"].as_str().unwrap())).unwrap();
        assert_eq!((png.width, png.height, png.channels), (32, 32, 1));
    }
    let grid = spae::data::read_png(&out.join("grid.png")).unwrap();
    assert_eq!((grid.width, grid.height), (320, 32));
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("an image of 1+7:"));

    // Writing words spelled as text (the path of an LLM of another vocabulary): SmolLM2 spells
    // every codebook word as its one token, so the same 85 words come out (the first image's;
    // each image is written on its own).
    let text_out = dir.path().join("gen-text");
    let mut text_args = base.to_vec();
    let at = text_args.iter().position(|a| *a == o).unwrap();
    text_args[at] = text_out.to_str().unwrap();
    ok(&[&text_args[..], &["an image of 1+7", "--words-as-text"]].concat());
    let as_text = json(&text_out.join("generate.json"));
    assert_eq!(as_text["words_as_text"], true);
    let written = as_text["images"].as_array().unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["words"], images[0]["words"]);

    // Written words decode only as whole pyramids of codebook words.
    std::env::set_current_dir(repo()).unwrap();
    let tok = spae::tokenizer::ImageTokenizer::load(
        Path::new("models/mnist-semantic"),
        &spae::device::Device::flex(),
    )
    .unwrap();
    let ids: Vec<u32> = images[0]["words"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(|w| tok.codebook().words[tok.codebook().index_of(w).unwrap()].id)
        .collect();
    assert_eq!(
        tok.decode_ids(std::slice::from_ref(&ids), 4).unwrap().len(),
        32 * 32
    );
    let e = tok.decode_ids(&[ids[..84].to_vec()], 4).unwrap_err();
    assert!(e.to_string().contains("84 tokens"), "{e}");
    let mut bad = ids.clone();
    bad[30] = 0;
    let e = tok.decode_ids(&[bad], 4).unwrap_err();
    assert!(
        e.to_string()
            .contains("layer 4: id 0 is not a codebook word"),
        "{e}"
    );
    assert!(
        tok.decode_ids(&[ids], 3).is_err(),
        "depth 3 does not decode"
    );

    // Bad input: a template without its placeholder, a tokenizer of another data set, no
    // classifier.
    fails(
        &[&base[..], &["7", "--template", "an image:"]].concat(),
        "placeholder",
    );
    fails(
        &[
            &base[..],
            &["7", "--checkpoint", "models/fashion-mnist-semantic"],
        ]
        .concat(),
        "not of the MNIST digits",
    );
    let missing = dir.path().join("none");
    fails(
        &[
            "generate",
            "mnist",
            "7",
            "--classifier",
            missing.to_str().unwrap(),
        ],
        "spae classifier",
    );
}

#[test]
fn denoising_tasks_write_scores_and_grids() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("den");
    let o = out.to_str().unwrap();
    let base = [
        "denoise",
        "--n",
        "2",
        "--examples",
        "2",
        "--threads",
        "2",
        "--out",
        o,
    ];
    ok(&[&base[..], &["--task", "inpaint,shift", "--plan", "single"]].concat());
    let report = json(&out.join("denoise.json"));
    let rows = report.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["passes"], 1);
        assert_eq!(r["threads"], 2);
        for k in ["output", "condition", "best_example", "target"] {
            let psnr = r[k]["psnr"].as_f64().unwrap();
            assert!(psnr.is_finite() && psnr > 5.0, "{k}: {psnr}");
            let fid = r[k]["fid"].as_f64().unwrap();
            assert!(fid.is_finite() && fid > 0.0, "{k}: FID {fid}");
        }
        let grid = spae::data::read_png(Path::new(r["grid"].as_str().unwrap())).unwrap();
        // Two images; condition, two examples, output, original.
        assert_eq!((grid.width, grid.height), (5 * 32, 2 * 32));
    }
    fails(
        &[&base[..], &["--task", "blur"]].concat(),
        "unknown task 'blur'",
    );
    fails(
        &[&base[..], &["--rate-from", "1.5"]].concat(),
        "not in [0, 1]",
    );
}
