//! The video tokenizer trains (issue 19): real Moving MNIST clips (from the installed digits)
//! through the 3-D model, quantized by SAQ over a 3-D pyramid onto real SmolLM2 embedding rows
//! (as tensor operations on the device, the search a GPU run takes); the reconstruction error and
//! the commitment term fall.

mod common;

use burn::optim::AdamConfig;
use burn::tensor::{Device, Tensor, TensorData};
use common::smollm2_rows;
use spae::pyramid::PyramidLayout;
use spae::quantizer::SearchPlace;
use spae::semantic::SemanticConfig;
use spae::train::video::{video_forward, video_step, VideoStep};
use spae::train::{to_vec, Critics, LossConfig};

#[test]
fn a_video_tokenizer_learns_moving_mnist() {
    let (codes, dim) = smollm2_rows();
    // 4-frame 32x32 clips of one digit; latent 2 x 8 x 8 (time halved once).
    let (cfg, ctx) = common::tiny_video(&codes, dim);
    assert_eq!(cfg.latent_shape(), Ok((2, 8, 8)));
    assert_eq!(ctx.pyramid.cumulative_sizes(), vec![1, 5, 21, 149]);
    let pixels = common::tiny_clips(4);
    let device = Device::flex().autodiff();
    device.seed(0);
    // SAQ over the 3-D pyramid as tensor operations on the device: the search a GPU run takes.
    let ctx = ctx.search_at(SearchPlace::Device, &device);
    let x = || Tensor::<5>::from_data(TensorData::new(pixels.clone(), [4, 1, 4, 32, 32]), &device);
    let mut model = cfg.init(&device);
    let mut optim = AdamConfig::new().init();
    let loss_cfg = LossConfig::default();
    let (mut first, mut last) = (None, None);
    for step in 0..40 {
        let step_in = VideoStep {
            images: x(),
            depth: 4,
            lr: 2e-3,
            gan: false,
            keys: Vec::new(),
            seed: 0,
        };
        let (m, stats) = video_step(
            model,
            &mut optim,
            &ctx,
            (&loss_cfg, &SemanticConfig::default()),
            &mut Critics::default(),
            step_in,
        )
        .unwrap();
        model = m;
        assert!(stats.loss.is_finite(), "step {step}: {stats:?}");
        first.get_or_insert(stats);
        last = Some(stats);
    }
    let (first, last) = (first.unwrap(), last.unwrap());
    eprintln!(
        "40 steps: L2 {:.4} -> {:.4}, commitment {:.4} -> {:.4}",
        first.l2, last.l2, first.commitment, last.commitment
    );
    assert!(last.l2 < 0.3 * first.l2, "L2 {} -> {}", first.l2, last.l2);
    assert!(
        last.commitment < 0.5 * first.commitment,
        "commitment {} -> {}",
        first.commitment,
        last.commitment
    );
    // Every clip gets 149 words, the last layer covering the 2 x 8 x 8 latent, and decoding from
    // fewer layers than cover it is refused.
    let f = video_forward(&model, &ctx, x(), 4).unwrap();
    let sizes: Vec<usize> = f.codes.host_tokens().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![4, 4 * 4, 4 * 16, 4 * 128]);
    assert_eq!(f.clips.dims(), [4, 1, 4, 32, 32]);
    assert!(to_vec(f.clips).iter().all(|v| v.is_finite()));
    assert!(video_forward(&model, &ctx, x(), 3).is_err());
}
