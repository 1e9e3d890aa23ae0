//! One training step of the image tokenizer: the generator's forward pass, losses and
//! gradients ([`step_gradients`]), its optimizer step, then the discriminator's
//! ([`train_step`]).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::gan::{self, Adversary};
use super::phases::{lap, StepPhases};
use super::{
    appearance_loss, codebook_loss, commitment_loss, latent_rows, quantize_latents,
    reconstruction_loss, to_vec, total_loss, AppearanceTerms, Forward, LossConfig, QuantContext,
    TrainConfig,
};
use crate::eval::lpips::Lpips;
use crate::model::SpaeModel;
use crate::pyramid::{PyramidError, PyramidLayout};
use crate::quantizer::TensorCodes;
use crate::semantic::SemanticConfig;

use super::guide::Guide;

/// Loss values of one step (terms that are off are 0).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StepStats {
    pub l2: f32,
    pub commitment: f32,
    /// Eq. 7's semantic loss (with guidance).
    #[serde(default)]
    pub semantic: f32,
    /// The learned codebook's loss (baseline (a) only).
    #[serde(default)]
    pub codebook: f32,
    /// LPIPS between reconstructions and images.
    #[serde(default)]
    pub perceptual: f32,
    /// The generator's non-saturating GAN loss.
    #[serde(default)]
    pub gan: f32,
    /// The discriminator's loss (LeCAM included) and its LeCAM term.
    #[serde(default)]
    pub disc: f32,
    #[serde(default)]
    pub lecam: f32,
    /// The model's total loss.
    pub loss: f32,
    /// Where the step's time went (not written to metrics.jsonl).
    #[serde(skip)]
    pub phases: StepPhases,
}

/// The optional parts of the loss: the discriminator (GAN + LeCAM) and LPIPS of the appearance
/// loss, and the semantic guide.
#[derive(Default)]
pub struct Critics {
    pub adversary: Option<Adversary>,
    pub lpips: Option<Lpips>,
    pub guide: Option<Guide>,
}

/// What one step trains on: a batch of images (`D = 4`) or of clips (`D = 5`,
/// [`super::video::VideoStep`]).
pub struct Step<const D: usize = 4> {
    /// Images `[B, C, S, S]` or clips `[B, C, T, S, S]`, in `[0, 1]`.
    pub images: Tensor<D>,
    /// Pyramid depth the decoder reconstructs from.
    pub depth: usize,
    pub lr: f64,
    /// Whether the GAN term and the discriminator step are on (after `gan_start`).
    pub gan: bool,
    /// The guide's key of each image: its class label (label scorer) or its training-set index
    /// (per-image scorers, and every clip); empty without guidance.
    pub keys: Vec<u32>,
    /// Seed of this step's semantic targets (Eq. 7 draws them at random).
    pub seed: u64,
}

/// A function that returns, for the host values it is given, their mean over the ranks of a
/// data-parallel run ([`super::parallel::Peers::mean`]); [`alone`] on one device.
pub type Share<'a> = &'a (dyn Fn(&[f32]) -> Vec<f32> + Sync);

/// [`Share`] on one device: the values themselves.
pub fn alone(values: &[f32]) -> Vec<f32> {
    values.to_vec()
}

/// What the generator's half of a step computed: its parameters' gradients (reduced over the
/// devices of a data-parallel run by burn's all-reduce during the backward pass), its loss
/// values, and the reconstructions the discriminator then sees.
pub struct StepGradients {
    pub grads: GradientsParams,
    pub stats: StepStats,
    /// Reconstructions `[B, C, S, S]`.
    pub reconstructions: Tensor<4>,
}

/// One step on an autodiff device: Eq. 8's appearance loss ([`appearance_loss`]), plus with
/// guidance Eq. 9's `alpha * w * L_sem` ([`total_loss`]), then (with the GAN on) one discriminator step with LeCAM.
pub fn train_step(
    model: SpaeModel,
    optim: &mut ModuleOptimizer,
    ctx: &QuantContext,
    cfg: &TrainConfig,
    critics: &mut Critics,
    step: Step,
) -> Result<(SpaeModel, StepStats), PyramidError> {
    train_step_among(model, optim, ctx, cfg, critics, step, &alone)
}

/// [`train_step`] as one rank of a data-parallel run: `share` averages the discriminator's
/// batch means over the ranks, so that LeCAM's anchors are those of the global batch.
pub fn train_step_among(
    model: SpaeModel,
    optim: &mut ModuleOptimizer,
    ctx: &QuantContext,
    cfg: &TrainConfig,
    critics: &mut Critics,
    step: Step,
    share: Share,
) -> Result<(SpaeModel, StepStats), PyramidError> {
    let device = step.images.device();
    let g = step_gradients(&model, ctx, cfg, critics, &step)?;
    let (mut stats, mut t) = (g.stats, std::time::Instant::now());
    let model = optim.step(step.lr, model, g.grads);
    stats.phases.optimizer = lap(&mut t, &device);
    if let Some(adv) = critics.adversary.as_mut().filter(|_| step.gan) {
        let d = adv.step_among(step.images, g.reconstructions, &cfg.loss, step.lr, share);
        stats.disc = d.loss;
        stats.lecam = d.lecam;
        stats.phases.discriminator = lap(&mut t, &device);
    }
    Ok((model, stats))
}

