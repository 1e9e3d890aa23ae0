//! Issue 17: data-parallel training's arithmetic, checked on the CPU as far as burn allows.
//! burn 0.22's collective all-reduce runs on CUDA only, so no two CPU devices can train
//! together; what a `--devices` run relies on is checked here instead. On real Fashion-MNIST
//! images quantized onto real SmolLM2 rows, with LPIPS, the GAN term and a discriminator with
//! LeCAM, the mean of the gradients of the shards of a global batch (what burn's mean all-reduce
//! gives every rank) is the gradient of the global batch on one device, for the tokenizer and
//! the discriminator, and the ranks' mean loss values are the global batch's; and the same for
//! the video tokenizer's step on real Moving MNIST clips.

mod common;

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use common::{assets, saq_context, smollm2_rows};
use spae::data::{fashion_mnist, Split};
use spae::eval::lpips::Lpips;
use spae::model::ModelConfig;
use spae::semantic::SemanticConfig;
use spae::train::parallel::{shard, Peers};
use spae::train::video::{video_gradients, VideoStep};
use spae::train::{
    alone, image_tensor, step_gradients, to_vec, Adversary, Critics, Step, StepStats, TrainConfig,
};

/// Held by each test for its whole run: the tests seed the device's one random generator, and a
/// test initialising a model in another thread would draw from it.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every parameter's gradient in `grads`, by parameter id.
struct Collect<'a> {
    grads: &'a GradientsParams,
    out: HashMap<ParamId, Vec<f32>>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out.insert(param.id, to_vec(g));
        }
    }
}

fn gradients<M: Module>(module: &M, grads: &GradientsParams) -> HashMap<ParamId, Vec<f32>> {
    let mut c = Collect {
        grads,
        out: HashMap::new(),
    };
    module.visit(&mut c);
    c.out
}

/// The largest difference between `got` and `want` over all parameters, as a share of the
/// largest gradient entry of `want`.
fn worst(got: &HashMap<ParamId, Vec<f32>>, want: &HashMap<ParamId, Vec<f32>>) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want
        .values()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(1e-12);
    let mut diff = 0f32;
    for (id, w) in want {
        let g = &got[id];
        assert_eq!(g.len(), w.len());
        for (a, b) in g.iter().zip(w) {
            diff = diff.max((a - b).abs());
        }
    }
    diff / scale
}

fn mean_of(
    a: &HashMap<ParamId, Vec<f32>>,
    b: &HashMap<ParamId, Vec<f32>>,
    w: f32,
) -> HashMap<ParamId, Vec<f32>> {
    a.iter()
        .map(|(id, x)| {
            let y = &b[id];
            (*id, x.iter().zip(y).map(|(p, q)| w * (p + q)).collect())
        })
        .collect()
}

/// How far the mean of two shards' gradients of `module` is from the global batch's `global`, as
/// a share of its largest entry ([`worst`]), with the controls: one shard's alone, and the sum.
fn shard_errors<M: Module>(
    module: &M,
    global: &GradientsParams,
    shards: [&GradientsParams; 2],
) -> (f32, f32, f32) {
    let want = gradients(module, global);
    let (g0, g1) = (gradients(module, shards[0]), gradients(module, shards[1]));
    assert!(want.len() > 20, "{} parameters with gradients", want.len());
    (
        worst(&mean_of(&g0, &g1, 0.5), &want),
        worst(&g0, &want),
        worst(&mean_of(&g0, &g1, 1.0), &want),
    )
}

/// The mean of two shards' logged values (L2, commitment, LPIPS, GAN, total) is the global
/// batch's (what a data-parallel run logs).
fn assert_mean_stats(shards: [&StepStats; 2], global: &StepStats) {
    let values = |s: &StepStats| [s.l2, s.commitment, s.perceptual, s.gan, s.loss];
    let names = ["l2", "commitment", "perceptual", "gan", "loss"];
    let (s0, s1, want) = (values(shards[0]), values(shards[1]), values(global));
    for (k, name) in names.iter().enumerate() {
        let got = (s0[k] + s1[k]) / 2.0;
        assert!(
            (got - want[k]).abs() <= 1e-5 * want[k].abs().max(1e-3),
            "{name}: {got} vs {}",
            want[k]
        );
    }
}

