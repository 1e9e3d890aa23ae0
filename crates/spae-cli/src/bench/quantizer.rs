//! `spae bench quantizer`: exact nearest-codeword search against burn and PyTorch.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use spae::quantizer::nearest::{indices_to_vec, search_tensor, NearestSearch};

use super::*;

#[derive(Serialize)]
struct Row {
    name: String,
    median_ms: f64,
    all_ms: Vec<f64>,
    /// Share of query vectors whose chosen codeword equals spae's.
    agreement_with_spae: f64,
}

#[derive(Serialize)]
struct Report {
    benchmark: &'static str,
    machine: String,
    threads: usize,
    n: usize,
    k: usize,
    d: usize,
    reps: usize,
    rows: Vec<Row>,
    /// spae median / PyTorch median (target <= 1.0).
    ratio_spae_over_torch: Option<f64>,
}

pub(super) fn quantizer_bench(args: QuantizerArgs, device: &Device) -> Result<()> {
    let QuantizerArgs {
        n,
        k,
        d,
        reps,
        threads,
        python,
        chunk_vectors,
        chunk_codewords,
        out,
    } = args;
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("configuring the thread pool")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let z: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let e: Vec<f32> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    println!("workload: N={n} vectors, |T|={k} codewords, d={d}; {reps} reps, {threads} threads");
    println!("machine:  {}", machine());

    let mut search = NearestSearch::new(&e, d);
    search.chunks.vectors = chunk_vectors.unwrap_or(search.chunks.vectors);
    search.chunks.codewords = chunk_codewords.unwrap_or(search.chunks.codewords);
    println!(
        "spae chunks: {} vectors x {} codewords",
        search.chunks.vectors, search.chunks.codewords
    );
    let (t_spae, res) = time_reps(reps, || search.search(&z));
    let spae_idx: Vec<u32> = res.iter().map(|r| r.index).collect();
    let mut rows = vec![Row {
        name: "spae (chunked gemm + running argmax)".into(),
        median_ms: median(&t_spae),
        all_ms: t_spae,
        agreement_with_spae: 1.0,
    }];

    let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [n, d]), device);
    let et = Tensor::<2>::from_data(TensorData::new(e.clone(), [k, d]), device);
    let (t_burn, burn_idx) = time_reps(reps, || {
        indices_to_vec(search_tensor(zt.clone(), et.clone(), 512))
    });
    rows.push(Row {
        // On `--device cuda` this row is the search as GPU tensor ops, and its agreement says
        // whether the device's f32 matmul keeps the arg-min exact.
        name: format!("burn on {device:?} (matmul + argmax per 512 rows)"),
        median_ms: median(&t_burn),
        all_ms: t_burn,
        agreement_with_spae: agreement(&burn_idx, &spae_idx),
    });

    let mut ratio = None;
    if python != "none" {
        let (times, torch_idx) = run_torch(&python, &z, &e, n, k, d, reps, threads)?;
        let torch_med = median(&times);
        ratio = Some(rows[0].median_ms / torch_med);
        rows.push(Row {
            name: "PyTorch (matmul + argmax, full scores)".into(),
            median_ms: torch_med,
            all_ms: times,
            agreement_with_spae: agreement(&torch_idx, &spae_idx),
        });
    }

    println!("\n| implementation | median ms | min ms | agreement with spae |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        let min = r.all_ms.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "| {} | {:.0} | {:.0} | {:.4} |",
            r.name, r.median_ms, min, r.agreement_with_spae
        );
    }
    if let Some(r) = ratio {
        println!("\nratio spae / PyTorch = {r:.3} (target <= 1.0)");
    }
    let report = Report {
        benchmark: "quantizer",
        machine: machine(),
        threads,
        n,
        k,
        d,
        reps,
        rows,
        ratio_spae_over_torch: ratio,
    };
    spae::io::write_atomic(&out, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Runs tools/bench_quantizer_torch.py on the same data; returns its times and indices.
#[allow(clippy::too_many_arguments)]
fn run_torch(
    python: &str,
    z: &[f32],
    e: &[f32],
    n: usize,
    k: usize,
    d: usize,
    reps: usize,
    threads: usize,
) -> Result<(Vec<f64>, Vec<u32>)> {
    let dir = std::env::temp_dir().join(format!("spae-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("z.f32"), f32_bytes(z))?;
    std::fs::write(dir.join("e.f32"), f32_bytes(e))?;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/bench_quantizer_torch.py");
    let mut args = vec![dir.clone().into_os_string()];
    args.extend([n, k, d, reps, threads].map(|v| v.to_string().into()));
    let stdout = run_python(
        python,
        &script,
        &args,
        threads,
        "PyTorch reference",
        " (pass --python none to skip PyTorch)",
    )?;
    #[derive(serde::Deserialize)]
    struct TorchOut {
        all_ms: Vec<f64>,
    }
    let stdout = String::from_utf8_lossy(&stdout);
    let parsed: TorchOut = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .context("PyTorch reference printed no JSON")?;
    let idx = std::fs::read(dir.join("torch_idx.i64"))?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as u32)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((parsed.all_ms, idx))
}
