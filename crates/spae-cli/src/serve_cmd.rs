//! `spae serve`: the tokenizers over HTTP (the spae-serve library), until SIGINT / SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use spae::assets::Assets;
use spae::device::Device;
use spae_serve::{stop_on_signals, Limits, LlmWorker, Model, Service};

use crate::common::LlmArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// A model to serve as NAME=PATH (a checkpoint, run folder or released model), or a PATH
    /// (named by its folder); repeat for several. The first answers requests that name none.
    #[arg(long = "model", default_value = "models/fashion-mnist-semantic")]
    pub models: Vec<String>,
    /// Address to listen on; port 0 picks a free one (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Worker threads answering requests.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Requests that may wait for a worker; more are answered 503 at once.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Most pixels an uploaded image may declare (422 beyond, read from its header).
    #[arg(long, default_value_t = 4096 * 4096)]
    pub max_image_pixels: u64,
    /// Seconds a request may wait for a worker (503 beyond).
    #[arg(long, default_value_t = 30.0)]
    pub max_wait_s: f64,
    /// Seconds a request's body may take to arrive once a worker reads it (the worker moves on;
    /// the client gets 408).
    #[arg(long, default_value_t = 30.0)]
    pub max_read_s: f64,
    /// Also answer POST /v1/fewshot with the frozen LLM of --llm (default smollm2), one
    /// question at a time, its prompt prefix reused between questions.
    #[arg(long)]
    pub fewshot: bool,
    #[command(flatten)]
    pub llm: LlmArgs,
}

/// `NAME=PATH` or `PATH` (named by its last folder).
fn parse_model(spec: &str) -> Result<(String, PathBuf)> {
    let (name, path) = match spec.split_once('=') {
        Some((n, p)) => (n.to_string(), PathBuf::from(p)),
        None => {
            let p = PathBuf::from(spec);
            let n = p.file_name().map(|f| f.to_string_lossy().into_owned());
            (n.unwrap_or_else(|| spec.to_string()), p)
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("--model {spec}: a model name is letters, digits, '-', '_' or '.'");
    }
    Ok((name, path))
}

pub fn run(args: ServeArgs, assets: &Assets, device: &Device) -> Result<()> {
    for (flag, s) in [
        ("--max-wait-s", args.max_wait_s),
        ("--max-read-s", args.max_read_s),
    ] {
        if !(s.is_finite() && s > 0.0 && s < 1e9) {
            bail!("{flag} {s}: a positive number of seconds");
        }
    }
    let mut models = Vec::new();
    for spec in &args.models {
        let (name, path) = parse_model(spec)?;
        let tokenizer = crate::common::tokenizer(&path, assets, device)?;
        models.push(Model {
            name,
            source: path.display().to_string(),
            tokenizer,
        });
    }
    let limits = Limits {
        workers: args.workers,
        queue: args.queue,
        max_body_bytes: args.max_body_bytes,
        max_image_pixels: args.max_image_pixels,
        max_wait: Duration::from_secs_f64(args.max_wait_s),
        max_read: Duration::from_secs_f64(args.max_read_s),
    };
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let mut service = Service::new(models, limits)?;
    if args.fewshot {
        if args.llm.words_as_text {
            bail!("--words-as-text: the service gives the LLM the words' own ids only");
        }
        let (_, llm) = args
            .llm
            .load(assets, service.models()[0].tokenizer.codebook())?;
        for m in &service.models()[1..] {
            llm.check_codebook(m.tokenizer.codebook())
                .map_err(|e| anyhow::anyhow!("--model {}: {e}", m.name))?;
        }
        service = service.with_llm(LlmWorker::start(llm, args.llm.spec(4096))?);
    }
    let listener = service.bind(&args.addr)?;
    let stop = stop_on_signals()?;
    // Tests and scripts read the address from this line.
    println!(
        "listening on http://{} (models: {})",
        listener.addr(),
        names.join(", ")
    );
    let served = listener.serve(&stop);
    println!(
        "stopped after {} requests ({} refused as busy)",
        served.requests, served.refused_busy
    );
    Ok(())
}
