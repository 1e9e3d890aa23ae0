//! Eqs. 8-9 as named functions: the appearance loss the generator minimises and the total with
//! the semantic term. Each term is a `[1]` tensor on the autodiff device.

use burn::tensor::Tensor;

use super::LossConfig;
use crate::semantic;

/// The terms of Eq. 8 before weighting. The LeCAM penalty belongs to the discriminator's own
/// step ([`super::gan`]), not to the generator's loss.
pub struct AppearanceTerms {
    /// `||I - I_hat||^2`, the mean squared reconstruction error.
    pub l2: Tensor<1>,
    /// `sum_l ||z_l - sg(e(k_l))||^2` (mean over positions).
    pub commitment: Tensor<1>,
    /// The codebook term of a learned codebook (weight 1); `None` for SPAE's frozen one.
    pub codebook: Option<Tensor<1>>,
    /// The LPIPS distance, when `lambda_per > 0`.
    pub perceptual: Option<Tensor<1>>,
    /// The generator's non-saturating GAN loss, once the GAN is on.
    pub gan: Option<Tensor<1>>,
}

/// Eq. 8's first term, `||I - I_hat||^2`: the mean squared error of the reconstruction `recon`
/// against `target` over every entry, for images `[B, C, H, W]` and clips `[B, C, T, H, W]` alike.
pub fn reconstruction_loss<const D: usize>(recon: Tensor<D>, target: Tensor<D>) -> Tensor<1> {
    (recon - target).square().mean().reshape([1])
}

/// Eq. 8: `L_app = ||I - I_hat||^2 + beta * commitment + lambda_per * LPIPS + lambda_gan *
/// L_gan` (plus a learned codebook's own term at weight 1), with `beta`, `lambda_per` and
/// `lambda_gan` from `cfg`. Terms that are off add nothing.
pub fn appearance_loss(terms: AppearanceTerms, cfg: &LossConfig) -> Tensor<1> {
    let mut loss = terms.l2 + terms.commitment.mul_scalar(cfg.commitment);
    if let Some(q) = terms.codebook {
        loss = loss + q;
    }
    if let Some(p) = terms.perceptual {
        loss = loss + p.mul_scalar(cfg.perceptual);
    }
    if let Some(g) = terms.gan {
        loss = loss + g.mul_scalar(cfg.gan);
    }
    loss
}

/// Eq. 9: `L = L_app + alpha * w * L_sem`, where `w = sg(L_app / L_sem)`
/// ([`semantic::dynamic_weight`]) when `dynamic`, else 1 (an ablation).
pub fn total_loss(appearance: Tensor<1>, sem: Tensor<1>, alpha: f32, dynamic: bool) -> Tensor<1> {
    let w = if dynamic {
        semantic::dynamic_weight(appearance.clone(), sem.clone())
    } else {
        Tensor::<1>::ones([1], &sem.device())
    };
    appearance + (sem * w).mul_scalar(alpha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::to_vec;
    use burn::tensor::{Device, TensorData};

    fn t(x: f32) -> Tensor<1> {
        Tensor::from_data(TensorData::new(vec![x], [1]), &Device::flex())
    }

    fn near(a: Tensor<1>, want: f32) {
        let got = to_vec(a)[0];
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn eq8_reconstruction_loss_by_hand() {
        let dev = Device::flex();
        // Images [1, 1, 1, 2]: (1 - 0)^2 and (2 - 4)^2 -> (1 + 4) / 2 = 2.5.
        let a = Tensor::<4>::from_data(TensorData::new(vec![1.0, 2.0], [1, 1, 1, 2]), &dev);
        let b = Tensor::<4>::from_data(TensorData::new(vec![0.0, 4.0], [1, 1, 1, 2]), &dev);
        near(reconstruction_loss(a, b), 2.5);
        // A clip [1, 1, 2, 1, 2]: errors 1, 0, -3, 2 -> (1 + 0 + 9 + 4) / 4 = 3.5.
        let shape = [1, 1, 2, 1, 2];
        let a = Tensor::<5>::from_data(TensorData::new(vec![1.0, 1.0, 0.0, 2.0], shape), &dev);
        let b = Tensor::<5>::from_data(TensorData::new(vec![0.0, 1.0, 3.0, 0.0], shape), &dev);
        near(reconstruction_loss(a, b), 3.5);
    }

    #[test]
    fn eq8_appearance_loss_by_hand() {
        let cfg = LossConfig {
            commitment: 0.25,
            perceptual: 0.1,
            gan: 0.1,
            ..LossConfig::default()
        };
        let terms = |perceptual, gan| AppearanceTerms {
            l2: t(0.5),
            commitment: t(2.0),
            codebook: None,
            perceptual,
            gan,
        };
        // 0.5 + 0.25 * 2 = 1.0
        near(appearance_loss(terms(None, None), &cfg), 1.0);
        // + 0.1 * 3 + 0.1 * 0.7 = 1.37
        near(
            appearance_loss(terms(Some(t(3.0)), Some(t(0.7))), &cfg),
            1.37,
        );
        // a learned codebook's term at weight 1
        let with_q = AppearanceTerms {
            codebook: Some(t(0.4)),
            ..terms(None, None)
        };
        near(appearance_loss(with_q, &cfg), 1.4);
    }

    #[test]
    fn eq9_total_loss_by_hand() {
        // Dynamic: w = 1.2 / 0.4 = 3, so L = 1.2 + 1 * 3 * 0.4 = 2.4 (the semantic term at the
        // appearance loss's scale); alpha 0.5 gives 1.8.
        near(total_loss(t(1.2), t(0.4), 1.0, true), 2.4);
        near(total_loss(t(1.2), t(0.4), 0.5, true), 1.8);
        // Static (w = 1): 1.2 + 0.5 * 0.4 = 1.4.
        near(total_loss(t(1.2), t(0.4), 0.5, false), 1.4);
    }

    #[test]
    fn eq9_weight_carries_no_gradient() {
        // d/ds [a + alpha * sg(a / s) * s] = alpha * a / s (w is constant), d/da = 1 (the
        // stop-gradient keeps a's path through w out).
        let dev = Device::flex().autodiff();
        let leaf =
            |x: f32| Tensor::<1>::from_data(TensorData::new(vec![x], [1]), &dev).require_grad();
        let (a, s) = (leaf(1.2), leaf(0.4));
        let l = total_loss(a.clone(), s.clone(), 0.5, true);
        let g = l.backward();
        let ga = to_vec(a.grad(&g).unwrap())[0];
        let gs = to_vec(s.grad(&g).unwrap())[0];
        assert!(
            (ga - 1.0).abs() < 1e-6 && (gs - 1.5).abs() < 1e-6,
            "{ga} {gs}"
        );
    }
}
