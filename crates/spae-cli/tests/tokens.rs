//! `spae encode` / `spae decode` / `spae eval recon` on a small real run: words out, pixels
//! back, and clear errors for bad token files and images.

mod common;

use std::path::Path;

use common::{codebook, fails, fashion_mnist_test_image, ok, tiny_config, write_gray_png};

#[test]
fn encode_decode_eval_and_bad_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let cb = codebook(dir.path());
    let cfg = tiny_config(dir.path(), &cb, 5);
    let run = p("run");
    ok(&["train", "--config", &cfg, "--out", &run]);

    let img = p("shoe.png");
    write_gray_png(Path::new(&img), 28, 28, &fashion_mnist_test_image(0));

    // Plain words: one line per layer, 1, 4, 16, 64, 64 words.
    let text = ok(&["encode", &img, "--checkpoint", &run]);
    let counts: Vec<usize> = text
        .lines()
        .filter(|l| l.starts_with("layer "))
        .map(|l| l.split_once(':').unwrap().1.split_whitespace().count())
        .collect();
    assert_eq!(counts, vec![1, 4, 16, 64, 64], "{text}");

    // JSON, decoded in full and at the first decodable depth; the plain form decodes too.
    let json = ok(&["encode", &img, "--checkpoint", &run, "--json"]);
    std::fs::write(p("t.json"), &json).unwrap();
    std::fs::write(p("t.txt"), &text).unwrap();
    ok(&[
        "decode",
        &p("t.json"),
        "--checkpoint",
        &run,
        "--out",
        &p("full.png"),
    ]);
    ok(&[
        "decode",
        &p("t.json"),
        "--checkpoint",
        &run,
        "--layers",
        "4",
        "--out",
        &p("d4.png"),
    ]);
    ok(&[
        "decode",
        &p("t.txt"),
        "--checkpoint",
        &run,
        "--out",
        &p("plain.png"),
    ]);
    assert_eq!(
        std::fs::read(p("full.png")).unwrap(),
        std::fs::read(p("plain.png")).unwrap()
    );
    // A released model (`spae export`: model.safetensors + state.json, no burnpack, no
    // optimizer) gives the same words.
    let released = p("released");
    ok(&["export", "--checkpoint", &run, "--out", &released]);
    let mut files: Vec<String> = std::fs::read_dir(&released)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["model.safetensors", "state.json"]);
    assert_eq!(ok(&["encode", &img, "--checkpoint", &released]), text);

    // The device named explicitly runs the same generic code: the same words; a device this
    // build lacks, or an unknown one, is a one-line error naming it.
    assert_eq!(
        ok(&["--device", "cpu", "encode", &img, "--checkpoint", &run]),
        text
    );
    let args = ["encode", &img, "--checkpoint", &run];
    let err = fails(&[&["--device", "gpu"][..], &args].concat());
    assert!(err.contains("unknown device 'gpu'"), "{err}");
    if !cfg!(feature = "cuda") {
        let err = fails(&[&["--device", "cuda:1"][..], &args].concat());
        assert!(err.contains("--features cuda"), "{err}");
        // A command that computes on no device starts none: it runs whatever device is named.
        let png = ok(&["--device", "cuda:1", "data", "inspect", &p("full.png")]);
        assert!(png.contains("PNG 32x32"), "{png}");
    }

    // A decoded 32x32 PNG is itself a valid input.
    ok(&["encode", &p("full.png"), "--checkpoint", &run]);

    // Bad pyramids.
    let err = fails(&[
        "decode",
        &p("t.json"),
        "--checkpoint",
        &run,
        "--layers",
        "3",
    ]);
    assert!(err.contains("first decodable depth is 4"), "{err}");
    // Words are the only JSON strings that start with a space: spoil the first one.
    let unknown = json.replacen("\" ", "\" zzqqxy", 1);
    assert_ne!(unknown, json);
    std::fs::write(p("unknown.json"), unknown).unwrap();
    let err = fails(&["decode", &p("unknown.json"), "--checkpoint", &run]);
    assert!(err.contains("unknown word"), "{err}");
    // An id that is not the word's (e.g. out of range).
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let id = v[0]["layers"][0]["ids"][0].as_u64().unwrap();
    let bad_id = json.replacen(&format!("{id}\n"), "99999999\n", 1);
    assert_ne!(bad_id, json);
    std::fs::write(p("bad-id.json"), bad_id).unwrap();
    let err = fails(&["decode", &p("bad-id.json"), "--checkpoint", &run]);
    assert!(err.contains("id 99999999 is not the id of"), "{err}");
    let short: String = text
        .lines()
        .map(|l| {
            if l.starts_with("layer 2") {
                "layer 2 (2x2): cat dog"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(p("short.txt"), short).unwrap();
    let err = fails(&["decode", &p("short.txt"), "--checkpoint", &run]);
    assert!(err.contains("layer 2 has 2 words, expected 4"), "{err}");

    // Any image: a 64x64 RGBA emoji, a 600x400 JPEG photo and a lossy WebP reach the 32x32 gray
    // model resized; --no-resize refuses them by name; the exact-size path is the same either way.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spae/tests/fixtures/images");
    let emoji = common::assets_root().join("data/emoji/img/google/64/1f600.png");
    let photo = fixtures.join("coffee.jpg");
    let webp = fixtures.join("chelsea.webp");
    for any in [&emoji, &photo, &webp] {
        let words = ok(&["encode", any.to_str().unwrap(), "--checkpoint", &run]);
        assert_eq!(words.lines().filter(|l| l.starts_with("layer ")).count(), 5);
        let strict = [any.to_str().unwrap(), "--checkpoint", &run, "--no-resize"];
        let err = fails(&[&["encode"][..], &strict].concat());
        assert!(
            err.contains("x32") && err.contains("resizing is off"),
            "{err}"
        );
    }
    assert_eq!(
        ok(&["encode", &img, "--checkpoint", &run, "--no-resize"]),
        text
    );
    // Bad images.
    std::fs::write(p("notes.png"), b"GIF89a not really").unwrap();
    let err = fails(&["encode", &p("notes.png"), "--checkpoint", &run]);
    assert!(err.contains("not a PNG, JPEG or WebP"), "{err}");
    std::fs::write(p("empty.png"), b"").unwrap();
    let err = fails(&["encode", &p("empty.png"), "--checkpoint", &run]);
    assert!(err.contains("empty file"), "{err}");

    // Reconstruction report and its grid.
    let out = ok(&[
        "eval",
        "recon",
        "--checkpoint",
        &run,
        "--n",
        "10",
        "--out",
        &p("recon.json"),
    ]);
    assert!(
        out.contains("| 4 | 85 |") && out.contains("| 5 | 149 |"),
        "{out}"
    );
    assert!(Path::new(&p("recon.png")).exists());
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("recon.json")).unwrap()).unwrap();
    for r in rows.as_array().unwrap() {
        let fid = r["fid"].as_f64().unwrap();
        assert!(fid.is_finite() && fid > 0.0, "FID {fid}");
    }
    let err = fails(&["eval", "recon", "--checkpoint", &run, "--n", "1"]);
    assert!(err.contains("FID needs at least 2 images"), "{err}");
}

