//! The OpenAI-reply fuzz target's checks (`spae_llm::reply::check_reply`) over its seeds (replies
//! captured from a real server) and every crash input found (fuzz/regressions/openai_reply/),
//! on stable Rust in the normal test command.

use std::path::Path;

#[test]
fn seeds_and_regressions_read_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["seeds/openai_reply", "regressions/openai_reply"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for e in entries {
            spae_llm::reply::check_reply(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
    }
    assert!(n >= 6, "{n} inputs");
    // A captured chat answer reads as one.
    let chat = std::fs::read(fuzz.join("seeds/openai_reply/chat")).unwrap();
    let body = std::str::from_utf8(&chat[2..]).unwrap();
    let spae_llm::reply::Outcome::Answer(r) =
        spae_llm::reply::read_reply(200, body, spae_llm::reply::Endpoint::Chat)
    else {
        panic!("{body}")
    };
    assert_eq!((r.text.as_str(), r.prompt_tokens), ("This emoji is", 37));
}
