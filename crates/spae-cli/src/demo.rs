//! `spae demo`: the main job on the embedded defaults. It grows with the product; today it
//! builds (or loads) the SmolLM2 codebook, prints its statistics and some nearest words, checks
//! the quantizer on real codebook rows, and loads the installed data sets.

use std::time::Instant;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use spae::assets::Assets;
use spae::codebook::CodebookConfig;
use spae::data::{self, Split};
use spae::quantizer::NearestSearch;

use crate::codebook_cmd;

const WORDS: [&str; 6] = ["cat", "red", "shoe", "king", "water", "seven"];

pub fn run(assets: &Assets) -> Result<()> {
    let dir = assets.codebook_dir("smollm2");
    let cb = if dir.join("codebook.vocab.json").exists() {
        codebook_cmd::load(&dir)?
    } else {
        println!("building the SmolLM2 codebook (once) ...");
        let gguf = assets.path("smollm2")?;
        codebook_cmd::build(&gguf, "smollm2", &CodebookConfig::default(), &dir)?
    };
    println!("== the frozen language codebook ==");
    codebook_cmd::print_stats(&cb, &dir);

    println!("\n== nearest words (cosine of SmolLM2 input embeddings) ==");
    for w in WORDS {
        codebook_cmd::print_neighbors(&cb, w, 8)?;
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
    println!("(encoder latents are quantized here once a trained SPAE model exists)");

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
    let (em, names) = data::emoji(&assets.path("emoji")?)?;
    println!(
        "emoji: {} images {}x{} in {} categories, e.g. {}",
        em.len(),
        em.height,
        em.width,
        em.class_names.len(),
        names
            .iter()
            .step_by(97)
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn rms(v: &[f32]) -> f32 {
    (v.iter().map(|x| x * x).sum::<f32>() / v.len().max(1) as f32).sqrt()
}
