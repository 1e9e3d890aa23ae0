//! Any image a user has: real JPEG and WebP files and real photos of other sizes reach a model's
//! canvas as Pillow's `ImageOps.fit(image, (S, S), Image.BILINEAR)` puts them there (fixtures
//! and references by tools/image_fixtures.py from the installed photos), and a lossless WebP
//! decodes to exactly its source PNG's pixels.

use std::path::{Path, PathBuf};

use serde_json::Value;
use spae::assets::Assets;
use spae::data::{model_image, read_image, read_png, Fit};

fn assets() -> Assets {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
}

#[test]
fn images_fit_the_canvas_as_pillow_fits_them() {
    let index: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("reference.json")).unwrap()).unwrap();
    let blob = std::fs::read(fixtures().join("reference.bin")).unwrap();
    let root = assets().root().to_path_buf();
    let cases = index["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let path = match file.split_once(':').unwrap() {
            ("asset", rel) => root.join(rel),
            (_, name) => fixtures().join(name),
        };
        let (size, ch) = (
            case["size"].as_u64().unwrap() as usize,
            case["channels"].as_u64().unwrap() as usize,
        );
        let off = case["offset"].as_u64().unwrap() as usize;
        let want = &blob[off..off + size * size * ch];
        let img = read_image(&path).unwrap();
        let got = model_image(&img, size, ch, Fit::Resize, &path).unwrap();
        // Ours is planar floats; Pillow's is interleaved bytes.
        let plane = size * size;
        let (mut max, mut sum) = (0f32, 0f32);
        for i in 0..plane {
            for c in 0..ch {
                let d = (got[c * plane + i] * 255.0 - f32::from(want[i * ch + c])).abs();
                max = max.max(d);
                sum += d;
            }
        }
        let mean = sum / (plane * ch) as f32;
        println!(
            "{}: {}x{} -> {size}x{size}, max |diff| {max:.2}, mean {mean:.3} (of 255)",
            case["case"], img.width, img.height
        );
        // Pillow rounds to 8 bits between its two passes; JPEG and lossy WebP decoders may
        // differ by a level or two in places.
        let (max_ok, mean_ok) = match file.ends_with(".png") {
            true => (1.0, 0.3),
            false => (2.0, 0.4),
        };
        assert!(
            max <= max_ok && mean <= mean_ok,
            "{}: max {max}, mean {mean}",
            case["case"]
        );
    }
}

#[test]
fn lossless_webp_is_its_png() {
    let webp = read_image(&fixtures().join("emoji.webp")).unwrap();
    let png = read_png(&assets().root().join("data/emoji/img/google/64/1f600.png")).unwrap();
    assert_eq!((webp.width, webp.height, webp.channels), (64, 64, 4));
    assert_eq!(png.channels, 4);
    // Fully transparent pixels may keep any colour; compare what is visible.
    let visible = |p: &[u8]| {
        if p[3] == 0 {
            [0; 4]
        } else {
            [p[0], p[1], p[2], p[3]]
        }
    };
    let a: Vec<[u8; 4]> = webp.pixels.chunks_exact(4).map(visible).collect();
    let b: Vec<[u8; 4]> = png.pixels.chunks_exact(4).map(visible).collect();
    assert_eq!(a, b);
}

#[test]
fn a_gray_jpeg_is_one_channel_and_the_strict_rule_refuses_other_sizes() {
    let path = fixtures().join("camera.jpg");
    let img = read_image(&path).unwrap();
    assert_eq!((img.width, img.height, img.channels), (512, 512, 1));
    let e = model_image(&img, 32, 1, Fit::Strict, &path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("camera.jpg") && e.contains("is 512x512"), "{e}");
    // A file named .png that holds a JPEG is read by its bytes, not its name.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("really-a-jpeg.png");
    std::fs::copy(&path, &renamed).unwrap();
    assert_eq!(read_image(&renamed).unwrap().pixels, img.pixels);
    // Cut short: a clear error naming the file, never a panic.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let e = read_image(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.jpg") && e.contains("JPEG"), "{e}");
}