#[test]
fn fid_between_image_sets() {
    // The parity fixture's sets (crates/spae/tests/fid.rs): Fashion-MNIST test 0-5 against
    // 6-11, here as a data set slice and as a folder of gray PNGs.
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../spae/tests/fixtures/fid_reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let want = want["fid_a_b"].as_f64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    std::fs::create_dir(p("a")).unwrap();
    for i in 0..6 {
        let png = dir.path().join(format!("a/{i}.png"));
        write_gray_png(&png, 28, 28, &fashion_mnist_test_image(i));
    }
    for a in ["fashion-mnist:test:0..6", &p("a")] {
        let out = ok(&[
            "eval",
            "fid",
            a,
            "fashion-mnist:test:6..12",
            "--out",
            &p("fid.json"),
        ]);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p("fid.json")).unwrap()).unwrap();
        let got = report["fid"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-5 * want,
            "{a}: {got} vs {want}\n{out}"
        );
        assert_eq!(report["images_a"], 6);
    }
    // Bad sets; every run writes into the temporary folder (its journal too).
    let out = p("bad.json");
    let fid_fails = |args: &[&str]| fails(&[&["eval", "fid"][..], args, &["--out", &out]].concat());
    let err = fid_fails(&["fashion-mnist:test:0..1", &p("a")]);
    assert!(err.contains("at least 2 images"), "{err}");
    let err = fid_fails(&["fashion-mnist:test:9..3", &p("a")]);
    assert!(err.contains("range 9..3"), "{err}");
    let err = fid_fails(&["fashion-mnist:test:0..x", &p("a")]);
    assert!(err.contains("'x' is not an image index"), "{err}");
    let err = fid_fails(&["mnist:test:balanced:x", &p("a")]);
    assert!(err.contains("'x' is not an image count"), "{err}");
    let err = fid_fails(&["mnist:test:balanced:5000", &p("a")]);
    assert!(err.contains("range 0..5000"), "{err}");
    let err = fid_fails(&[&p("missing"), &p("a")]);
    assert!(err.contains("neither a folder nor"), "{err}");
    let err = fid_fails(&[&p("a"), &p("a"), "--canvas", "16"]);
    assert!(err.contains("larger than --canvas 16"), "{err}");
}