#[test]
fn shard_gradients_average_to_the_global_batch_gradient() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let a = assets();
    let (codes, dim) = smollm2_rows();
    let ctx = saq_context(&codes, dim);
    let mut cfg = TrainConfig::default();
    cfg.loss.perceptual = 0.1;
    cfg.loss.gan = 0.1;
    // LeCAM weighs as much as the GAN loss, and the anchors move half-way to the batch's means
    // from far-off starting values (below), so a rank that moved them by its shard's means alone
    // would get visibly other gradients.
    cfg.loss.lecam = 1.0;
    cfg.loss.lecam_decay = 0.5;
    let model_cfg = ModelConfig {
        base_channels: 16,
        latent_dim: dim,
        ..ModelConfig::default()
    };
    let device = Device::flex().autodiff();
    device.seed(11);
    let model = model_cfg.init(&device);
    let critics = Critics {
        adversary: Adversary::of(&cfg.loss, &cfg.discriminator, 32, 1, &device),
        lpips: Some(Lpips::load(&a.path("lpips").unwrap(), &device).unwrap()),
        guide: None,
    };
    let set = fashion_mnist(&a.path("fashion-mnist").unwrap(), Split::Test).unwrap();
    // A global batch of 4: two real images, then two white ones, so that the two shards' images
    // differ as much as they can and a discriminator sees it even before it is trained.
    let pixels = [set.batch_chw(&[3, 17], 32), vec![1.0; 2 * 32 * 32]].concat();
    let batch: Vec<usize> = (0..4).collect();
    let step = |idx: &[usize]| Step {
        images: image_tensor(
            pixels[idx[0] * 1024..(idx[idx.len() - 1] + 1) * 1024].to_vec(),
            idx.len(),
            1,
            32,
            &device,
        ),
        depth: 5,
        lr: 0.0,
        gan: true,
        keys: Vec::new(),
        seed: 0,
    };

    // The generator's half: the tokenizer's gradients.
    let global = step_gradients(&model, &ctx, &cfg, &critics, &step(&batch)).unwrap();
    let shards: Vec<_> = (0..2)
        .map(|r| {
            let idx = &batch[shard(4, 2, r).unwrap()];
            step_gradients(&model, &ctx, &cfg, &critics, &step(idx)).unwrap()
        })
        .collect();
    let (averaged, one_shard, summed) =
        shard_errors(&model, &global.grads, [&shards[0].grads, &shards[1].grads]);
    eprintln!(
        "tokenizer: mean of shards {averaged:.2e}, one shard {one_shard:.2e}, sum {summed:.2e}"
    );
    assert!(averaged < 1e-4, "{averaged}");
    // The comparison can fail: one shard's gradient, or the shards' sum, is far off.
    assert!(one_shard > 1e-2 && summed > 1e-2, "{one_shard} {summed}");
    assert_mean_stats([&shards[0].stats, &shards[1].stats], &global.stats);

    // The discriminator's half: two ranks in two threads share their batch means through
    // `Peers`, as a data-parallel run does, and move LeCAM's anchors by the global means.
    let adversary = || Adversary {
        disc: critics.adversary.as_ref().unwrap().disc.clone(),
        optim: cfg.loss.optimizer(),
        ema: spae::train::LecamEma {
            real: 5.0,
            fake: -5.0,
        },
    };
    let real = |idx: &[usize]| step(idx).images;
    let mut one = adversary();
    let (want_grads, want_stats) = one.gradients(
        real(&batch),
        global.reconstructions.clone(),
        &cfg.loss,
        &alone,
    );
    let want = gradients(&one.disc, &want_grads);
    let peers = Peers::new(2);
    let ranks: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|r| {
                let (peers, mut adv) = (&peers, adversary());
                let fake = shards[r].reconstructions.clone();
                let x = real(&batch[shard(4, 2, r).unwrap()]);
                let cfg = &cfg;
                s.spawn(move || {
                    let share = |v: &[f32]| peers.mean(r, v);
                    let (g, stats) = adv.gradients(x, fake, &cfg.loss, &share);
                    (gradients(&adv.disc, &g), stats, adv.ema)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let off = |e: &spae::train::LecamEma| {
        (e.real - one.ema.real)
            .abs()
            .max((e.fake - one.ema.fake).abs())
    };
    for (_, _, ema) in &ranks {
        assert!(off(ema) < 1e-6, "{ema:?} against {:?}", one.ema);
    }
    let disc_avg = worst(&mean_of(&ranks[0].0, &ranks[1].0, 0.5), &want);
    let lecam = (ranks[0].1.lecam + ranks[1].1.lecam) / 2.0;
    eprintln!(
        "discriminator: mean of shards {disc_avg:.2e}; LeCAM {lecam} vs {}",
        want_stats.lecam
    );
    assert!(disc_avg < 1e-5, "{disc_avg}");
    assert!((lecam - want_stats.lecam).abs() <= 1e-5 * want_stats.lecam.abs().max(1e-3));
    // Anchors moved by each rank's own means give other gradients: sharing them matters.
    let mut local = adversary();
    let (g, _) = local.gradients(
        real(&batch[0..2]),
        shards[0].reconstructions.clone(),
        &cfg.loss,
        &alone,
    );
    let mut local1 = adversary();
    let (g1, _) = local1.gradients(
        real(&batch[2..4]),
        shards[1].reconstructions.clone(),
        &cfg.loss,
        &alone,
    );
    let unshared = worst(
        &mean_of(
            &gradients(&local.disc, &g),
            &gradients(&local1.disc, &g1),
            0.5,
        ),
        &want,
    );
    eprintln!(
        "discriminator with each rank's own anchors: {unshared:.2e} (anchors {:?} and {:?} against {:?})",
        local.ema, local1.ema, one.ema
    );
    // A fresh discriminator hardly tells the shards apart, so the anchors move by little:
    // measured 7e-4 off, and 7e-5 in the gradients, against 8e-7 with the means shared.
    assert!(off(&local.ema) > 1e-4 && off(&local1.ema) > 1e-4);
    assert!(unshared > 2e-5, "{unshared}");
}

/// The video step's gradients (`--devices` with a video configuration): real Moving MNIST clips
/// through the 3-D model onto real SmolLM2 rows, with LPIPS and the GAN term on every frame. The
/// mean of the two shards' gradients is the global batch's; the discriminator's half is the
/// image step's ([`Adversary::gradients`], checked above) on the clips' frames.
#[test]
fn video_shard_gradients_average_to_the_global_batch_gradient() {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    let a = assets();
    let (codes, dim) = smollm2_rows();
    let (cfg, ctx) = common::tiny_video(&codes, dim);
    let mut loss = TrainConfig::default().loss;
    loss.perceptual = 0.1;
    loss.gan = 0.1;
    let device = Device::flex().autodiff();
    device.seed(5);
    let model = cfg.init(&device);
    let critics = Critics {
        adversary: Adversary::of(&loss, &Default::default(), 32, 1, &device),
        lpips: Some(Lpips::load(&a.path("lpips").unwrap(), &device).unwrap()),
        guide: None,
    };
    // A global batch of 4 clips: two real ones, then two white ones.
    let per_clip = 4 * 32 * 32;
    let pixels: Vec<f32> = (common::tiny_clips(2).into_iter())
        .chain(std::iter::repeat_n(1.0, 2 * per_clip))
        .collect();
    let step = |rows: std::ops::Range<usize>| VideoStep {
        images: Tensor::<5>::from_data(
            burn::tensor::TensorData::new(
                pixels[rows.start * per_clip..rows.end * per_clip].to_vec(),
                [rows.len(), 1, 4, 32, 32],
            ),
            &device,
        ),
        depth: 4,
        lr: 0.0,
        gan: true,
        keys: Vec::new(),
        seed: 0,
    };
    let sem = SemanticConfig::default();
    let grads = |rows| video_gradients(&model, &ctx, (&loss, &sem), &critics, &step(rows)).unwrap();
    let global = grads(0..4);
    let shards = [
        grads(shard(4, 2, 0).unwrap()),
        grads(shard(4, 2, 1).unwrap()),
    ];
    let (averaged, one_shard, _) =
        shard_errors(&model, &global.grads, [&shards[0].grads, &shards[1].grads]);
    eprintln!("video tokenizer: mean of shards {averaged:.2e}, one shard {one_shard:.2e}");
    assert!(averaged < 1e-4, "{averaged}");
    assert!(one_shard > 1e-2, "{one_shard}");
    assert_mean_stats([&shards[0].stats, &shards[1].stats], &global.stats);
    // The discriminator sees every frame of the shard's clips.
    assert_eq!(shards[0].frames.dims(), [8, 1, 32, 32]);
    assert_eq!(global.reconstructions.dims(), [16, 1, 32, 32]);
}
