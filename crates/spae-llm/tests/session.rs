//! The llama.cpp session on the real SmolLM2 GGUF: prefix reuse gives the same logits and
//! answers as re-processing, constrained decoding only writes a choice, overlong prompts and a
//! codebook from another vocabulary are clear errors.

mod common;

use spae::codebook::{Codebook, CodebookConfig, SourceModel, VocabTokenizer};
use spae::gguf::GgufFile;
use spae_llm::backend::Backend;
use spae_llm::session::{Choices, Session, SessionConfig};
use spae_llm::{Llm, LlmError};

use common::smollm2;

fn session(llm: &Llm, reuse: bool) -> Session<'_> {
    Session::new(
        llm,
        SessionConfig {
            n_ctx: 256,
            threads: 2,
            reuse_prefix: reuse,
            ..SessionConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn prefix_reuse_matches_reprocessing_and_choices_constrain() {
    let llm = Llm::load(&smollm2()).unwrap();
    let prefix = llm.tokenize("Answer with cat or dog.\nInput: purr whiskers output: This is a cat.\nInput: bark bone output: This is a dog.\n");
    let queries = [" purr milk", " bark leash", " whiskers mouse"];
    let mut reuse = session(&llm, true);
    let mut fresh = session(&llm, false);
    let choices = Choices::new(vec![llm.tokenize(" cat."), llm.tokenize(" dog.")]).unwrap();
    for q in queries {
        let mut prompt = prefix.clone();
        prompt.extend(llm.tokenize(&format!("Input:{q} output: This is a")));
        let a = reuse.prefill(&prompt).unwrap().to_vec();
        let b = fresh.prefill(&prompt).unwrap().to_vec();
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 0.05, "{q}: logits differ by {diff}");
        let ga = reuse
            .generate(&prompt, 4, Some(&choices), &|_| false)
            .unwrap();
        let gb = fresh
            .generate(&prompt, 4, Some(&choices), &|_| false)
            .unwrap();
        assert_eq!(ga.ids, gb.ids, "{q}");
        assert!(
            choices.complete(&ga.ids).is_some(),
            "{:?}",
            llm.detokenize(&ga.ids)
        );
        let (la, lb) = (ga.logprob.unwrap(), gb.logprob.unwrap());
        assert!(la < 0.0 && (la - lb).abs() < 0.05);
    }
    // Everything after the shared prefix was evaluated once per query with reuse.
    assert!(
        reuse.stats.reused_tokens >= 2 * prefix.len(),
        "{:?}",
        reuse.stats
    );
    assert_eq!(fresh.stats.reused_tokens, 0);
    assert!(reuse.stats.prompt_tokens < fresh.stats.prompt_tokens / 2);

    // Open-ended generation stops at the stop rule.
    let mut prompt = prefix.clone();
    prompt.extend(llm.tokenize("Input: purr milk output: This is a"));
    let open = reuse
        .generate(&prompt, 8, None, &|ids| llm.detokenize(ids).contains('.'))
        .unwrap();
    assert!(!open.ids.is_empty() && open.ids.len() <= 8);

    // A prompt over the context is a clear error.
    let long = vec![prefix[0]; 300];
    match reuse.prefill(&long) {
        Err(LlmError::TooLong { tokens, n_ctx }) => assert_eq!((tokens, n_ctx), (300, 256)),
        other => panic!("expected TooLong, got {:?}", other.map(|l| l.len())),
    }
}

#[test]
fn a_codebook_of_another_vocabulary_is_refused() {
    let path = smollm2();
    let gguf = GgufFile::open(&path).unwrap();
    let llm = Llm::load_vocab_only(&path).unwrap();
    let source = SourceModel {
        name: "smollm2".into(),
        sha256: "abc".into(),
        vocab_size: 49152,
    };
    let mut cb =
        Codebook::build(&gguf, &llm, source, &CodebookConfig::default(), &mut |_| {}).unwrap();
    llm.check_codebook(&cb).unwrap();
    // The same ids meaning other words: another model's codebook.
    cb.words[10].text = " zebra-ish".into();
    let e = llm.check_codebook(&cb).unwrap_err().to_string();
    assert!(
        e.contains("abc") && e.contains("sha256 b179c952") && e.contains("zebra-ish"),
        "{e}"
    );
}
