//! The adversarial part of the appearance loss (method.md, Eq. 8's `L_gan` and `L_lecam`):
//! non-saturating GAN losses and the LeCAM regulariser (Tseng et al., 2021) with EMA anchors.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{relu, softplus};
use burn::tensor::{Device, Tensor};

use super::{alone, to_vec, LossConfig, Share};
use crate::model::{Discriminator, DiscriminatorConfig};

/// Non-saturating generator loss: `mean softplus(-D(I_hat))` (= `-log sigmoid(D(I_hat))`).
pub fn generator_loss(fake_logits: Tensor<1>) -> Tensor<1> {
    softplus(fake_logits.neg(), 1.0).mean().reshape([1])
}

/// Non-saturating discriminator loss: `mean softplus(-D(I)) + mean softplus(D(I_hat))`.
pub fn discriminator_loss(real_logits: Tensor<1>, fake_logits: Tensor<1>) -> Tensor<1> {
    (softplus(real_logits.neg(), 1.0).mean() + softplus(fake_logits, 1.0).mean()).reshape([1])
}

/// LeCAM regulariser (method.md): `mean relu(D(I) - alpha_fake)^2 + mean relu(alpha_real -
/// D(I_hat))^2`, with the anchors the EMAs of the discriminator's mean outputs on real and fake
/// images.
pub fn lecam_penalty(real_logits: Tensor<1>, fake_logits: Tensor<1>, ema: &LecamEma) -> Tensor<1> {
    (relu(real_logits.sub_scalar(ema.fake)).square().mean()
        + relu(fake_logits.neg().add_scalar(ema.real)).square().mean())
    .reshape([1])
}

pub use crate::checkpoint::LecamEma;

impl LecamEma {
    /// `alpha <- decay * alpha + (1 - decay) * mean D(.)` for both anchors.
    pub fn update(&mut self, real_mean: f32, fake_mean: f32, decay: f32) {
        self.real = decay * self.real + (1.0 - decay) * real_mean;
        self.fake = decay * self.fake + (1.0 - decay) * fake_mean;
    }
}

/// The discriminator, its optimizer and the LeCAM anchors.
pub struct Adversary {
    pub disc: Discriminator,
    pub optim: ModuleOptimizer,
    pub ema: LecamEma,
}

/// Loss values of one discriminator step.
#[derive(Debug, Clone, Copy)]
pub struct DiscStats {
    pub loss: f32,
    pub lecam: f32,
}

impl Adversary {
    /// With the GAN on (`loss.gan > 0`), a fresh discriminator of `disc` for square images (or
    /// frames) of `size` pixels and `channels` channels, with the optimizer of `loss`.
    pub fn of(
        loss: &LossConfig,
        disc: &DiscriminatorConfig,
        size: usize,
        channels: usize,
        device: &Device,
    ) -> Option<Self> {
        (loss.gan > 0.0).then(|| Adversary {
            disc: crate::device::drawn(device, |d| disc.init(size, channels, d)),
            optim: loss.optimizer(),
            ema: LecamEma::default(),
        })
    }

    /// One discriminator step on real images and (detached) reconstructions: update the
    /// anchors, then minimise the non-saturating loss plus `lambda_lecam` times LeCAM.
    pub fn step(
        &mut self,
        real: Tensor<4>,
        fake: Tensor<4>,
        cfg: &LossConfig,
        lr: f64,
    ) -> DiscStats {
        self.step_among(real, fake, cfg, lr, &alone)
    }

    /// [`Adversary::step`] as one rank of a data-parallel run: `share` averages the batch means
    /// of the discriminator's outputs over the ranks, so every rank moves LeCAM's anchors by the
    /// global batch's means (equal shards: the mean of the shards' means), as one device would.
    pub fn step_among(
        &mut self,
        real: Tensor<4>,
        fake: Tensor<4>,
        cfg: &LossConfig,
        lr: f64,
        share: Share,
    ) -> DiscStats {
        let (grads, stats) = self.gradients(real, fake, cfg, share);
        self.disc = self.optim.step(lr, self.disc.clone(), grads);
        stats
    }

    /// The discriminator's gradients of one step (reduced over the devices of a data-parallel
    /// run by burn's all-reduce in the backward pass), after moving the anchors.
    pub fn gradients(
        &mut self,
        real: Tensor<4>,
        fake: Tensor<4>,
        cfg: &LossConfig,
        share: Share,
    ) -> (GradientsParams, DiscStats) {
        let real_logits = self.disc.forward(real);
        let fake_logits = self.disc.forward(fake.detach());
        let means = |t: &Tensor<1>| to_vec(t.clone().detach().mean())[0];
        let m = share(&[means(&real_logits), means(&fake_logits)]);
        self.ema.update(m[0], m[1], cfg.lecam_decay);
        let lecam = lecam_penalty(real_logits.clone(), fake_logits.clone(), &self.ema);
        let loss =
            discriminator_loss(real_logits, fake_logits) + lecam.clone().mul_scalar(cfg.lecam);
        let stats = DiscStats {
            loss: to_vec(loss.clone().detach())[0],
            lecam: to_vec(lecam.detach())[0],
        };
        (
            GradientsParams::from_grads(loss.backward(), &self.disc),
            stats,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn t(v: &[f32]) -> Tensor<1> {
        Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
    }

    #[test]
    fn gan_losses_by_hand() {
        // softplus(0) = ln 2; softplus(-ln 3) = ln(4/3); softplus(ln 3) = ln 4.
        let ln3 = 3f32.ln();
        let g = to_vec(generator_loss(t(&[0.0, -ln3])))[0];
        assert!((g - (2f32.ln() + 4f32.ln()) / 2.0).abs() < 1e-6, "{g}");
        let d = to_vec(discriminator_loss(t(&[ln3]), t(&[0.0])))[0];
        assert!((d - ((4.0f32 / 3.0).ln() + 2f32.ln())).abs() < 1e-6, "{d}");
    }

    #[test]
    fn lecam_by_hand() {
        let mut ema = LecamEma::default();
        ema.update(2.0, -1.0, 0.9);
        assert!((ema.real - 0.2).abs() < 1e-7 && (ema.fake + 0.1).abs() < 1e-7);
        // real logits [1, 3] against alpha_fake -0.1: (1.1^2 + 3.1^2) / 2 = 5.41;
        // fake logits [0] against alpha_real 0.2: 0.04.
        let r = to_vec(lecam_penalty(t(&[1.0, 3.0]), t(&[0.0]), &ema))[0];
        assert!((r - 5.45).abs() < 1e-5, "{r}");
        // On the right side of the anchors (real below alpha_fake, fake above alpha_real): 0.
        let r = to_vec(lecam_penalty(t(&[-1.0]), t(&[1.0]), &ema))[0];
        assert_eq!(r, 0.0);
    }
}
