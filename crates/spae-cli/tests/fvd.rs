//! `spae eval video --i3d`: the FVD of a video tokenizer's reconstructions from a user's I3D
//! weights (issue 19). No I3D weights are installable, so the weights are the narrow PyTorch twin
//! of `pytorch-i3d` that crates/spae/tests/fvd.rs checks feature by feature
//! (tools/i3d_fixtures.py); the tokenizer is a tiny 12-frame one trained for two steps.

mod common;

use common::{codebook, ok, repo, tiny_video_config};

/// [`tiny_video_config`] with 12-frame clips (latent 6 x 4 x 4) trained for two steps.
fn twelve_frame_config(dir: &std::path::Path, cb: &str) -> String {
    let path = tiny_video_config(dir, cb, "");
    let text = std::fs::read_to_string(&path).unwrap();
    let twelve = [
        ("frames = 4\n", "frames = 12\n"),
        ("[1, 2, 2], [2, 4, 4]]", "[3, 2, 2], [6, 4, 4]]"),
        ("warmup_steps = 2\n", "warmup_steps = 1\n"),
        ("cooldown_steps = 2\n", "cooldown_steps = 1\n"),
        ("steps = 12\n", "steps = 2\n"),
        ("checkpoint_every = 4\n", "checkpoint_every = 2\n"),
        ("sample_every = 12\n", "sample_every = 2\n"),
    ];
    let text = twelve.iter().fold(text, |t, (a, b)| {
        assert!(t.contains(a), "the tiny configuration changed: no {a:?}");
        t.replacen(a, b, 1)
    });
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn eval_video_reports_the_fvd_of_each_depth_from_user_i3d_weights() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let cb = codebook(dir.path());
    let cfg = twelve_frame_config(dir.path(), &cb);
    ok(&["train", "--config", &cfg, "--out", &p("run")]);
    let i3d = repo().join("crates/spae/tests/fixtures/i3d/narrow.safetensors");
    let i3d = i3d.to_string_lossy();
    let eval = |out: &str, port: &str| {
        ok(&[
            "eval",
            "video",
            "--checkpoint",
            &p("run"),
            "--clips",
            "3",
            "--no-fid",
            "--i3d",
            &i3d,
            "--i3d-port",
            port,
            "--out",
            &p(out),
        ])
    };
    let out = eval("ev/video.json", "videogpt");
    assert!(out.contains("FVD"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("ev/video.json")).unwrap()).unwrap();
    let rows = report["depths"].as_array().unwrap();
    assert!(!rows.is_empty(), "{report}");
    let fvd: Vec<f64> = rows.iter().map(|r| r["fvd"].as_f64().unwrap()).collect();
    // A Fréchet distance is non-negative (up to rounding) and a two-step tokenizer's clips are
    // not the originals: each depth's FVD is clearly above zero.
    for (r, f) in rows.iter().zip(&fvd) {
        assert!(f.is_finite() && *f > 1e-3, "{r}");
        assert!(r["frame_fid"].is_null(), "--no-fid still measured FID: {r}");
    }
    // The same weights under the other port's epsilon give other features, hence other FVDs.
    eval("ev/other.json", "pytorch-i3d");
    let other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("ev/other.json")).unwrap()).unwrap();
    let fvd2 = other["depths"][0]["fvd"].as_f64().unwrap();
    assert!(
        (fvd2 - fvd[0]).abs() > 1e-6 * fvd[0],
        "{fvd2} vs {}",
        fvd[0]
    );

    // Mistakes (from the repository root, where the released model's codebook path resolves):
    // weights that are not I3D's, an unknown port, clips too short for I3D.
    let (run, bad_out) = (p("run"), p("ev/bad.json"));
    let refused = |checkpoint: &str, extra: &[&str]| {
        let mut args = vec!["eval", "video", "--checkpoint", checkpoint, "--clips", "2"];
        args.extend_from_slice(&["--no-fid", "--out", &bad_out]);
        args.extend_from_slice(extra);
        let out = common::spae(&args).current_dir(repo()).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let lpips = spae::assets::Assets::from_env_or(common::assets_root())
        .path("lpips")
        .unwrap();
    let err = refused(&run, &["--i3d", &lpips.to_string_lossy()]);
    let missing = "Conv3d_1a_7x7.conv3d.weight is missing";
    assert!(err.contains(missing), "{err}");
    let err = refused(&run, &["--i3d", &i3d, "--i3d-port", "tf"]);
    assert!(err.contains("unknown I3D port 'tf'"), "{err}");
    // The released tokenizer's clips have 8 frames.
    let err = refused("models/moving-mnist", &["--i3d", &i3d]);
    assert!(err.contains("at least 9 frames"), "{err}");
}

#[test]
fn eval_fvd_compares_two_folders_of_clips_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let i3d = repo().join("crates/spae/tests/fixtures/i3d/narrow.safetensors");
    let i3d = i3d.to_string_lossy().into_owned();
    // Two sets of 3 held-out Moving MNIST clips (20 frames of 64x64, animated PNGs).
    for (set, seed) in [("a", "1"), ("b", "2")] {
        ok(&[
            "data",
            "moving-mnist",
            "--split",
            "test",
            "--clips",
            "3",
            "--seed",
            seed,
            "--out",
            &p(set),
        ]);
    }
    let fvd = |a: &str, b: &str, out: &str, extra: &[&str]| -> f64 {
        let mut args = vec!["eval", "fvd", a, b, "--i3d", &i3d, "--out", out];
        args.extend_from_slice(extra);
        let printed = ok(&args);
        assert!(printed.contains("3 clips"), "{printed}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
        assert_eq!(
            (report["frames"].as_u64(), report["features"].as_u64()),
            (Some(16), Some(400))
        );
        report["fvd"].as_f64().unwrap()
    };
    // A refused run's error (clap's, or one line of ours).
    let (a, b, x) = (p("a"), p("b"), p("x.json"));
    let refused = |extra: &[&str]| {
        let mut args = vec!["eval", "fvd", &a, &b, "--i3d", &i3d, "--out", &x];
        args.extend_from_slice(extra);
        let out = common::spae(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The folders also hold each set's sheet, a still PNG: refused by name, not skipped.
    let err = refused(&[]);
    assert!(err.contains("sheet.png: 1 frame(s)"), "{err}");
    for set in ["a", "b"] {
        std::fs::remove_file(dir.path().join(set).join("sheet.png")).unwrap();
    }
    let same = fvd(&p("a"), &p("a"), &p("same.json"), &[]);
    let ab = fvd(&p("a"), &p("b"), &p("ab.json"), &[]);
    let ba = fvd(&p("b"), &p("a"), &p("ba.json"), &[]);
    // A set against itself is at distance 0; the distance is symmetric and positive otherwise.
    assert!(
        same.abs() < 1e-6 * ab,
        "FVD(a, a) = {same}, FVD(a, b) = {ab}"
    );
    assert!(ab > 0.0 && (ab - ba).abs() <= 1e-9 * ab, "{ab} vs {ba}");
    // Resumed from its finished journal: the features are read back, the same FVD.
    let again = fvd(&p("a"), &p("b"), &p("ab.json"), &["--resume"]);
    assert_eq!(again, ab);
    // Clips shorter than --frames, and too few frames for I3D, are refused.
    let err = refused(&["--frames", "21"]);
    assert!(err.contains("20 frame(s), fewer than --frames 21"), "{err}");
    let err = refused(&["--frames", "8"]);
    assert!(err.contains("--frames 8: I3D needs at least 9"), "{err}");
}
