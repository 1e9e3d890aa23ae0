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
use crate::tensor::{clip_frames, to_vec};

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
        n.distance_unit(clip_frames(f.clips), clip_frames(clips))
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
