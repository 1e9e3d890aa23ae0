//! Training the tokenizer: the quantized forward pass with straight-through gradients, the
//! appearance loss (method.md, Eq. 8: L2 + commitment + GAN + LeCAM + perceptual) and the
//! learning-rate schedule. The adversarial terms are in [`gan`], the loop in `run`.

mod checkpoint;
pub mod gan;
pub mod guide;
mod image_run;
mod loss;
pub mod parallel;
mod phases;
mod ranks;
mod run;
mod run_folder;
mod step;
pub mod video;
mod video_run;

pub use crate::checkpoint::{
    export, latest as latest_checkpoint, load_model, load_state, save_safetensors, CheckpointError,
    State,
};
pub use crate::config::{DataConfig, LoopConfig, LossConfig, TrainConfig, VideoTrainConfig};
pub use gan::{Adversary, LecamEma};
pub use guide::{
    build_guide, codebook_text_features, score_images, score_set, similarities, Guide, ImageScores,
    ScoredSet,
};
pub use image_run::train;
pub use ranks::Placement;
pub use run::{
    check_codebook, critics, dataset, guide_keys, init_model, labels_seen, load_codebook,
    named_dataset, quant_context, training_set, StepRecord, TrainError, HOLD_OUT_EVERY,
};
pub use run_folder::step_rng;
pub use step::{
    alone, step_gradients, train_step, train_step_among, Critics, Share, Step, StepGradients,
    StepStats,
};
pub(crate) use step::{step_loss, Latents};
pub use video_run::{train_video, video_context};

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Int, Tensor, TensorData};

use crate::model::SpaeModel;
use crate::pyramid::{PyramidError, PyramidLayout};
use crate::quantizer::{quantize_and_reconstruct, quantize_pyramid_tensor, TensorCodes};
pub use crate::setup::QuantContext;
pub use crate::tensor::{image_tensor, to_vec};
pub use loss::{appearance_loss, reconstruction_loss, total_loss, AppearanceTerms};
pub use phases::StepPhases;

impl LossConfig {
    /// The Adam optimizer with this configuration's betas.
    pub fn optimizer(&self) -> ModuleOptimizer {
        AdamConfig::new()
            .with_beta_1(self.adam_beta1)
            .with_beta_2(self.adam_beta2)
            .init()
    }
}

/// The learning rate at `step` of `total`: linear warm-up to `peak`, then `peak *
/// sqrt(warmup / step)` (rsqrt decay), scaled down linearly to 0 over the last `cooldown` steps.
pub fn learning_rate(step: usize, total: usize, peak: f64, warmup: usize, cooldown: usize) -> f64 {
    let s = step as f64 + 1.0;
    let w = warmup.max(1) as f64;
    let base = if s <= w {
        peak * s / w
    } else {
        peak * (w / s).sqrt()
    };
    let left = total.saturating_sub(step) as f64;
    if cooldown > 0 && left < cooldown as f64 {
        base * left / cooldown as f64
    } else {
        base
    }
}

/// What one quantized forward pass produced.
pub struct Forward {
    /// Reconstruction `[B, C, H, W]`.
    pub images: Tensor<4>,
    /// Encoder output `[B, d, h, w]`.
    pub latents: Tensor<4>,
    pub codes: TensorCodes,
}

/// Encoder, SAQ over the pyramid, straight-through `z + sg(zhat - z)`, decoder from the first
/// `depth` layers.
pub fn forward(
    model: &SpaeModel,
    ctx: &QuantContext,
    images: Tensor<4>,
    depth: usize,
) -> Result<Forward, PyramidError> {
    let z = model.encoder.forward(images);
    let (decoder_input, codes) = quantize_latents(ctx, z.clone(), depth)?;
    Ok(Forward {
        images: model.decoder.forward(decoder_input),
        latents: z,
        codes,
    })
}

/// The nearest-word search of a step: SAQ over the pyramid on the encoder output `z` `[B, d, h,
/// w]`, and the decoder's input, `z + sg(zhat - z)` with `zhat` the reconstruction from the
/// first `depth` layers (Eq. 3).
pub fn quantize_latents(
    ctx: &QuantContext,
    z: Tensor<4>,
    depth: usize,
) -> Result<(Tensor<4>, TensorCodes), PyramidError> {
    quantize_channels(ctx, z, depth)
}

