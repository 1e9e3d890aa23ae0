//! spae's GGUF reader against the Python `gguf` package (fixtures from tools/gguf_fixtures.py),
//! on random blocks of every supported type and on the real SmolLM2 file; and its errors on
//! malformed files.

use std::fs;
use std::path::PathBuf;

use spae::assets::Assets;
use spae::gguf::{dequantize, GgmlType, GgufError, GgufFile};

fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn every_type_matches_python_gguf_on_random_blocks() {
    let blocks = fixture("gguf_blocks.json");
    let blocks = blocks.as_object().unwrap();
    assert_eq!(blocks.len(), 10);
    for (name, case) in blocks {
        let ty = (0..64)
            .filter_map(GgmlType::from_id)
            .find(|t| t.name() == name)
            .unwrap();
        let bytes = hex(case["hex"].as_str().unwrap());
        let want = floats(&case["values"]);
        let mut got = vec![0f32; want.len()];
        dequantize(ty, &bytes, &mut got);
        assert_close(&got, &want, name);
    }
}

fn smollm2() -> PathBuf {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
        .path("smollm2")
        .expect("the SmolLM2 GGUF is installed by scripts/install-assets.sh")
}

#[test]
fn smollm2_embeddings_match_python_gguf() {
    let fx = fixture("gguf_smollm2_rows.json");
    let path = smollm2();
    let sha = spae::codebook::sha256_file(&path).unwrap();
    assert_eq!(
        sha,
        fx["gguf_sha256"].as_str().unwrap(),
        "fixture is of another file"
    );
    let f = GgufFile::open(&path).unwrap();
    let info = f.tensor("token_embd.weight").unwrap();
    assert_eq!(info.ty, Some(GgmlType::Q8_0));
    let (table, rows, cols) = f.dequantize_matrix("token_embd.weight").unwrap();
    assert_eq!((rows, cols), (49152, 576));
    let tokens = f.vocab_tokens().unwrap();
    for (j, id) in fx["ids"].as_array().unwrap().iter().enumerate() {
        let id = id.as_u64().unwrap() as usize;
        assert_eq!(tokens[id], fx["tokens"][j].as_str().unwrap());
        let want = floats(&fx["rows"][j]);
        assert_close(
            &table[id * cols..(id + 1) * cols],
            &want,
            &format!("row {id}"),
        );
    }
}

/// A minimal GGUF v3 writer for malformed-file tests: one string key and the given tensors
/// (name, dims, type id, data bytes).
fn write_gguf(path: &std::path::Path, tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) {
    let mut b = Vec::new();
    let s = |b: &mut Vec<u8>, t: &str| {
        b.extend((t.len() as u64).to_le_bytes());
        b.extend(t.as_bytes());
    };
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend(1u64.to_le_bytes());
    s(&mut b, "general.name");
    b.extend(8u32.to_le_bytes());
    s(&mut b, "test");
    let mut offset = 0u64;
    for (name, dims, ty, data) in tensors {
        s(&mut b, name);
        b.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
        offset += (data.len() as u64).div_ceil(32) * 32;
    }
    while b.len() % 32 != 0 {
        b.push(0);
    }
    for (_, _, _, data) in tensors {
        b.extend(data);
        while b.len() % 32 != 0 {
            b.push(0);
        }
    }
    fs::write(path, b).unwrap();
}

#[test]
fn small_written_file_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.gguf");
    let vals: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_gguf(&p, &[("token_embd.weight", vec![3, 2], 0, vals)]);
    let f = GgufFile::open(&p).unwrap();
    assert_eq!(f.meta_str("general.name").unwrap(), "test");
    let (m, r, c) = f.dequantize_matrix("token_embd.weight").unwrap();
    assert_eq!((r, c), (2, 3));
    assert_eq!(m, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn malformed_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();

    let p = dir.path().join("magic.gguf");
    fs::write(&p, b"GGML\x03\0\0\0").unwrap();
    let e = GgufFile::open(&p).err().unwrap();
    assert!(matches!(e, GgufError::BadMagic { .. }), "{e}");
    assert!(e.to_string().contains("magic.gguf") && e.to_string().contains("not a GGUF"));

    let p = dir.path().join("truncated.gguf");
    let real = fs::read(smollm2()).unwrap();
    fs::write(&p, &real[..real.len() / 2]).unwrap();
    let e = GgufFile::open(&p).err().unwrap();
    assert!(matches!(e, GgufError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("truncated.gguf") && e.to_string().contains("truncated"));
    let p2 = dir.path().join("header-cut.gguf");
    fs::write(&p2, &real[..1000]).unwrap();
    assert!(matches!(
        GgufFile::open(&p2).err().unwrap(),
        GgufError::Truncated { .. }
    ));

    let p = dir.path().join("noembd.gguf");
    write_gguf(&p, &[("output.weight", vec![4], 0, vec![0; 16])]);
    let e = GgufFile::open(&p)
        .unwrap()
        .dequantize_matrix("token_embd.weight")
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("noembd.gguf") && e.to_string().contains("token_embd.weight"),
        "{e}"
    );

    let p = dir.path().join("q2k.gguf");
    write_gguf(&p, &[("token_embd.weight", vec![256, 1], 10, vec![0; 84])]);
    let e = GgufFile::open(&p)
        .unwrap()
        .dequantize_matrix("token_embd.weight")
        .err()
        .unwrap();
    assert!(matches!(e, GgufError::UnsupportedType { .. }), "{e}");
    assert!(
        e.to_string().contains("q2k.gguf") && e.to_string().contains("cannot dequantize"),
        "{e}"
    );
}
