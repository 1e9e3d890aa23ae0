//! Progressive decoding with the real SmolLM2: every pass writes exactly its segment from the
//! allowed words; with three identical examples in context the frozen LLM copies their target
//! under PAR, PNAR and the paper's mixed plan, also when words are spelled in several tokens (an
//! LLM of another vocabulary); a target too long for the context is a clear error.

#[path = "../../spae-llm/tests/common/mod.rs"]
mod common;

use spae::codebook::VocabTokenizer;
use spae_icl::progressive::{
    decode, paper_recipe, plan, single_pass, Context, Example, LayerStep, Query, Window,
};
use spae_icl::resume::NoLog;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use common::{session, smollm2};

#[test]
fn progressive_passes_write_allowed_words_and_copy_a_pattern() {
    let llm = Llm::load(&smollm2()).unwrap();
    let mut session = session(&llm);
    let word = |w: &str| {
        let ids = llm.tokenize(w);
        assert_eq!(ids.len(), 1, "{w}");
        ids[0]
    };
    let mut allowed: Vec<u32> = [" cat", " red", " blue", " green", " dog", " sun"]
        .map(word)
        .to_vec();
    allowed.sort_unstable();
    let words = Spellings::own(&allowed).unwrap();
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
            words: &words,
            separator: &sep,
        };
        let both = decode(
            &mut session,
            ctx,
            &[q("0", &query), q("1", &query)],
            &passes,
            &mut NoLog,
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
        words: &words,
        separator: &sep,
    };
    let e = decode(
        &mut session,
        ctx,
        &[q("0", &query)],
        &passes,
        &mut NoLog,
        || {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("do not fit the context of 512"), "{e}");
}

#[test]
fn words_of_several_tokens_are_written_whole() {
    let llm = Llm::load(&smollm2()).unwrap();
    let mut session = session(&llm);
    // Codebook ids 1000.. spelled as SmolLM2 tokenizes their text, as for another LLM.
    let texts = [
        " cat",
        " xylophone",
        " quokka",
        " moon",
        " moonlitz",
        " zebra",
    ];
    let spelled: Vec<(u32, Vec<u32>)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (1000 + i as u32, llm.tokenize(t)))
        .collect();
    assert!(spelled.iter().any(|(_, s)| s.len() > 2), "{spelled:?}");
    let (moon, moonlitz) = (&spelled[3].1, &spelled[4].1);
    assert!(
        moonlitz.starts_with(moon) && moonlitz.len() > moon.len(),
        "{moon:?} {moonlitz:?}"
    );
    let words = Spellings::new(spelled).unwrap();
    // quokka, moon, xylophone, moonlitz, zebra: " moon" ends where the next word's first token
    // comes, and " moonlitz" is continued past " moon" to its end.
    let target = vec![1002, 1003, 1001, 1004, 1005];
    let example = Example {
        condition: llm.tokenize("picture:"),
        target: target.clone(),
    };
    let examples = vec![example; 3];
    let query = llm.tokenize("picture:");
    let sep = llm.tokenize("\n");
    let ctx = Context {
        examples: &examples,
        total: 5,
        words: &words,
        separator: &sep,
    };
    for (name, passes) in [
        ("paper", plan(&[1, 4], &paper_recipe(2, Some(2))).unwrap()),
        ("single pass", single_pass(&[1, 4])),
    ] {
        let out = decode(
            &mut session,
            ctx,
            &[q("0", &query)],
            &passes,
            &mut NoLog,
            || {},
        )
        .unwrap();
        assert_eq!(out[0], target, "{name}");
    }
    // A context word the codebook does not have: a clear error.
    let corrupted = [Example {
        condition: query.clone(),
        target: vec![1002, 1003, 7, 1004, 1005],
    }];
    let e = decode(
        &mut session,
        Context {
            examples: &corrupted,
            ..ctx
        },
        &[q("0", &query)],
        &single_pass(&[5]),
        &mut NoLog,
        || {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("word id 7 is not one of the codebook's words"),
        "{e}"
    );
}

/// A query named `item` (its name in a run journal).
fn q(item: &str, ids: &[u32]) -> Query {
    Query {
        item: item.into(),
        ids: ids.to_vec(),
    }
}
