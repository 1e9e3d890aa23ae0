//! Progressive decoding with the real SmolLM2: every pass writes exactly its segment from the
//! allowed words; with three identical examples in context the frozen LLM copies their target
//! under PAR, PNAR and the paper's mixed plan; a target too long for the context is a clear error.

mod common;

use spae::codebook::VocabTokenizer;
use spae_llm::progressive::{
    decode, paper_recipe, plan, single_pass, Context, Example, LayerStep, Window,
};
use spae_llm::session::{Session, SessionConfig};
use spae_llm::Llm;

use common::smollm2;

#[test]
fn progressive_passes_write_allowed_words_and_copy_a_pattern() {
    let llm = Llm::load(&smollm2()).unwrap();
    let mut session = Session::new(
        &llm,
        SessionConfig {
            n_ctx: 512,
            threads: 2,
            ..SessionConfig::default()
        },
    )
    .unwrap();
    let word = |w: &str| {
        let ids = llm.tokenize(w);
        assert_eq!(ids.len(), 1, "{w}");
        ids[0]
    };
    let mut allowed: Vec<u32> = [" cat", " red", " blue", " green", " dog", " sun"]
        .map(word)
        .to_vec();
    allowed.sort_unstable();
    // A 1 + 4 word pyramid.
    let target: Vec<u32> = [" cat", " red", " blue", " red", " green"]
        .map(word)
        .to_vec();
    let example = Example {
        condition: llm.tokenize("picture:"),
        target: target.clone(),
    };
    let examples = vec![example; 3];
    let query = llm.tokenize("picture:");
    let sep = llm.tokenize("\n");
    let sizes = [1, 4];
    let plans = [
        (
            "PAR",
            plan(
                &sizes,
                &[LayerStep {
                    stride: Some(2),
                    window: Window::Par,
                }; 2],
            )
            .unwrap(),
        ),
        (
            "PNAR",
            plan(
                &sizes,
                &[LayerStep {
                    stride: Some(1),
                    window: Window::Pnar,
                }; 2],
            )
            .unwrap(),
        ),
        ("paper", plan(&sizes, &paper_recipe(2, Some(2))).unwrap()),
        ("single pass", single_pass(&sizes)),
    ];
    for (name, passes) in plans {
        let mut writes = 0;
        let ctx = Context {
            examples: &examples,
            total: 5,
            allowed: &allowed,
            separator: &sep,
        };
        let both = decode(
            &mut session,
            ctx,
            &[query.clone(), query.clone()],
            &passes,
            || writes += 1,
        )
        .unwrap();
        assert_eq!(writes, 2 * passes.len(), "{name}");
        assert_eq!(both[0], both[1], "{name}: two equal queries, two answers");
        let out = &both[0];
        assert_eq!(out.len(), 5, "{name}");
        assert!(out.iter().all(|t| allowed.contains(t)), "{name}: {out:?}");
        assert_eq!(out, &target, "{name}: {:?}", llm.detokenize(out));
    }
    // A target the context cannot hold.
    let long = Example {
        condition: query.clone(),
        target: vec![allowed[0]; 300],
    };
    let passes = single_pass(&[300]);
    let examples = [long.clone(), long];
    let ctx = Context {
        examples: &examples,
        total: 300,
        allowed: &allowed,
        separator: &sep,
    };
    let e = decode(&mut session, ctx, &[query], &passes, || {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("do not fit the context of 512"), "{e}");
}
