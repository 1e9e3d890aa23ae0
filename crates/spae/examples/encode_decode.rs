//! The tokenizer as a library: encode test images into SPAE words, print their pyramid, decode
//! every decodable depth and write the originals and reconstructions as one PNG.
//!
//!     cargo run --release -p spae --example encode_decode -- [MODEL] [N] [OUT.png]
//!
//! MODEL defaults to the released label-free `models/fashion-mnist-open` (run from the
//! repository root, where the model names its codebook); data from `$SPAE_ASSETS` or `./assets`.

use std::path::PathBuf;

use spae::assets::Assets;
use spae::data::{tile_images, write_png, Split};
use spae::device::DeviceSpec;
use spae::pyramid::PyramidLayout;
use spae::tokenizer::ImageTokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(args.next().unwrap_or("models/fashion-mnist-open".into()));
    let n: usize = args.next().map_or(Ok(4), |s| s.parse())?;
    let out = PathBuf::from(args.next().unwrap_or("encode_decode.png".into()));

    let tok = ImageTokenizer::load(&model, &DeviceSpec::resolve(None)?.device()?)?;
    let (size, channels) = tok.image_shape();
    let set = tok
        .config()
        .data
        .dataset
        .load(&Assets::from_env(), Split::Test)?;
    let indices: Vec<usize> = (0..n.min(set.len())).collect();
    let pixels = set.batch_chw(&indices, size);

    // Image -> pyramid of words (layer 1: one word for the whole image, then finer grids).
    let pyramids = tok.encode(&pixels)?;
    for (i, layers) in pyramids.images().iter().enumerate() {
        let label = &set.class_names[set.labels[indices[i]] as usize];
        println!("image {i} ({label}):");
        for l in layers.iter().take(3) {
            println!("  layer {} {:?}: {}", l.layer, l.grid, l.words.concat());
        }
    }

    // Any decodable prefix back to pixels: one row of originals, then one row per depth.
    let per_image = channels * size * size;
    let mut rows = vec![pixels.clone()];
    let first = tok.pyramid().first_decodable_depth();
    for depth in first..=tok.pyramid().n_layers() {
        let images = tok.decode(&pyramids, depth)?;
        assert_eq!(images.len(), indices.len() * per_image);
        rows.push(images);
    }
    let cols = indices.len();
    let grid = tile_images(&rows, cols, channels, size);
    write_png(&out, &grid, channels, size * rows.len(), size * cols)?;
    println!(
        "wrote {} (top row: originals; then depths {first} to {})",
        out.display(),
        tok.pyramid().n_layers()
    );
    Ok(())
}
