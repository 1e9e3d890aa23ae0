//! The tokenizer trains: on real Fashion-MNIST images, quantized through SAQ onto real SmolLM2
//! embedding rows, the appearance loss falls and gradients reach the encoder through the
//! straight-through estimator and the commitment term.

mod common;

use burn::optim::AdamConfig;
use burn::tensor::Device;
use common::{assets, saq_context, smollm2_rows};
use spae::data::{fashion_mnist, Split};
use spae::model::ModelConfig;
use spae::train::{image_tensor, learning_rate, train_step, Critics, Step, TrainConfig};

/// burn's random numbers are one process-wide generator, seeded by `device.seed` and drawn when
/// a model's weights are first used: tests that seed it run one at a time, or their models
/// depend on how the test threads interleave.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn appearance_loss_falls_on_real_images() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let a = assets();
    let (codes, dim) = smollm2_rows();
    let ctx = saq_context(&codes, dim);
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

/// Issue 17: the nearest-word search as tensor operations on the training device (what a GPU
/// run takes) trains as the host kernel does: from the same weights on the same real images
/// and SmolLM2 rows, the same words and the same losses step after step, on the training
/// (autodiff) device and on the plain one that sample sheets use.
#[test]
fn the_search_on_the_device_trains_as_the_host_kernel_does() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    use burn::module::Module;
    use spae::quantizer::SearchPlace;
    use spae::train::forward;
    let a = assets();
    let (codes, dim) = smollm2_rows();
    let set = fashion_mnist(&a.path("fashion-mnist").unwrap(), Split::Test).unwrap();
    let cfg = ModelConfig {
        base_channels: 16,
        latent_dim: dim,
        ..ModelConfig::default()
    };
    let base = Device::flex();
    let device = base.clone().autodiff();
    // One initial model for both runs: burn draws a model's weights when they are first used, so
    // two models built from one seed before either is used differ.
    device.seed(3);
    let init = cfg.init(&device);
    let run = |place: SearchPlace| {
        let ctx = saq_context(&codes, dim).search_at(place, &device);
        assert_eq!(ctx.on_device.is_some(), place == SearchPlace::Device);
        let mut model = init.clone();
        let mut optim = AdamConfig::new().init();
        let mut out = Vec::new();
        for step in 0..3 {
            let idx: Vec<usize> = (step * 8..(step + 1) * 8).collect();
            let x = image_tensor(set.batch_chw(&idx, 32), 8, 1, 32, &device);
            let words = forward(&model, &ctx, x.clone(), 5)
                .unwrap()
                .codes
                .host_tokens();
            let todo = Step {
                images: x,
                depth: 4 + step % 2,
                lr: 1e-3,
                gan: false,
                keys: Vec::new(),
                seed: 0,
            };
            let (m, stats) = train_step(
                model,
                &mut optim,
                &ctx,
                &TrainConfig::default(),
                &mut Critics::default(),
                todo,
            )
            .unwrap();
            model = m;
            out.push((words, stats.l2, stats.commitment));
        }
        // The sample sheets' path: the plain device, the search's codebook on the training one.
        let x = image_tensor(set.batch_chw(&[100, 101], 32), 2, 1, 32, &base);
        let sample = forward(&model.valid(), &ctx, x, 5).unwrap();
        out.push((sample.codes.host_tokens(), 0.0, 0.0));
        out
    };
    let host = run(SearchPlace::Host);
    let on_device = run(SearchPlace::Device);
    for (step, (h, d)) in host.iter().zip(&on_device).enumerate() {
        let (hw, dw): (Vec<u32>, Vec<u32>) = (h.0.concat(), d.0.concat());
        let same = hw.iter().zip(&dw).filter(|(a, b)| a == b).count();
        assert!(
            same as f64 >= 0.99 * hw.len() as f64,
            "step {step}: {same} of {} words equal",
            hw.len()
        );
        for (what, a, b) in [("L2", h.1, d.1), ("commitment", h.2, d.2)] {
            assert!(
                (a - b).abs() <= 1e-3 * a.abs().max(1e-6),
                "step {step}: {what} host {a} vs device {b}"
            );
        }
    }
}
