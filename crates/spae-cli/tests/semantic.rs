//! Training with semantic guidance (label, CLIP and name scorers) on real data: a 400-word slice
//! of the real SmolLM2 codebook, real MiniLM text features (cached once, then reused), the
//! semantic loss present in every step, and exact resume.

mod common;

use std::path::Path;

use common::{small_codebook, spae, tiny_config};

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn semantic_guidance_trains_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let cb_dir = small_codebook(dir.path(), 400);
    let base = std::fs::read_to_string(tiny_config(dir.path(), &cb_dir, 24)).unwrap();
    let cfg = dir.path().join("semantic.toml");
    std::fs::write(
        &cfg,
        base.replace("gan = 0.1", "gan = 0.0").replace("perceptual = 0.1", "perceptual = 0.0")
            + "[semantic]\nweight = 1.0\ntemplates = \"imagenet-7\"\nthresholds = [0.98, 0.95, 0.9]\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    // `spae ARGS` with the text-feature cache in this test's folder.
    let run_spae = |args: &[&str]| spae(args).env("SPAE_CACHE", &cache).output().unwrap();
    let run = dir.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = run_spae(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    train(&["--max-steps", "12"]);
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "one text-feature cache file");
    train(&["--resume"]);

    // The cached features answer `semantic words` without recomputing.
    let out = run_spae(&[
        "semantic",
        "words",
        "sneaker",
        "-n",
        "5",
        "--codebook",
        &cb_dir,
        "--templates",
        "imagenet-7",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("sneaker ->"),
        "{text}"
    );
    assert_eq!(
        text.lines().last().unwrap().matches(',').count(),
        4,
        "{text}"
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    let m = metrics(&run);
    assert_eq!(m.len(), 24);
    let sem: Vec<f64> = m.iter().map(|r| r["semantic"].as_f64().unwrap()).collect();
    eprintln!("semantic loss per step: {sem:?}");
    assert!(sem.iter().all(|s| s.is_finite() && *s > 0.0), "{sem:?}");
    // Cross-entropy over 400 words: of the order of ln 400 = 6 at the start.
    assert!(sem[0] > 2.0 && sem[0] < 20.0, "{sem:?}");

    // The guidance works: the semantic loss (Eq. 7) falls over the run (the last quarter of the
    // steps against the first; seeded, measured 6.95 -> 6.55 with batches of 4).
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&sem[18..]) < mean(&sem[..6]),
        "semantic loss did not fall: {sem:?}"
    );

    // Semantic relevance per layer and the hit rate, with the cached features; the top layer's
    // relevance rises from the first step's model to the trained one.
    let eval = |run: &Path, name: &str| -> serde_json::Value {
        let report = dir.path().join(name);
        let out = run_spae(&[
            "eval",
            "semantic",
            "--checkpoint",
            run.to_str().unwrap(),
            "--n",
            "60",
            "--templates",
            "imagenet-7",
            "--out",
            report.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
    };
    let r = eval(&run, "semantic.json");
    assert_eq!(r["layers"].as_array().unwrap().len(), 5);
    // `steps` steps of `cfg` into the run folder `name`.
    let train_steps = |cfg: &Path, name: &str, steps: &str| {
        let run = dir.path().join(name);
        let out = run_spae(&[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--max-steps",
            steps,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        run
    };
    // Variants of the config: `edits` are (from, to) replacements.
    let variant = |name: &str, edits: &[(&str, &str)]| {
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        for (from, to) in edits {
            text = text.replace(from, to);
        }
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let r0 = eval(&train_steps(&cfg, "first-step", "1"), "semantic-first.json");
    let top = |r: &serde_json::Value| r["layers"][0]["relevance"].as_f64().unwrap();
    eprintln!(
        "top-layer relevance: step 1 {}, step 24 {}",
        top(&r0),
        top(&r)
    );
    assert!(top(&r) > top(&r0), "relevance did not rise: {r0} -> {r}");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);

    // The rise is the guidance's, not training's: the same 24 steps without the semantic loss.
    let unguided = variant("unguided", &[("weight = 1.0", "weight = 0.0")]);
    let ru = eval(
        &train_steps(&unguided, "unguided", "24"),
        "semantic-unguided.json",
    );
    eprintln!(
        "top-layer relevance without guidance, step 24: {}",
        top(&ru)
    );
    assert!(top(&r) > top(&ru), "guided {r} vs unguided {ru}");

    // A few steps of a variant, every one with a semantic loss.
    let trains_guided = |cfg: &Path, name: &str, steps: &str| {
        let run = train_steps(cfg, name, steps);
        assert!(metrics(&run)
            .iter()
            .all(|r| r["semantic"].as_f64().unwrap() > 0.0));
    };
    // A variant refused with an error naming `reason`.
    let refused = |cfg: &Path, name: &str, reason: &str| {
        let out = run_spae(&[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            dir.path().join(name).to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(reason), "{err}");
    };

    // A per-image scorer: CLIP (the tiny random parity checkpoint stands in for real weights,
    // which these machines cannot download) scores every training image once.
    let clip_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spae/tests/fixtures/clip-tiny"
    );
    let clip_scorer = format!("[semantic]\nscorer = \"clip:{clip_dir}\"");
    let clip_cfg = variant("clip", &[("[semantic]", &clip_scorer)]);
    trains_guided(&clip_cfg, "clip-run", "3");

    // The name scorer: `f_img` is the MiniLM embedding of each image's own caption (emoji
    // names), per training image; a data set without names is refused.
    let name_scorer = ("[semantic]", "[semantic]\nscorer = \"name\"");
    let name_cfg = variant(
        "name",
        &[
            name_scorer,
            (
                "[model]",
                "[data]\ndataset = \"emoji\"\n[model]\nimage_size = 64\nimage_channels = 3\nchannel_mult = [1, 1, 2, 2]",
            ),
        ],
    );
    trains_guided(&name_cfg, "name-run", "2");
    let unnamed = variant("unnamed", &[name_scorer]);
    refused(
        &unnamed,
        "unnamed",
        "needs a name (caption) for every image",
    );

    // Label bookkeeping: the label scorer's run records the ten class names it saw ...
    let labels = |run: &str| -> serde_json::Value {
        let run = dir.path().join(run);
        let latest = std::fs::read_to_string(run.join("LATEST")).unwrap();
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(run.join(latest.trim()).join("state.json")).unwrap(),
        )
        .unwrap();
        state["labels"]["runs"].clone()
    };
    let seen = labels("run");
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen[0]["kind"], "class-names");
    assert_eq!(seen[0]["names"].as_array().unwrap().len(), 10, "{seen}");
    // ... a class-disjoint run (data.classes) only its own, warm-started from the first run,
    // whose labels it carries ...
    let first = run.to_str().unwrap().to_string();
    let two = variant(
        "two",
        &[
            (
                "[model]",
                "[data]\nclasses = [\"trouser\", \"Ankle boot\"]\n[model]",
            ),
            ("[loop]", &format!("[loop]\ninit = \"{first}\"")),
        ],
    );
    trains_guided(&two, "two-run", "2");
    let seen = labels("two-run");
    assert_eq!(seen.as_array().unwrap().len(), 2, "{seen}");
    assert_eq!(seen[0]["names"].as_array().unwrap().len(), 10, "{seen}");
    assert_eq!(
        seen[1]["names"],
        serde_json::json!(["ankle boot", "trouser"]),
        "{seen}"
    );
    let unknown = variant(
        "unknown",
        &[("[model]", "[data]\nclasses = [\"shoe\"]\n[model]")],
    );
    refused(&unknown, "unknown", "data.classes: no class 'shoe'");
    // ... and the label-free bridge scorer none, naming what the scorer was pretrained on
    // (its options and a capped training set exercised too).
    let bridge = variant(
        "bridge",
        &[
            ("[semantic]", "[semantic]\nscorer = \"bridge\""),
            ("[model]", "[data]\nmax_images = 8\n[model]"),
            ("thresholds = [0.98, 0.95, 0.9]", "thresholds = [0.98, 0.95, 0.9]\n[semantic.bridge]\ninvert = \"auto\"\nflip = true\ntop_classes = 10\nclusters = 2\ncenter = true\nneighbours = 3"),
        ],
    );
    trains_guided(&bridge, "bridge-run", "2");
    let seen = labels("bridge-run");
    assert_eq!(seen[0]["kind"], "none", "{seen}");
    assert!(seen[0]["scorer_pretraining"]
        .as_str()
        .unwrap()
        .contains("ImageNet-1k"));

    // A threshold above 1 would leave every pool empty: refused.
    let bad = variant(
        "bad",
        &[("thresholds = [0.98, 0.95, 0.9]", "thresholds = [1.5]")],
    );
    refused(&bad, "bad", "semantic.thresholds");

    // The same run uninterrupted gives the same losses (targets are drawn from per-step seeds).
    let again = dir.path().join("again");
    let out = run_spae(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    for (a, b) in m.iter().zip(metrics(&again)) {
        let (a, b) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1e-3), "{a} vs {b}");
    }
}
