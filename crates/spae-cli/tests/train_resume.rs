//! Training survives `kill -9`: a run killed mid-way resumes from its last checkpoint, loses at
//! most one checkpoint interval, writes each step's metrics once, and ends where an uninterrupted
//! run ends. Bad checkpoints and misuse give one-line errors.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    assert_same_metrics, codebook, fails, latest_step, metric_steps, ok, spae, tiny_config,
};

#[test]
fn kill_nine_then_resume_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let cb = codebook(dir.path());
    let cfg = tiny_config(dir.path(), &cb, 30);

    // Reference: uninterrupted.
    let full = dir.path().join("full");
    ok(&["train", "--config", &cfg, "--out", full.to_str().unwrap()]);
    let reference = metric_steps(&full, "l2");
    assert_eq!(
        reference.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );

    // Killed with SIGKILL once a checkpoint beyond step 10 exists.
    let run = dir.path().join("killed");
    let mut child = spae(&["train", "--config", &cfg, "--out", run.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while latest_step(&run).is_none_or(|s| s < 10) {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no checkpoint in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = latest_step(&run).unwrap();
    assert!(at_kill < 30, "the run finished before it was killed");

    // Without --resume the folder is refused; with it the run continues.
    let err = fails(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert!(err.contains("--resume"), "{err}");
    ok(&[
        "train",
        "--config",
        &cfg,
        "--out",
        run.to_str().unwrap(),
        "--resume",
    ]);
    let resumed = metric_steps(&run, "l2");
    assert_eq!(
        resumed.iter().map(|s| s.0).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    assert_eq!(latest_step(&run), Some(30));
    // The same batches, weights and optimizer state: the same losses as the uninterrupted run.
    assert_same_metrics(&reference, &resumed);
    // The GAN and LPIPS terms are on (the GAN from step 8), and sample grids were written:
    // 8 images wide, originals + depths 4 and 5 high.
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(first["gan"].as_f64() == Some(0.0), "{first}");
    for key in ["gan", "disc", "perceptual"] {
        assert!(last[key].as_f64().unwrap() > 0.0, "{key}: {last}");
    }
    let png = spae::data::read_png(&run.join("samples/step-00000030.png")).unwrap();
    assert_eq!((png.width, png.height), (8 * 32, 3 * 32));
    // And the loss went down.
    let mean = |v: &[(u64, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
    assert!(mean(&resumed[25..]) < mean(&resumed[..5]), "{resumed:?}");
}

#[test]
fn bad_checkpoints_and_configs() {
    let dir = tempfile::tempdir().unwrap();
    let cb = codebook(dir.path());
    let cfg = tiny_config(dir.path(), &cb, 30);
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    ok(&["train", "--config", &cfg, "--out", r, "--max-steps", "5"]);

    // Another configuration cannot resume this run.
    let other = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("seed = 3", "seed = 4");
    let other_path = dir.path().join("other.toml");
    std::fs::write(&other_path, other).unwrap();
    let err = fails(&[
        "train",
        "--config",
        other_path.to_str().unwrap(),
        "--out",
        r,
        "--resume",
    ]);
    assert!(err.contains("another configuration"), "{err}");

    // The PyTorch twin times the appearance-only step: GAN and LPIPS configurations are refused
    // before anything runs.
    let bench_out = dir.path().join("bench.json");
    let err = fails(&[
        "bench",
        "train",
        "--config",
        &cfg,
        "--steps",
        "1",
        "--compare-torch",
        "--out",
        bench_out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("appearance-only") && err.contains("the GAN") && err.contains("perceptual"),
        "{err}"
    );
    assert!(!bench_out.exists());

    // A truncated model file.
    let model = run.join("step-00000005/model.bpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&["train", "--config", &cfg, "--out", r, "--resume"]);
    assert!(err.contains("model.bpk"), "{err}");

    // A learned codebook is the plain VQ baseline only.
    let learned = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("pyramid =", "learned_codebook = true\npyramid =");
    let learned_path = dir.path().join("learned.toml");
    std::fs::write(&learned_path, learned).unwrap();
    let out = dir.path().join("learned");
    let err = fails(&[
        "train",
        "--config",
        learned_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("learned_codebook") && err.contains("vq"),
        "{err}"
    );

    // Unknown fields and missing codebooks.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "quantiser = \"saq\"\n").unwrap();
    let err = fails(&["train", "--config", bad.to_str().unwrap(), "--out", r]);
    assert!(
        err.contains("bad.toml") && err.contains("quantiser"),
        "{err}"
    );
    let err = fails(&[
        "train",
        "--config",
        &cfg,
        "--out",
        r,
        "--codebook",
        "/nonexistent-cb",
    ]);
    assert!(err.contains("no codebook at /nonexistent-cb"), "{err}");

    // The codebook folder rebuilt with other words: the checkpoint recorded its codebook, so
    // neither resuming nor encoding uses the new one silently.
    let other = dir.path().join("other-run");
    ok(&[
        "train",
        "--config",
        &cfg,
        "--out",
        other.to_str().unwrap(),
        "--max-steps",
        "2",
    ]);
    let full = spae::codebook::Codebook::load(std::path::Path::new(&cb)).unwrap();
    let k = full.len() - 1;
    let fewer = spae::codebook::Codebook {
        words: full.words[1..].to_vec(),
        embeddings: full.embeddings[full.dim..].to_vec(),
        ..full
    };
    assert_eq!(fewer.len(), k);
    fewer.save(std::path::Path::new(&cb)).unwrap();
    let err = fails(&[
        "train",
        "--config",
        &cfg,
        "--out",
        other.to_str().unwrap(),
        "--resume",
    ]);
    assert!(err.contains("another codebook"), "{err}");
    let img = dir.path().join("x.png");
    common::write_gray_png(&img, 28, 28, &common::fashion_mnist_test_image(1));
    let err = fails(&[
        "encode",
        img.to_str().unwrap(),
        "--checkpoint",
        other.to_str().unwrap(),
    ]);
    assert!(err.contains("another codebook"), "{err}");
}

#[test]
fn warm_start_from_a_run_and_a_mismatched_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cb = codebook(dir.path());
    let cfg = tiny_config(dir.path(), &cb, 20);
    let base = dir.path().join("base");
    ok(&["train", "--config", &cfg, "--out", base.to_str().unwrap()]);

    // Same model, fresh optimizer and schedule, weights from the base run's last checkpoint:
    // its first step starts where the base run ended, far below a fresh start.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let with_init = |text: &str, name: &str| {
        let p = dir.path().join(name);
        let t = format!("{text}init = \"{}\"\n", base.display()).replace("steps = 20", "steps = 2");
        std::fs::write(&p, t).unwrap();
        p.to_string_lossy().into_owned()
    };
    let warm_cfg = with_init(&text, "warm.toml");
    let warm = dir.path().join("warm");
    ok(&[
        "train",
        "--config",
        &warm_cfg,
        "--out",
        warm.to_str().unwrap(),
    ]);
    let fresh_cfg = dir.path().join("fresh.toml");
    std::fs::write(&fresh_cfg, text.replace("steps = 20", "steps = 2")).unwrap();
    let fresh = dir.path().join("fresh");
    ok(&[
        "train",
        "--config",
        fresh_cfg.to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]);
    let base_steps = metric_steps(&base, "l2");
    let tail: Vec<f64> = base_steps[base_steps.len() - 5..]
        .iter()
        .map(|s| s.1)
        .collect();
    let base_end = tail.iter().sum::<f64>() / 5.0;
    let first_warm = metric_steps(&warm, "l2")[0].1;
    let first_fresh = metric_steps(&fresh, "l2")[0].1;
    assert!(
        first_warm < first_fresh && first_warm < 1.5 * base_end,
        "warm {first_warm}, fresh {first_fresh}, base ended near {base_end}"
    );

    // Another model shape cannot start from these weights.
    let wider = with_init(
        &text.replace(
            "base_channels = 8\nlatent_dim",
            "base_channels = 16\nlatent_dim",
        ),
        "wider.toml",
    );
    let out = dir.path().join("wider");
    let err = fails(&["train", "--config", &wider, "--out", out.to_str().unwrap()]);
    assert!(
        err.contains("loop.init") && err.contains("model configuration differs"),
        "{err}"
    );
}

/// `dataset = "folder:PATH"`: an ImageNet-style folder (one subfolder per class, files of any
/// format and size) trains; its `train/` and `val/` subfolders are the splits, or a split file's
/// lines (`data.split_file`); a missing folder,
/// a one-class folder and an empty `folder:` are refused with the path or the rule.
#[test]
fn trains_on_an_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cb = codebook(dir.path());
    let data = dir.path().join("photos");
    let photos = common::repo().join("crates/spae/tests/fixtures/images");
    for (split, class, files) in [
        ("train", "cat", vec!["chelsea.webp", "camera.jpg"]),
        ("train", "drink", vec!["coffee.jpg", "emoji.webp"]),
        ("val", "cat", vec!["chelsea.webp"]),
        ("val", "drink", vec!["coffee.jpg"]),
    ] {
        let d = data.join(split).join(class);
        std::fs::create_dir_all(&d).unwrap();
        for f in files {
            std::fs::copy(photos.join(f), d.join(f)).unwrap();
        }
        // And real Fashion-MNIST images as 28x28 PNGs in every class folder.
        for i in 0..3 {
            let png = d.join(format!("fm-{i}.png"));
            common::write_gray_png(&png, 28, 28, &common::fashion_mnist_test_image(i));
        }
    }
    let with_data = |dataset: &str, name: &str| {
        let text = std::fs::read_to_string(tiny_config(dir.path(), &cb, 4))
            .unwrap()
            .replace(
                "[model]",
                &format!("[data]\ndataset = \"{dataset}\"\n[model]"),
            );
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let cfg = with_data(&format!("folder:{}", data.display()), "folder.toml");
    let run = dir.path().join("run");
    ok(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert_eq!(
        metric_steps(&run, "l2")
            .iter()
            .map(|s| s.0)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let state = std::fs::read_to_string(run.join("step-00000004/state.json")).unwrap();
    assert!(
        state.contains(&format!("folder:{}", data.display())),
        "{state}"
    );
    assert!(!state.contains("stream"), "{state}");

    // Issue 17: the same run with the images read from their files step by step (the next
    // step's on a background thread) trains on the same pixels: the same metrics, to the bit.
    let streamed = dir.path().join("folder-stream.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &streamed,
        text.replace("[data]\n", "[data]\nstream = true\n"),
    )
    .unwrap();
    let run_s = dir.path().join("run-stream");
    ok(&[
        "train",
        "--config",
        streamed.to_str().unwrap(),
        "--out",
        run_s.to_str().unwrap(),
    ]);
    for key in ["l2", "commitment", "perceptual", "loss"] {
        assert_eq!(metric_steps(&run_s, key), metric_steps(&run, key), "{key}");
    }
    let state = std::fs::read_to_string(run_s.join("step-00000004/state.json")).unwrap();
    assert!(state.contains("\"stream\": true"), "{state}");

    // A split file naming the same images as the subfolders, in another order, is the same
    // split: the same run, to the bit.
    let split_file = dir.path().join("split.txt");
    let mut lines = Vec::new();
    for (split, class) in [
        ("train", "cat"),
        ("train", "drink"),
        ("val", "cat"),
        ("val", "drink"),
    ] {
        for f in std::fs::read_dir(data.join(split).join(class)).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            lines.push(format!("{split} {split}/{class}/{name}"));
        }
    }
    lines.reverse();
    std::fs::write(&split_file, lines.join("\n")).unwrap();
    let by_file = dir.path().join("folder-split.toml");
    let line = format!("[data]\nsplit_file = \"{}\"\n", split_file.display());
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&by_file, text.replace("[data]\n", &line)).unwrap();
    let run_f = dir.path().join("run-split-file");
    let (by_file, run_f_s) = (by_file.to_str().unwrap(), run_f.to_str().unwrap());
    ok(&["train", "--config", by_file, "--out", run_f_s]);
    for key in ["l2", "loss"] {
        assert_eq!(metric_steps(&run_f, key), metric_steps(&run, key), "{key}");
    }
    // `spae data inspect` lists a split per class without reading an image, and says how the
    // folder is split.
    let folder = format!("folder:{}", data.display());
    let by_dirs = ok(&["data", "inspect", &folder, "--split", "train"]);
    assert!(
        by_dirs.contains("train split (subfolders train/ and val/): 10 images, 2 classes"),
        "{by_dirs}"
    );
    let split_arg = split_file.to_str().unwrap();
    let inspect = ["data", "inspect", &folder, "--split-file", split_arg];
    let by_file = ok(&inspect);
    assert!(by_file.contains("test split (split file "), "{by_file}");
    assert!(by_file.contains(": 8 images, 2 classes"), "{by_file}");
    assert!(by_file.contains("drink                4"), "{by_file}");
    std::fs::write(&split_file, "train cat/a.gif\n").unwrap();
    let err = fails(&inspect);
    assert!(
        err.contains("line 1: cat/a.gif is not an image file"),
        "{err}"
    );

    // Random crops: other pixels than the centred squares, and a run resumed half-way sees the
    // same crops as one that was not stopped.
    let cropped = dir.path().join("folder-crop.toml");
    let text = std::fs::read_to_string(&streamed).unwrap();
    std::fs::write(
        &cropped,
        text.replace("[data]\n", "[data]\ncrop = \"random\"\n"),
    )
    .unwrap();
    let crop_run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        for args in [extra, &["--resume"][..]] {
            let mut all = vec!["train", "--config", cropped.to_str().unwrap()];
            all.extend(["--out", out.to_str().unwrap()]);
            all.extend(args);
            ok(&all);
            if extra.is_empty() {
                break;
            }
        }
        metric_steps(&out, "l2")
    };
    let whole = crop_run("run-crop", &[]);
    let halves = crop_run("run-crop-resumed", &["--max-steps", "2"]);
    assert_eq!(whole.len(), 4);
    assert_eq!(halves, whole);
    assert_ne!(whole, metric_steps(&run_s, "l2"));

    for (dataset, expect) in [
        (
            format!("folder:{}", dir.path().join("nope").display()),
            "nope".to_string(),
        ),
        (
            format!("folder:{}", data.join("val/cat").display()),
            "at least 2".into(),
        ),
        ("folder:".to_string(), "folder:PATH".into()),
        (
            // a split file that is not there
            format!(
                "folder:{}\"\nsplit_file = \"{}\"\n#",
                data.display(),
                dir.path().join("no-split.txt").display()
            ),
            "no-split.txt".into(),
        ),
        (
            // dataset = "fashion-mnist", then stream = true, then a comment for the closing quote
            "fashion-mnist\"\nstream = true\n#".to_string(),
            "data.stream reads an image folder's files".into(),
        ),
    ] {
        let cfg = with_data(&dataset, "bad-folder.toml");
        let out = dir.path().join("bad-run");
        let err = fails(&["train", "--config", &cfg, "--out", out.to_str().unwrap()]);
        assert!(err.contains(&expect), "{dataset}: {err}");
    }
}

/// Issue 17: `--devices` is refused with its reason wherever it cannot run: a CPU device (burn
/// 0.22's collective all-reduce is CUDA-only), a device named twice, a batch the devices do not
/// split evenly, a build without CUDA; for image and video configurations alike.
#[test]
fn data_parallel_devices_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "unused-codebook", 4);
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let train = |devices: &str| {
        fails(&[
            "train",
            "--config",
            &cfg,
            "--out",
            out,
            "--devices",
            devices,
        ])
    };
    for (devices, says) in [
        ("cpu,cpu", "burn's collective all-reduce"),
        ("cuda:0,tch-cuda:1", "tch-cuda:1 cannot train data-parallel"),
        ("cuda:0,cuda:0", "names cuda:0 twice"),
        (
            "cuda:0,cuda:1,cuda:2",
            "batch_size 4 does not split evenly over 3 devices",
        ),
    ] {
        let err = train(devices);
        assert!(err.contains(says), "{devices}: {err}");
    }
    if !cfg!(feature = "cuda") {
        for devices in ["cuda:0,cuda:1", "cuda:0"] {
            let err = train(devices);
            assert!(err.contains("--features cuda"), "{err}");
        }
    }
    // A video configuration takes the same checks (its batch of 2 clips, two CUDA devices).
    let video = common::tiny_video_config(dir.path(), "unused-codebook", "");
    let train_video = |devices: &str| {
        fails(&[
            "train",
            "--config",
            &video,
            "--out",
            out,
            "--devices",
            devices,
        ])
    };
    let err = train_video("cpu,cpu");
    assert!(err.contains("burn's collective all-reduce"), "{err}");
    let err = train_video("cuda:0,cuda:1,cuda:2");
    assert!(
        err.contains("batch_size 2 does not split evenly over 3"),
        "{err}"
    );
    if !cfg!(feature = "cuda") {
        let err = train_video("cuda:0,cuda:1");
        assert!(err.contains("--features cuda"), "{err}");
    }
    assert!(
        !std::path::Path::new(out).exists(),
        "a refused run wrote {out}"
    );
}
