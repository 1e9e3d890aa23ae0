//! Training the video tokenizer (issue 19): the 3-D model's quantized forward pass over a
//! [`VideoPyramid`] (SAQ, Eqs. 2-3, on 3-D positions) and its appearance step (Eq. 8: L2 +
//! commitment + LPIPS frame by frame).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::{
    appearance_loss, commitment_rows, latent_rows, quantize_channels, AppearanceTerms, LossConfig,
    StepStats,
};
use crate::eval::lpips::Lpips;
use crate::model::video::VideoSpaeModel;
use crate::pyramid::{PyramidError, VideoPyramid};
use crate::quantizer::PyramidCodes;
use crate::setup::QuantContext;
use crate::tensor::to_vec;

/// The frozen codebook and 3-D pyramid a video model quantizes through.
pub type VideoContext = QuantContext<VideoPyramid>;

/// What one quantized forward pass of a clip batch produced.
pub struct VideoForward {
    /// Reconstruction `[B, C, T, H, W]`.
    pub clips: Tensor<5>,
    /// Encoder output `[B, d, t, h, w]`.
    pub latents: Tensor<5>,
    pub codes: PyramidCodes,
}

/// Encoder, SAQ over the 3-D pyramid, straight-through `z + sg(zhat - z)`, decoder from the
/// first `depth` layers.
pub fn video_forward(
    model: &VideoSpaeModel,
    ctx: &VideoContext,
    clips: Tensor<5>,
    depth: usize,
) -> Result<VideoForward, PyramidError> {
    let z = model.encoder.forward(clips);
    let q = ctx.quantizer.as_ref();
    let (decoder_input, codes) = quantize_channels(q, &ctx.pyramid, &ctx.search, z.clone(), depth)?;
    Ok(VideoForward {
        clips: model.decoder.forward(decoder_input),
        latents: z,
        codes,
    })
}

/// The frames of clips `[B, C, T, H, W]` as images `[B * T, C, H, W]`.
pub fn frames_of(clips: Tensor<5>) -> Tensor<4> {
    let [b, c, t, h, w] = clips.dims();
    clips.swap_dims(1, 2).reshape([b * t, c, h, w])
}

/// One step on an autodiff device: Eq. 8's appearance loss ([`appearance_loss`]; its L2 and
/// commitment terms, the latter over the 3-D pyramid, and with `lpips` the perceptual term as
/// the mean LPIPS over every frame), decoded from the first `depth` layers, then Adam with
/// learning rate `lr`.
#[allow(clippy::too_many_arguments)]
pub fn video_step(
    model: VideoSpaeModel,
    optim: &mut ModuleOptimizer,
    ctx: &VideoContext,
    clips: Tensor<5>,
    depth: usize,
    lr: f64,
    cfg: &LossConfig,
    lpips: Option<&Lpips>,
) -> Result<(VideoSpaeModel, StepStats), PyramidError> {
    let f = video_forward(&model, ctx, clips.clone(), depth)?;
    let l2 = (f.clips.clone() - clips.clone())
        .square()
        .mean()
        .reshape([1]);
    let commit = commitment_rows(latent_rows(f.latents), &ctx.pyramid, &ctx.search, &f.codes);
    let perceptual = lpips.map(|n| {
        n.distance_unit(frames_of(f.clips), frames_of(clips))
            .mean()
            .reshape([1])
    });
    let scalar = |t: &Tensor<1>| to_vec(t.clone().detach())[0];
    let mut stats = StepStats {
        l2: scalar(&l2),
        commitment: scalar(&commit),
        ..StepStats::default()
    };
    if let Some(p) = &perceptual {
        stats.perceptual = scalar(p);
    }
    let terms = AppearanceTerms {
        l2,
        commitment: commit,
        codebook: None,
        perceptual,
        gan: None,
    };
    let loss = appearance_loss(terms, cfg);
    stats.loss = scalar(&loss);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    Ok((optim.step(lr, model, grads), stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_clips_by_hand() {
        // One clip, 2 channels, 2 frames of 1 pixel: channel 0 is (1, 2) over time, channel 1
        // is (3, 4); frame 0 is then the image (1, 3), frame 1 (2, 4).
        let dev = burn::tensor::Device::flex();
        let x = Tensor::<5>::from_data(
            burn::tensor::TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 2, 2, 1, 1]),
            &dev,
        );
        let f = frames_of(x);
        assert_eq!(f.dims(), [2, 2, 1, 1]);
        assert_eq!(to_vec(f), vec![1.0, 3.0, 2.0, 4.0]);
    }
}
