//! `spae bench serve`: a load test of the HTTP service on loopback. For each client count, a
//! fresh server (the spae-serve library on a real socket) and N concurrent clients sending the
//! same image to `POST /v1/encode` for a fixed number of requests: latency p50 / p99,
//! throughput, errors. The reference row, in the same run, encodes the same image through the
//! library directly (no HTTP), one request at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{decode_image, model_image, Fit};
use spae::device::Device;
use spae_serve::{Limits, Model, Service};

use super::machine;
use crate::progress;

#[derive(Args)]
pub struct ServeBenchArgs {
    #[arg(long, default_value = "models/fashion-mnist-semantic")]
    pub checkpoint: PathBuf,
    /// The image every request sends (default: the installed 600x400 coffee photo, a PNG).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Concurrent clients, one row each.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub clients: Vec<usize>,
    /// Requests per row (after one untimed request).
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// The server's worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    #[arg(long, default_value = "results/bench/serve.json")]
    pub out: PathBuf,
}

#[derive(Serialize)]
struct Row {
    clients: usize,
    requests: usize,
    errors: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    requests_per_s: f64,
    /// p50 over the direct library call's median (same run).
    p50_over_direct: f64,
}

#[derive(Serialize)]
struct Report {
    benchmark: &'static str,
    machine: String,
    checkpoint: String,
    image: String,
    image_bytes: usize,
    workers: usize,
    /// Decode + resize + encode through the library, no HTTP: median ms of `requests` calls.
    direct_median_ms: f64,
    rows: Vec<Row>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn serve_bench(a: ServeBenchArgs, assets: &Assets, device: &Device) -> Result<()> {
    if a.clients.contains(&0) || a.requests == 0 || a.workers == 0 {
        bail!("--clients, --requests and --workers must be at least 1");
    }
    let image = match &a.image {
        Some(p) => p.clone(),
        None => assets.path("photos")?.join("coffee.png"),
    };
    let bytes = std::fs::read(&image).with_context(|| format!("{}", image.display()))?;
    let load = || crate::common::tokenizer(&a.checkpoint, assets, device);

    // The reference: the same work through the library, one call at a time.
    let tok = load()?;
    let (size, ch) = tok.image_shape();
    let mut direct = Vec::with_capacity(a.requests);
    let pb = progress::bar(a.requests as u64, "direct");
    for _ in 0..a.requests {
        let t = Instant::now();
        let img = decode_image(&bytes, &image)?;
        let px = model_image(&img, size, ch, Fit::Resize, &image)?;
        std::hint::black_box(tok.encode(&px)?);
        direct.push(t.elapsed().as_secs_f64() * 1e3);
        pb.inc(1);
    }
    pb.finish_and_clear();
    direct.sort_by(f64::total_cmp);
    let direct_median = percentile(&direct, 50.0);

    let mut rows = Vec::new();
    for &clients in &a.clients {
        let model = Model {
            name: "bench".into(),
            source: a.checkpoint.display().to_string(),
            tokenizer: load()?,
        };
        let limits = Limits {
            workers: a.workers,
            queue: clients.max(1) * 2,
            max_wait: Duration::from_secs(600),
            ..Limits::default()
        };
        let listener = Service::new(vec![model], limits)?.bind("127.0.0.1:0")?;
        let url = format!("http://{}/v1/encode", listener.addr());
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || listener.serve(&stop))
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let post = |agent: &ureq::Agent| -> bool {
            agent
                .post(&url)
                .header("Content-Type", "image/png")
                .send(&bytes[..])
                .is_ok_and(|r| r.status() == 200)
        };
        if !post(&agent) {
            stop.store(true, Ordering::Relaxed);
            let _ = server.join();
            bail!("the server did not answer the first request with 200");
        }
        let next = AtomicUsize::new(0);
        let latencies = Mutex::new(Vec::with_capacity(a.requests));
        let errors = AtomicUsize::new(0);
        let pb = progress::bar(a.requests as u64, &format!("{clients} clients"));
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..clients {
                s.spawn(|| {
                    let agent = agent.clone();
                    while next.fetch_add(1, Ordering::Relaxed) < a.requests {
                        let t = Instant::now();
                        let ok = post(&agent);
                        let ms = t.elapsed().as_secs_f64() * 1e3;
                        if !ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Ok(mut l) = latencies.lock() {
                            l.push(ms);
                        }
                        pb.inc(1);
                    }
                });
            }
        });
        let wall = t.elapsed().as_secs_f64();
        pb.finish_and_clear();
        stop.store(true, Ordering::Relaxed);
        let _ = server.join();
        let mut lat = latencies.into_inner().unwrap_or_default();
        lat.sort_by(f64::total_cmp);
        let p50 = percentile(&lat, 50.0);
        rows.push(Row {
            clients,
            requests: lat.len(),
            errors: errors.load(Ordering::Relaxed),
            p50_ms: p50,
            p99_ms: percentile(&lat, 99.0),
            mean_ms: lat.iter().sum::<f64>() / lat.len().max(1) as f64,
            requests_per_s: lat.len() as f64 / wall.max(1e-9),
            p50_over_direct: p50 / direct_median.max(1e-9),
        });
    }
    let report = Report {
        benchmark: "serve",
        machine: machine(),
        checkpoint: a.checkpoint.display().to_string(),
        image: image.display().to_string(),
        image_bytes: bytes.len(),
        workers: a.workers,
        direct_median_ms: direct_median,
        rows,
    };
    println!(
        "POST /v1/encode of {} ({} bytes) to {} on loopback, {} workers, {}",
        report.image, report.image_bytes, report.checkpoint, report.workers, report.machine
    );
    println!(
        "direct library call (no HTTP), one at a time: median {:.2} ms",
        report.direct_median_ms
    );
    println!(
        "| clients | requests | errors | p50 ms | p99 ms | mean ms | requests/s | p50 / direct |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &report.rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2}x |",
            r.clients,
            r.requests,
            r.errors,
            r.p50_ms,
            r.p99_ms,
            r.mean_ms,
            r.requests_per_s,
            r.p50_over_direct
        );
    }
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(&a.out, &serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_by_hand() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(super::percentile(&v, 50.0), 3.0);
        assert_eq!(super::percentile(&v, 99.0), 5.0);
        assert_eq!(super::percentile(&v, 0.0), 1.0);
    }
}
