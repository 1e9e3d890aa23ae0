//! Table 1's protocol as one library call: 2-way 1-shot episodes with induction on Fashion-MNIST
//! classes the label-free tokenizer never saw labelled, answered by the frozen SmolLM2.
//!
//!     cargo run --release -p spae-icl --example fewshot_run -- [EPISODES]

use spae::assets::Assets;
use spae::data::Split;
use spae::device::DeviceSpec;
use spae::tokenizer::ImageTokenizer;
use spae_icl::fewshot::{self, FewshotConfig, Setting};
use spae_llm::session::SessionConfig;
use spae_llm::spec::BackendSpec;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let episodes = std::env::args().nth(1).map_or(Ok(20), |n| n.parse())?;
    let assets = Assets::from_env();
    let device = DeviceSpec::resolve(None)?.device()?;
    let tok = ImageTokenizer::load("models/fashion-mnist-open".as_ref(), &device)?;
    let test = tok.config().data.dataset.load(&assets, Split::Test)?;
    let images = test.subset(&(0..1000).collect::<Vec<_>>());
    let llm = Llm::load(&assets.path("smollm2")?)?;
    let words = Spellings::of_codebook(&llm, tok.codebook(), false)?;
    let mut backend = BackendSpec::Embedded(SessionConfig::default()).open(&llm)?;
    let cfg = FewshotConfig {
        settings: vec![Setting {
            way: 2,
            induction: true,
            shots: 1,
            repeats: 0,
        }],
        episodes,
        ..FewshotConfig::default()
    };
    let frozen = fewshot::FrozenLlm {
        llm: &llm,
        spellings: &words,
        backend: backend.as_mut(),
    };
    let report = fewshot::run(
        &cfg,
        &tok,
        &images,
        frozen,
        &mut spae_icl::resume::NoLog,
        &mut |_| {},
    )?;
    for r in &report.results {
        let (lo, hi) = r.constrained_ci95;
        println!(
            "{}: {:.1}% (95% CI {:.1}-{:.1}) over {} episodes; chance {:.0}%",
            r.setting.name(),
            100.0 * r.constrained_accuracy,
            100.0 * lo,
            100.0 * hi,
            r.episodes,
            100.0 * r.chance
        );
    }
    Ok(())
}
