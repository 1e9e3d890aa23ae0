//! `spae demo`: the main job on the embedded defaults. It grows with the product; today it
//! builds (or loads) the SmolLM2 codebook, prints its statistics and some nearest words, checks
//! the quantizer on real codebook rows, loads the installed data sets, shows the committed
//! tokenizer's words and reconstructions, and ends with a short few-shot run of the frozen LLM.

use spae::device::Device;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use spae::assets::Assets;
use spae::data::{self, tile_images, write_png, Split};
use spae::eval::psnr;
use spae::pyramid::PyramidLayout;
use spae::quantizer::NearestSearch;

use spae_icl::fewshot::{ClassChoice, FewshotConfig, Queries, Setting};

use crate::common::LlmArgs;
use crate::fewshot_run::{evaluate, FewshotRun};

/// The committed default tokenizer: Fashion-MNIST, guided by the label-free bridge scorer, so
/// every class the demo shows is one it never saw labelled.
const MODEL: &str = "models/fashion-mnist-open";

/// The committed video tokenizer (issue 19): Moving MNIST, appearance loss only.
const VIDEO_MODEL: &str = "models/moving-mnist";

const WORDS: [&str; 6] = ["cat", "red", "shoe", "king", "water", "seven"];

pub fn run(assets: &Assets, device: &Device) -> Result<()> {
    let dir = assets.codebook_dir("smollm2");
    crate::common::ensure(&dir, assets)?;
    let cb = crate::common::load_codebook(&dir)?;
    println!("== the frozen language codebook ==");
    crate::common::print_stats(&cb, &dir);

    println!("\n== nearest words (cosine of SmolLM2 input embeddings) ==");
    for w in WORDS {
        crate::common::print_neighbors(&cb, w, 8)?;
    }

    println!("\n== quantizer check on real codebook rows ==");
    let search = NearestSearch::new(&cb.embeddings, cb.dim);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let n = 4096;
    let rms = rms(&cb.embeddings);
    for noise in [1.0f32, 2.0, 3.0] {
        let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..cb.len())).collect();
        // Uniform noise with standard deviation `noise * rms` on every coordinate.
        let half_width = noise * rms * 3f32.sqrt();
        let z: Vec<f32> = picks
            .iter()
            .flat_map(|&k| cb.row(k).to_vec())
            .map(|x| x + half_width * (rng.random::<f32>() * 2.0 - 1.0))
            .collect();
        let t = Instant::now();
        let found = search.search(&z);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let hits = found
            .iter()
            .zip(&picks)
            .filter(|(f, &k)| f.index as usize == k)
            .count();
        println!(
            "{n} words + noise of {:.0}% of the embedding RMS: {:5.1}% quantize back to their word \
             ({n} x {} exact search in {ms:.0} ms)",
            noise * 100.0,
            100.0 * hits as f64 / n as f64,
            cb.len()
        );
    }

    println!("\n== installed data ==");
    let fm = data::fashion_mnist(&assets.path("fashion-mnist")?, Split::Test)?;
    println!(
        "fashion-mnist test: {} images {}x{}, classes {}",
        fm.len(),
        fm.height,
        fm.width,
        fm.class_names.join(", ")
    );
    let mn = data::mnist_digits(&assets.path("mnist")?)?;
    println!(
        "mnist digits: {} images {}x{}",
        mn.len(),
        mn.height,
        mn.width
    );
    let em = data::emoji(&assets.path("emoji")?)?;
    println!(
        "emoji: {} images {}x{} in {} categories, e.g. {}",
        em.len(),
        em.height,
        em.width,
        em.class_names.len(),
        em.names
            .iter()
            .step_by(97)
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    show_video(assets, device)?;
    if show_model(assets, device)? {
        fewshot(assets, None, device)?;
        fewshot(assets, Some("mnist"), device)?;
    }
    Ok(())
}