/// [`quantize_latents`] for an encoder output `[B, d, ...]` of any rank (an image's `h, w`, a
/// video's `t, h, w`) over any pyramid layout: the rows ([`latent_rows`]) quantized where `ctx`
/// searches (on the host, or as tensor operations on the device with `ctx.on_device`), the
/// reconstruction put back in `z`'s layout behind the straight-through estimator.
pub fn quantize_channels<const D: usize, P: PyramidLayout>(
    ctx: &QuantContext<P>,
    z: Tensor<D>,
    depth: usize,
) -> Result<(Tensor<D>, TensorCodes), PyramidError> {
    let q = ctx.quantizer.as_ref();
    let dims = z.dims();
    // `[B, positions..., d]`: the rows' layout before they were flattened.
    let last: [usize; D] = std::array::from_fn(|i| match i {
        0 => dims[0],
        i if i == D - 1 => dims[1],
        i => dims[i + 1],
    });
    let rows = latent_rows(z.clone().detach());
    let device = z.device();
    let (zhat, codes) = match &ctx.on_device {
        Some(search) => quantize_pyramid_tensor(q, &ctx.pyramid, search, rows, depth)?,
        None => {
            let (zhat, codes) =
                quantize_and_reconstruct(q, &ctx.pyramid, &ctx.search, &to_vec(rows), depth)?;
            let zhat = Tensor::<3>::from_data(
                TensorData::new(zhat, [dims[0], ctx.pyramid.n_positions(), dims[1]]),
                &device,
            );
            (zhat, TensorCodes::from_host(&codes, &ctx.search, &device))
        }
    };
    let to_channels_first: [usize; D] = std::array::from_fn(|i| match i {
        0 => 0,
        1 => D - 1,
        i => i - 1,
    });
    let zhat = zhat.reshape(last).permute(to_channels_first);
    Ok((straight_through(z, zhat), codes))
}

/// The straight-through estimator `z + sg(zhat - z)`: the quantized value `zhat` forward, the
/// identity backward, so the decoder's gradient reaches the encoder through the quantizer.
pub fn straight_through<const D: usize>(z: Tensor<D>, zhat: Tensor<D>) -> Tensor<D> {
    z.clone() + (zhat - z).detach()
}

/// The encoder output `[B, d, ...]` (an image's `h, w`, a video's `t, h, w`) as rows `[B, P,
/// d]`, positions row-major (time-major): the pyramids' flat order.
pub fn latent_rows<const D: usize>(latents: Tensor<D>) -> Tensor<3> {
    let dims = latents.dims();
    let positions = dims[2..].iter().product();
    let to_channels_last: [usize; D] = std::array::from_fn(|i| match i {
        0 => 0,
        i if i == D - 1 => 1,
        i => i + 1,
    });
    latents
        .permute(to_channels_last)
        .reshape([dims[0], positions, dims[1]])
}

/// Layer `l`'s target `z_l` `[B, n, d]` at its `positions`, as the affine function `a z - b S`
/// of the encoder output rows `z` `[B, P, d]` (Eq. 2 for SAQ) whose value is the quantizer's
/// target and whose gradient reaches the encoder.
pub fn layer_target(z: Tensor<3>, positions: &[usize], codes: &TensorCodes, l: usize) -> Tensor<3> {
    let device = z.device();
    let n = positions.len();
    let idx: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &device);
    let z_sel = z.select(1, idx);
    let scale =
        Tensor::<3>::from_data(TensorData::new(codes.scales[l].clone(), [1, n, 1]), &device);
    // z_l = a z - b S: the constant part is a * sg(z) - target.
    let offset = z_sel.clone().detach() * scale.clone() - codes.targets[l].clone();
    z_sel * scale - offset
}

