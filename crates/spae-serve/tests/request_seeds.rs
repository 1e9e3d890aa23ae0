//! The `serve_request` fuzz target's seeds (real requests: raw and multipart encode bodies,
//! decode bodies; tools/fuzz_seeds.py) and any crash input it found (fuzz/regressions/), run
//! through the same function as the fuzzer on stable Rust; the seeds are valid requests.

use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn seeds_and_regressions_parse_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let seeds = files(&root.join("seeds/serve_request"));
    assert!(seeds.len() >= 4, "{} seeds", seeds.len());
    for p in seeds
        .iter()
        .chain(&files(&root.join("regressions/serve_request")))
    {
        let data = std::fs::read(p).unwrap();
        let run = std::panic::catch_unwind(|| spae_serve::request::fuzz(&data));
        assert!(run.is_ok(), "{} panicked", p.display());
    }
    // The seeds are accepted: their image bytes found, their tokens read.
    for p in &seeds {
        let data = std::fs::read(p).unwrap();
        let mut parts = data.splitn(3, |&b| b == b'\n');
        let query = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
        let ct = String::from_utf8_lossy(parts.next().unwrap()).into_owned();
        let body = parts.next().unwrap();
        spae_serve::request::Query::parse(&query).unwrap();
        let name = p.file_name().unwrap().to_string_lossy();
        if name.starts_with("encode") {
            let img = spae_serve::request::image_bytes(Some(&ct), body).unwrap();
            assert!(img.starts_with(&[0xFF, 0xD8, 0xFF]), "{name}");
        } else {
            let layers = spae_serve::request::parse_layers(std::str::from_utf8(body).unwrap());
            assert_eq!(layers.unwrap().len(), 5, "{name}");
        }
    }
}
