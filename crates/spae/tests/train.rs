//! The tokenizer trains: on real Fashion-MNIST images, quantized through SAQ onto real SmolLM2
//! embedding rows, the appearance loss falls and gradients reach the encoder through the
//! straight-through estimator and the commitment term.

mod common;

use burn::optim::AdamConfig;
use burn::tensor::Device;
use common::{assets, smollm2_rows};
use spae::data::{fashion_mnist, Split};
use spae::model::ModelConfig;
use spae::pyramid::Pyramid;
use spae::quantizer::{NearestSearch, Saq};
use spae::train::{
    image_tensor, learning_rate, train_step, Critics, QuantContext, Step, TrainConfig,
};

#[test]
fn appearance_loss_falls_on_real_images() {
    let a = assets();
    let (codes, dim) = smollm2_rows();
    let ctx = QuantContext {
        quantizer: Box::new(Saq),
        pyramid: Pyramid::square(8, &[1, 2, 4, 8, 8]).unwrap(),
        search: NearestSearch::new(&codes, dim),
    };
    let cfg = ModelConfig {
        base_channels: 16,
        latent_dim: dim,
        ..ModelConfig::default()
    };
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = cfg.init(&device);
    let mut optim = AdamConfig::new().init();
    let set = fashion_mnist(&a.path("fashion-mnist").unwrap(), Split::Test).unwrap();
    let idx: Vec<usize> = (0..16).collect();
    let train_cfg = TrainConfig::default();
    let steps = 60;
    let mut first = None;
    let mut last = None;
    for step in 0..steps {
        let x = image_tensor(set.batch_chw(&idx, 32), 16, 1, 32, &device);
        let lr = learning_rate(step, steps, 2e-3, 5, 0);
        let todo = Step {
            images: x,
            depth: 5,
            lr,
            gan: false,
            keys: Vec::new(),
            seed: 0,
        };
        let (m, stats) = train_step(
            model,
            &mut optim,
            &ctx,
            &train_cfg,
            &mut Critics::default(),
            todo,
        )
        .unwrap();
        model = m;
        assert!(stats.loss.is_finite() && stats.commitment.is_finite());
        if step % 10 == 0 {
            eprintln!("step {step}: {stats:?}");
        }
        first.get_or_insert(stats);
        last = Some(stats);
    }
    let (first, last) = (first.unwrap(), last.unwrap());
    // Every phase of the step was timed; the GAN was off, so no discriminator step.
    let p = last.phases;
    for (name, ms) in &p.named()[..5] {
        assert!(*ms > 0.0, "{name}: {p:?}");
    }
    assert_eq!(p.discriminator, 0.0);
    assert!((p.total() - p.named()[..5].iter().map(|x| x.1).sum::<f64>()).abs() < 1e-9);
    assert!(last.l2 < 0.2 * first.l2, "L2 {} -> {}", first.l2, last.l2);
    assert!(
        last.commitment < 0.5 * first.commitment,
        "commitment {} -> {}",
        first.commitment,
        last.commitment
    );
}