/// Eq. 8's commitment term, `sum_l mean ||z_l - sg(e(k_l))||^2`, with `z_l` the layer target as
/// an affine function of the encoder output, so that gradients reach the encoder.
pub fn commitment_loss(latents: Tensor<4>, ctx: &QuantContext, codes: &TensorCodes) -> Tensor<1> {
    commitment_rows(latent_rows(latents), &ctx.pyramid, codes)
}

/// [`commitment_loss`] on encoder output rows `[B, P, d]` over any pyramid layout (images and
/// videos).
pub fn commitment_rows(z: Tensor<3>, layout: &dyn PyramidLayout, codes: &TensorCodes) -> Tensor<1> {
    let mut total = Tensor::<1>::zeros([1], &z.device());
    for l in 0..layout.n_layers() {
        let z_l = layer_target(z.clone(), &layout.positions(l), codes, l);
        let e = codes.embeddings[l].clone();
        total = total + (z_l - e).square().mean().reshape([1]);
    }
    total
}

/// The VQ-VAE codebook loss of a learned codebook, `sum_l mean ||sg(z_l) - e(k_l)||^2`: pulls
/// the chosen rows `[K, d]` towards their layer targets.
pub fn codebook_loss(codebook: Tensor<2>, codes: &TensorCodes) -> Tensor<1> {
    let device = codebook.device();
    let d = codebook.dims()[1];
    let mut total = Tensor::<1>::zeros([1], &device);
    for (tokens, targets) in codes.tokens.iter().zip(&codes.targets) {
        let n = tokens.dims()[0];
        let e = codebook.clone().select(0, tokens.clone());
        let target = targets.clone().reshape([n, d]);
        total = total + (target - e).square().mean().reshape([1]);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantizer::PyramidCodes;
    use burn::tensor::Device;

    #[test]
    fn codebook_loss_by_hand() {
        let device = Device::flex();
        let rows = vec![0.0, 0.0, 1.0, 1.0, 2.0, 0.0];
        let cb = Tensor::<2>::from_data(TensorData::new(rows, [3, 2]), &device);
        // Two positions chose rows 1 and 2 for targets (1, 2) and (2, 1): squared errors
        // 0 + 1 + 0 + 1 over 4 entries.
        let codes = PyramidCodes {
            batch: 1,
            tokens: vec![vec![1, 2]],
            targets: vec![vec![1.0, 2.0, 2.0, 1.0]],
            scales: vec![vec![1.0, 1.0]],
        };
        let search = crate::quantizer::NearestSearch::new(&[0.0, 0.0, 1.0, 1.0, 2.0, 0.0], 2);
        let codes = TensorCodes::from_host(&codes, &search, &device);
        assert!((to_vec(codebook_loss(cb, &codes))[0] - 0.5).abs() < 1e-7);
    }

    #[test]
    fn schedule_by_hand() {
        // warm-up 10 steps to 1e-3: step 4 (5th) is 5e-4; after warm-up rsqrt: step 39 -> 1e-3 *
        // sqrt(10/40) = 5e-4; cool-down over the last 20 of 100: step 90 has 10 left -> half.
        assert!((learning_rate(4, 100, 1e-3, 10, 20) - 5e-4).abs() < 1e-12);
        assert!((learning_rate(39, 100, 1e-3, 10, 0) - 5e-4).abs() < 1e-12);
        let full = 1e-3 * (10.0f64 / 91.0).sqrt();
        assert!((learning_rate(90, 100, 1e-3, 10, 20) - full * 0.5).abs() < 1e-12);
        assert_eq!(learning_rate(100, 100, 1e-3, 10, 20), 0.0);
    }

    /// One latent position, one layer, `d = 2`: codebook rows (0, 0) and (4, 4); the quantizer
    /// chose row 0 for the target (1, 2), whose scale in `z` is 0.5.
    fn one_position(device: &Device) -> (QuantContext, TensorCodes) {
        let ctx = QuantContext {
            quantizer: crate::quantizer::QuantizerKind::Saq.build(),
            pyramid: crate::pyramid::Pyramid::square(1, &[1]).unwrap(),
            search: crate::quantizer::NearestSearch::new(&[0.0, 0.0, 4.0, 4.0], 2),
            on_device: None,
        };
        let codes = PyramidCodes {
            batch: 1,
            tokens: vec![vec![0]],
            targets: vec![vec![1.0, 2.0]],
            scales: vec![vec![0.5]],
        };
        let codes = TensorCodes::from_host(&codes, &ctx.search, device);
        (ctx, codes)
    }

    #[test]
    fn layer_target_and_commitment_by_hand() {
        let device = Device::flex().autodiff();
        let (ctx, codes) = one_position(&device);
        // Encoder output z = (6, 8) at the one position, `[B, d, h, w] = [1, 2, 1, 1]`.
        let latents =
            Tensor::<4>::from_data(TensorData::new(vec![6.0, 8.0], [1, 2, 1, 1]), &device)
                .require_grad();
        // The target's value is the quantizer's (1, 2); its gradient in z is the scale 0.5.
        let z_l = layer_target(
            latent_rows(latents.clone()),
            &ctx.pyramid.positions(0),
            &codes,
            0,
        );
        assert_eq!(to_vec(z_l.clone()), vec![1.0, 2.0]);
        let grads = z_l.sum().backward();
        assert_eq!(to_vec(latents.grad(&grads).unwrap()), vec![0.5, 0.5]);
        // Commitment to row 0: mean((1 - 0)^2, (2 - 0)^2) = 2.5; its gradient in z is
        // 2 * 0.5 * (1, 2) / 2 = (0.5, 1.0).
        let loss = commitment_loss(latents.clone(), &ctx, &codes);
        assert!((to_vec(loss.clone())[0] - 2.5).abs() < 1e-6);
        let grads = loss.backward();
        let g = to_vec(latents.grad(&grads).unwrap());
        assert!(
            (g[0] - 0.5).abs() < 1e-6 && (g[1] - 1.0).abs() < 1e-6,
            "{g:?}"
        );
    }

    #[test]
    fn straight_through_by_hand() {
        let device = Device::flex().autodiff();
        let z =
            Tensor::<1>::from_data(TensorData::new(vec![1.0, 2.0], [2]), &device).require_grad();
        let zhat = Tensor::<1>::from_data(TensorData::new(vec![3.0, 5.0], [2]), &device);
        // Forward: the quantized value; backward: the identity, as if there were no quantizer.
        let st = straight_through(z.clone(), zhat);
        assert_eq!(to_vec(st.clone()), vec![3.0, 5.0]);
        let w = Tensor::<1>::from_data(TensorData::new(vec![1.0, 10.0], [2]), &device);
        let grads = (st * w).sum().backward();
        assert_eq!(to_vec(z.grad(&grads).unwrap()), vec![1.0, 10.0]);
    }

    #[test]
    fn guide_loss_by_hand() {
        use crate::semantic::features::TextFeatures;
        use rand::SeedableRng;
        let device = Device::flex();
        let (ctx, codes) = one_position(&device);
        // Two words with text features (1, 0) and (0, 1); the image's feature (1, 0) scores
        // them 1 and 0 (Eq. 6), so the pool at threshold 0.98 is word 0 alone (Eq. 4).
        let text = TextFeatures {
            dim: 2,
            rows: vec![1.0, 0.0, 0.0, 1.0],
        };
        let rows =
            Tensor::<2>::from_data(TensorData::new(vec![0.0, 0.0, 2.0, 2.0], [2, 2]), &device);
        let guide = guide::Guide::new(&[vec![1.0, 0.0]], &text, &[0.98], rows, false);
        assert_eq!(guide.pool(0, 0), &[0]);
        // The layer target (1, 2) is 5 from word 0 and 1 from word 1: logits (-5, -1), and
        // Eq. 7 pulls it to word 0 although word 1 is nearer: -log softmax = 4 + ln(1 + e^-4).
        let latents =
            Tensor::<4>::from_data(TensorData::new(vec![6.0, 8.0], [1, 2, 1, 1]), &device);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let loss = guide
            .loss(latent_rows(latents), &ctx.pyramid, &codes, &[0], &mut rng)
            .unwrap();
        let expected = 4.0 + (1.0 + (-4.0f32).exp()).ln();
        assert!((to_vec(loss)[0] - expected).abs() < 1e-5);
    }
}
