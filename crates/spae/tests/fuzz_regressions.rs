//! The fuzz targets' seeds (fuzz/seeds/: real files of every format) and every input a fuzzer
//! ever crashed on (fuzz/regressions/, each a fixed bug), run through the same entry points as
//! the fuzzers (`spae::fuzz`) on stable Rust: none may panic.

use std::path::Path;

use spae::config::VideoTrainConfig;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_seed_and_regression_input_runs_without_panicking() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz"));
    let mut seeds = 0;
    for (name, target) in spae::fuzz::TARGETS {
        let seed_files = inputs(&root.join("seeds").join(name));
        assert!(
            !seed_files.is_empty(),
            "fuzz/seeds/{name} has no seed (tools/fuzz_seeds.py)"
        );
        seeds += seed_files.len();
        for path in seed_files
            .into_iter()
            .chain(inputs(&root.join("regressions").join(name)))
        {
            let data = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} panicked", path.display());
        }
    }
    assert!(seeds >= 40, "{seeds} seeds");
}

/// The seeds are valid files: each parser accepts them (so the fuzzer starts from inputs that
/// reach deep into the parser, not from its first error).
#[test]
fn seeds_parse() {
    use spae::data::{decode_png, parse_idx};
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds"));
    for p in inputs(&root.join("png")) {
        let img = decode_png(&std::fs::read(&p).unwrap(), &p).unwrap();
        assert!(img.width > 0 && img.height > 0);
    }
    for p in inputs(&root.join("image")) {
        let img = spae::data::decode_image(&std::fs::read(&p).unwrap(), &p).unwrap();
        assert!(img.width > 0 && img.height > 0);
    }
    for p in inputs(&root.join("idx")) {
        parse_idx(&std::fs::read(&p).unwrap(), &p).unwrap();
    }
    let mut video = 0;
    for p in inputs(&root.join("state_json")) {
        let bytes = std::fs::read(&p).unwrap();
        if spae::checkpoint::parse_state(&bytes, &p).is_err() {
            spae::checkpoint::parse_state_of::<VideoTrainConfig>(&bytes, &p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            video += 1;
        }
    }
    for p in inputs(&root.join("config_toml")) {
        let text = std::fs::read_to_string(&p).unwrap();
        let checked = match toml::from_str::<spae::config::TrainConfig>(&text) {
            Ok(cfg) => cfg.validate(),
            Err(_) => {
                video += 1;
                toml::from_str::<VideoTrainConfig>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                    .validate()
            }
        };
        checked.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    assert!(
        video >= 3,
        "the video configurations and state are seeds too"
    );
    for p in inputs(&root.join("clip")) {
        let bytes = std::fs::read(&p).unwrap();
        let frames = match p.extension().and_then(|e| e.to_str()) {
            Some("gif") => spae::data::video::decode_gif(&bytes, &p),
            _ => spae::data::video::decode_apng(&bytes, &p),
        };
        assert!(frames.unwrap().len() >= 4, "{}", p.display());
    }
    for p in inputs(&root.join("gguf")) {
        let f = spae::gguf::GgufFile::from_bytes(std::fs::read(&p).unwrap(), &p).unwrap();
        assert_eq!(f.vocab_tokens().unwrap().len(), 64);
        for t in &f.tensors {
            f.dequantize_matrix(&t.name).unwrap();
        }
    }
    for p in inputs(&root.join("tokens")) {
        let layers = spae::tokenizer::parse_tokens(&std::fs::read_to_string(&p).unwrap(), 0);
        assert_eq!(layers.unwrap().len(), 5, "{}", p.display());
    }
}

/// The crash inputs are refused with the error their fix added (on stable Rust, where release
/// arithmetic wraps instead of panicking, a bug could hide as a silent wrong answer).
#[test]
fn crash_inputs_are_refused_cleanly() {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions"
    ));
    let read = |file: &str| std::fs::read(root.join(file)).unwrap();
    let e = spae::gguf::GgufFile::from_bytes(read("gguf/n-bytes-overflow"), "x")
        .err()
        .expect("gguf/n-bytes-overflow was accepted");
    assert!(e.to_string().contains("larger than any file"), "{e}");
    let text = String::from_utf8(read("tokens/json-no-layers")).unwrap();
    let e = spae::tokenizer::parse_tokens(&text, 0).unwrap_err();
    assert!(e.to_string().contains("has no layers"), "{e}");
}
