//! `spae`: the command line of the Semantic Pyramid AutoEncoder.

// The argument structs' doc comments are clap's `--help` text, written for the terminal
// (`cuda[:N]`, `[model]`, `<config>`), not rustdoc markdown.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod bench;
mod caption_cmd;
mod classifier_cmd;
mod codebook_cmd;
mod common;
mod data_cmd;
mod demo;
mod denoise_cmd;
mod eval;
mod fewshot_cmd;
mod fewshot_run;
mod generate;
mod llm_source;
mod predict_cmd;
mod progress;
mod semantic_cmd;
mod serve_cmd;
mod tokens_cmd;
mod train_cmd;
mod video_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spae::assets::Assets;
use spae::device::DeviceSpec;

#[derive(Parser)]
#[command(
    name = "spae",
    version,
    about = "SPAE: images as words of a frozen LLM's vocabulary"
)]
struct Cli {
    /// Asset folder (default: $SPAE_ASSETS, else ./assets).
    #[arg(long, global = true)]
    assets: Option<PathBuf>,
    /// Compute device: cpu (default), cuda[:N], wgpu[:N], wgpu-cpu, tch-cpu, tch-cuda[:N]
    /// (default: $SPAE_DEVICE, else cpu); the others need a build with `--features cuda`,
    /// `--features wgpu` or `--features tch`.
    #[arg(long, global = true)]
    device: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job on the embedded defaults: codebook statistics, neighbours, quantization.
    Demo,
    /// The frozen language codebook.
    #[command(subcommand)]
    Codebook(codebook_cmd::CodebookCommand),
    /// Benchmarks that print a table and write JSON.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Train the tokenizer from a configuration (checkpoints, --resume); a configuration whose
    /// [model] has `frames` trains a video tokenizer.
    Train(train_cmd::TrainArgs),
    /// Write a released model (model.safetensors + state.json) from a checkpoint.
    Export(train_cmd::ExportArgs),
    /// Print the token pyramid of images (or, with a video model, clips) as words (`--json`:
    /// ids, words, positions).
    Encode(tokens_cmd::EncodeArgs),
    /// Decode a token pyramid (JSON or plain words) to a PNG (a video model: an animated PNG).
    Decode(tokens_cmd::DecodeArgs),
    /// Evaluation reports.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Semantic guidance: token text features (Eq. 5) and nearest words.
    #[command(subcommand)]
    Semantic(semantic_cmd::SemanticCommand),
    /// Few-shot classification of tokenized images by a frozen LLM (Table 1's protocol).
    Fewshot(fewshot_cmd::FewshotArgs),
    /// In-context captioning of tokenized images by a frozen LLM (emoji names as captions).
    Caption(caption_cmd::CaptionArgs),
    /// In-context image generation by a frozen LLM: `spae generate mnist "an image of 1+7"`.
    Generate(generate::GenerateArgs),
    /// In-context denoising by a frozen LLM (inpaint, outpaint, deblur, shift, rotate).
    Denoise(denoise_cmd::DenoiseArgs),
    /// In-context frame prediction by a frozen LLM with a video tokenizer (held-out Moving MNIST
    /// clips; against copying the last given frame).
    PredictFrames(predict_cmd::PredictArgs),
    /// Train the MNIST digit classifier that judges generated digits.
    Classifier(classifier_cmd::ClassifierArgs),
    /// Data sets and image files.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Serve tokenizers over HTTP: /v1/encode, /v1/decode, /v1/models, /healthz.
    Serve(serve_cmd::ServeArgs),
}

/// Runs one command on the device chosen in `main` (the only place a device is chosen), started
/// by `device` only for the commands that compute on one: `codebook` and `data` start none, so a
/// GPU build given `--device cuda` (or `$SPAE_DEVICE`) still inspects data where no driver is.
fn run(command: Command, assets: &Assets, device: DeviceSpec) -> anyhow::Result<()> {
    let start = || device.device();
    match command {
        Command::Codebook(c) => codebook_cmd::run(c, assets),
        Command::Data(c) => data_cmd::run(c, assets),
        Command::Demo => demo::run(assets, &start()?),
        Command::Bench(c) => bench::run(c, assets, &start()?),
        Command::Train(a) => train_cmd::run(a, assets, &start()?),
        Command::Export(a) => train_cmd::export(a, assets, &start()?),
        Command::Encode(a) => tokens_cmd::encode(a, assets, &start()?),
        Command::Decode(a) => tokens_cmd::decode(a, assets, &start()?),
        Command::Eval(c) => eval::run(c, assets, &start()?),
        Command::Semantic(c) => semantic_cmd::run(c, assets, &start()?),
        Command::Fewshot(a) => fewshot_cmd::run(a, assets, &start()?),
        Command::Caption(a) => caption_cmd::run(a, assets, &start()?),
        Command::Generate(a) => generate::run(a, assets, &start()?),
        Command::Denoise(a) => denoise_cmd::run(a, assets, &start()?),
        Command::PredictFrames(a) => predict_cmd::run(a, assets, &start()?),
        Command::Classifier(a) => classifier_cmd::run(a, assets, &start()?),
        Command::Serve(a) => serve_cmd::run(a, assets, &start()?),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPAE_LOG")
                // cubecl logs a GPU backend that cannot start as a warning carrying the whole
                // panic; spae's own error says it in one line (spae::device::probe).
                .unwrap_or_else(|_| "warn,cubecl_common=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let assets = match cli.assets {
        Some(p) => Assets::at(p),
        None => Assets::from_env(),
    };
    let result = DeviceSpec::resolve(cli.device.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|device| run(cli.command, &assets, device));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes (multi-line messages, e.g. TOML's, folded); a
            // cause whose text the message already holds is not repeated.
            let mut text = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !text.contains(&cause) {
                    if !text.is_empty() {
                        text.push_str(": ");
                    }
                    text.push_str(&cause);
                }
            }
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {}", lines.join(" "));
            ExitCode::FAILURE
        }
    }
}