/// The generator's half of [`train_step`], without the optimizer: the forward pass, the
/// search, every loss term and the backward pass, timed by phase.
pub fn step_gradients(
    model: &SpaeModel,
    ctx: &QuantContext,
    cfg: &TrainConfig,
    critics: &Critics,
    step: &Step,
) -> Result<StepGradients, PyramidError> {
    let images = step.images.clone();
    let learned = ctx.for_model(model);
    let ctx = learned.as_ref().unwrap_or(ctx);
    let mut phases = StepPhases::default();
    let device = images.device();
    let mut t = std::time::Instant::now();
    let latents = model.encoder.forward(images.clone());
    phases.encoder = lap(&mut t, &device);
    let (decoder_input, codes) = quantize_latents(ctx, latents.clone(), step.depth)?;
    phases.search = lap(&mut t, &device);
    let f = Forward {
        images: model.decoder.forward(decoder_input),
        latents,
        codes,
    };
    let l2 = reconstruction_loss(f.images.clone(), images.clone());
    let commit = commitment_loss(f.latents.clone(), ctx, &f.codes);
    let learned = model.codebook.as_ref().map(|cb| (cb.val(), &f.codes));
    let latents = || Latents {
        rows: latent_rows(f.latents),
        layout: &ctx.pyramid,
        codes: &f.codes,
    };
    let judged = (&f.images, &images);
    let cfgs = (&cfg.loss, &cfg.semantic);
    let (loss, mut stats) = step_loss((l2, commit), learned, critics, step, judged, latents, cfgs);
    phases.decoder_losses = lap(&mut t, &device);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    phases.backward = lap(&mut t, &device);
    stats.phases = phases;
    Ok(StepGradients {
        grads,
        stats,
        reconstructions: f.images,
    })
}

/// The latents a step's semantic loss reads (Eq. 7): their rows `[B, positions, d]`
/// ([`latent_rows`]), the pyramid they were quantized through, and their words.
pub(crate) struct Latents<'a> {
    pub rows: Tensor<3>,
    pub layout: &'a dyn PyramidLayout,
    pub codes: &'a TensorCodes,
}

/// Eq. 9 of a step after its forward pass, for images and clips alike: Eq. 8's appearance loss
/// ([`appearance_loss`]) of the L2 and commitment terms, with a `learned` codebook (its rows
/// and the step's words) its term ([`codebook_loss`]), and the critic terms of `fake` against
/// `real` ([`critic_terms`]); plus with `critics.guide` Eq. 7's semantic loss of `latents` (its
/// targets drawn from `step.seed`), weighted by [`total_loss`]. Returns the loss and every term's
/// value.
pub(crate) fn step_loss<'a, const D: usize>(
    (l2, commitment): (Tensor<1>, Tensor<1>),
    learned: Option<(Tensor<2>, &TensorCodes)>,
    critics: &Critics,
    step: &Step<D>,
    (fake, real): (&Tensor<4>, &Tensor<4>),
    latents: impl FnOnce() -> Latents<'a>,
    (loss_cfg, sem): (&LossConfig, &SemanticConfig),
) -> (Tensor<1>, StepStats) {
    let scalar = |t: &Tensor<1>| to_vec(t.clone().detach())[0];
    let mut stats = StepStats {
        l2: scalar(&l2),
        commitment: scalar(&commitment),
        ..StepStats::default()
    };
    let mut terms = AppearanceTerms {
        l2,
        commitment,
        codebook: None,
        perceptual: None,
        gan: None,
    };
    if let Some((codebook, codes)) = learned {
        let q = codebook_loss(codebook, codes);
        stats.codebook = scalar(&q);
        terms.codebook = Some(q);
    }
    critic_terms(critics, step.gan, fake, real, &mut terms, &mut stats);
    let mut loss = appearance_loss(terms, loss_cfg);
    if let Some(guide) = &critics.guide {
        let mut rng = StdRng::seed_from_u64(step.seed);
        let z = latents();
        if let Some(l_sem) = guide.loss(z.rows, z.layout, z.codes, &step.keys, &mut rng) {
            stats.semantic = scalar(&l_sem);
            loss = total_loss(loss, l_sem, sem.weight, sem.dynamic_weight);
        }
    }
    stats.loss = scalar(&loss);
    (loss, stats)
}

/// Eq. 8's critic terms of reconstructions `fake` against `real` (images `[B, C, S, S]`, or
/// every frame of a clip batch), into `terms` and `stats`: LPIPS with `critics.lpips`, the
/// generator's non-saturating GAN loss with `critics.adversary` when `gan` is on.
fn critic_terms(
    critics: &Critics,
    gan: bool,
    fake: &Tensor<4>,
    real: &Tensor<4>,
    terms: &mut AppearanceTerms,
    stats: &mut StepStats,
) {
    let scalar = |t: &Tensor<1>| to_vec(t.clone().detach())[0];
    if let Some(lpips) = &critics.lpips {
        let p = lpips
            .distance_unit(fake.clone(), real.clone())
            .mean()
            .reshape([1]);
        stats.perceptual = scalar(&p);
        terms.perceptual = Some(p);
    }
    if let Some(adv) = critics.adversary.as_ref().filter(|_| gan) {
        let g = gan::generator_loss(adv.disc.forward(fake.clone()));
        stats.gan = scalar(&g);
        terms.gan = Some(g);
    }
}
