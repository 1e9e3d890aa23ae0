//! One 2-way 1-shot episode through the libraries: two classes the label-free tokenizer never saw
//! labelled, one support image each, one query; the frozen LLM answers, constrained to the names.
//!
//!     cargo run --release -p spae-icl --example fewshot_episode -- [MODEL] [LLM.gguf]

use spae::assets::Assets;
use spae::data::Split;
use spae::device::DeviceSpec;
use spae::tokenizer::ImageTokenizer;
use spae_icl::fewshot::{Prompter, CLASSIFY_STEM};
use spae_llm::session::SessionConfig;
use spae_llm::spec::BackendSpec;
use spae_llm::Llm;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or("models/fashion-mnist-open".into());
    let assets = Assets::from_env();
    let gguf = match args.next() {
        Some(p) => p.into(),
        None => assets.path("smollm2")?,
    };
    let tok = ImageTokenizer::load(model.as_ref(), &DeviceSpec::resolve(None)?.device()?)?;
    let set = tok.config().data.dataset.load(&assets, Split::Test)?;
    // The first two images of classes 0 and 1 (support), a third of class 1 (query).
    let of = |c: u32, k: usize| {
        set.labels
            .iter()
            .enumerate()
            .filter(|p| *p.1 == c)
            .nth(k)
            .unwrap()
            .0
    };
    let images = [of(0, 0), of(1, 0), of(1, 1)];
    let words = tok.word_ids(&set.batch_chw(&images, tok.image_shape().0), 2)?;

    let llm = Llm::load(&gguf)?;
    llm.check_codebook(tok.codebook())?;
    let prompter = Prompter {
        llm: &llm,
        class_names: &set.class_names,
        stem: CLASSIFY_STEM,
    };
    let mut prompt = prompter.induction(&[0, 1]);
    prompt.extend(prompter.example(&words[0], 0));
    prompt.extend(prompter.example(&words[1], 1));
    prompt.extend(prompter.query(&words[2]));
    let mut backend = BackendSpec::Embedded(SessionConfig::default()).open(&llm)?;
    let choices = prompter.choices(&[0, 1])?;
    let answer = backend.generate(&prompt, 8, Some(&choices), &|_| false)?;
    let chosen = choices
        .complete(&answer.ids)
        .map(|i| set.class_names[i].as_str());
    println!("prompt: {}", llm.detokenize(&prompt));
    println!("answer: {chosen:?} (truth: {})", set.class_names[1]);
    Ok(())
}