/// A short few-shot run on classes the tokenizer never saw labelled: SmolLM2 classifies test
/// images (of the model's data set, or of `dataset`) from their first two layers' words, one
/// query per episode (100 independent episodes).
fn fewshot(assets: &Assets, dataset: Option<&str>, device: &Device) -> Result<()> {
    let args = FewshotRun {
        checkpoint: MODEL.into(),
        images: None,
        fit: Default::default(),
        dataset: dataset.map(String::from),
        split: Split::Test,
        choice: ClassChoice {
            unseen: true,
            ..Default::default()
        },
        pool: 1000,
        llm: LlmArgs::default(),
        cfg: FewshotConfig {
            layers: vec![2],
            settings: vec![Setting {
                way: 2,
                induction: true,
                shots: 1,
                repeats: 0,
            }],
            episodes: 100,
            queries: Queries::PerEpisode(1),
            ..FewshotConfig::default()
        },
        out: format!(
            "results/demo/fewshot-{}.json",
            dataset.unwrap_or("fashion-mnist")
        )
        .into(),
        resume: false,
    };
    println!(
        "\n== few-shot classification by the frozen SmolLM2 on {} classes the tokenizer never saw labelled ({MODEL}, 2 layers = 5 words per image) ==",
        dataset.unwrap_or("Fashion-MNIST")
    );
    let (results, labels) = evaluate(&args, assets, device)?;
    println!("{}", labels.line());
    for r in results {
        println!(
            "{}: constrained {:.1}% (95% CI {:.1}-{:.1}), open-ended {:.1}%, chance {:.0}%, over {} episodes of one query; a word-overlap reader without LLM: {:.1}%",
            r.setting.name(),
            100.0 * r.constrained_accuracy,
            100.0 * r.constrained_ci95.0,
            100.0 * r.constrained_ci95.1,
            100.0 * r.open_accuracy,
            100.0 * r.chance,
            r.queries,
            100.0 * r.word_overlap_accuracy
        );
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The committed model, if present (returns whether it is): words of a few test images and
/// their reconstructions.
fn show_model(assets: &Assets, device: &Device) -> Result<bool> {
    let dir = Path::new(MODEL);
    if !dir.join("state.json").exists() {
        println!("(no trained model at {MODEL}: train one with `spae train`)");
        return Ok(false);
    }
    let tok = crate::common::tokenizer(dir, assets, device)?;
    let seen = spae::train::labels_seen(dir, assets)?;
    let set = data::fashion_mnist(&assets.path("fashion-mnist")?, Split::Test)?;
    let (size, ch) = tok.image_shape();
    let idx: Vec<usize> = (0..8).collect();
    let x = set.batch_chw(&idx, size);
    println!(
        "\n== SPAE tokens of test images ({MODEL}: {}) ==",
        seen.summary()
    );
    let digits = spae::train::named_dataset("mnist", assets, Split::Test)?;
    for (what, set, idx) in [
        ("Fashion-MNIST", &set, (0..8).collect::<Vec<_>>()),
        ("MNIST", &digits, digits.balanced_sample(10, 0)),
    ] {
        let words = tok.encode(&set.batch_chw(&idx, size))?;
        for (layers, &i) in
            words
                .images()
                .iter()
                .zip(&idx)
                .take(if what == "MNIST" { 10 } else { 6 })
        {
            let name = &set.class_names[set.labels[i] as usize];
            let top: Vec<String> = layers[..2].iter().map(|l| l.words.concat()).collect();
            let tag = if seen.saw(name) { "seen" } else { "unseen" };
            println!(
                "{what:<13} {name:<11} ({tag})  layer 1:{}  layer 2:{}",
                top[0], top[1]
            );
        }
    }
    let codes = tok.encode_codes(x.clone(), idx.len());
    let pyramid = tok.pyramid();
    let mut rows = vec![x];
    for depth in pyramid.first_decodable_depth()..=pyramid.n_layers() {
        let y = tok.decode_codes(&codes.tokens, idx.len(), depth)?;
        let mean_psnr = (0..idx.len())
            .map(|i| {
                let r = i * ch * size * size..(i + 1) * ch * size * size;
                psnr(&rows[0][r.clone()], &y[r])
            })
            .sum::<f64>()
            / idx.len() as f64;
        println!(
            "depth {depth} ({} words): mean PSNR {mean_psnr:.2} dB over these {} images",
            pyramid.cumulative_sizes()[depth - 1],
            idx.len()
        );
        rows.push(y);
    }
    let out = Path::new("results/demo/reconstructions.png");
    let grid = tile_images(&rows, idx.len(), ch, size);
    write_png(out, &grid, ch, size * rows.len(), size * idx.len())?;
    println!(
        "wrote {} (rows: originals, then each decodable depth)",
        out.display()
    );
    Ok(true)
}

/// The committed video tokenizer, if present: the words of a held-out Moving MNIST clip and its
/// reconstruction as an animated GIF.
fn show_video(assets: &Assets, device: &Device) -> Result<()> {
    let dir = Path::new(VIDEO_MODEL);
    if !dir.join("state.json").exists() {
        println!("(no video model at {VIDEO_MODEL}: train one with configs/moving-mnist.toml)");
        return Ok(());
    }
    let tok = crate::video_cmd::video_tokenizer(dir, assets, device)?;
    let shape = tok.clip_shape();
    let (frames, size) = (shape.frames, shape.size);
    let split = data::video::video_split(tok.config(), assets, Split::Test, 1, 1)?;
    let x = split.pixels;
    println!(
        "\n== SPAE words of a video ({VIDEO_MODEL}: a held-out Moving MNIST clip of {}, {frames} frames of {size}x{size}) ==",
        split.names[0]
    );
    let layers = tok.encode(&x)?.remove(0);
    for l in layers.iter().take(2) {
        let [t, h, w] = l.grid;
        println!("layer {} ({t}x{h}x{w}):{}", l.layer, l.words.concat());
    }
    let depth = layers.len();
    let y = tok.decode(std::slice::from_ref(&layers), depth)?;
    let words: usize = layers.iter().map(|l| l.words.len()).sum();
    println!("{words} words; reconstruction PSNR {:.2} dB", psnr(&x, &y));
    let out = Path::new("results/demo/video-recon.gif");
    crate::video_cmd::write_clip(Path::new("results/demo/video-clip.gif"), &x, shape)?;
    crate::video_cmd::write_clip(out, &y, shape)?;
    println!(
        "wrote results/demo/video-clip.gif and {} (animated GIFs) with their frame strips",
        out.display()
    );
    Ok(())
}

fn rms(v: &[f32]) -> f32 {
    (v.iter().map(|x| x * x).sum::<f32>() / v.len().max(1) as f32).sqrt()
}
