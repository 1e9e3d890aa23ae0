//! Training the video tokenizer (issue 19): the 3-D model's quantized forward pass over a
//! [`VideoPyramid`] (SAQ, Eqs. 2-3, on 3-D positions) and its appearance step (Eq. 8: L2 +
//! commitment).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Tensor, TensorData};

use super::{
    appearance_loss, commitment_rows, straight_through, AppearanceTerms, LossConfig, StepStats,
};
use crate::model::video::VideoSpaeModel;
use crate::pyramid::{PyramidError, VideoPyramid};
use crate::quantizer::{quantize_and_reconstruct, NearestSearch, PyramidCodes, Quantizer};
use crate::tensor::to_vec;

/// The frozen codebook and 3-D pyramid a video model quantizes through.
pub struct VideoContext {
    pub quantizer: Box<dyn Quantizer>,
    pub pyramid: VideoPyramid,
    pub search: NearestSearch,
}

/// What one quantized forward pass of a clip batch produced.
pub struct VideoForward {
    /// Reconstruction `[B, C, T, H, W]`.
    pub clips: Tensor<5>,
    /// Encoder output `[B, d, t, h, w]`.
    pub latents: Tensor<5>,
    pub codes: PyramidCodes,
}

/// The encoder output `[B, d, t, h, w]` as rows `[B, t*h*w, d]`, positions time-major (the
/// [`VideoPyramid`]'s flat order).
pub fn video_latent_rows(latents: Tensor<5>) -> Tensor<3> {
    let [b, d, t, h, w] = latents.dims();
    latents.permute([0, 2, 3, 4, 1]).reshape([b, t * h * w, d])
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
    let [b, d, t, h, w] = z.dims();
    let z_host = to_vec(z.clone().detach().permute([0, 2, 3, 4, 1]));
    let q = ctx.quantizer.as_ref();
    let (zhat, codes) = quantize_and_reconstruct(q, &ctx.pyramid, &ctx.search, &z_host, depth)?;
    let zhat = Tensor::<5>::from_data(TensorData::new(zhat, [b, t, h, w, d]), &z.device())
        .permute([0, 4, 1, 2, 3]);
    Ok(VideoForward {
        clips: model.decoder.forward(straight_through(z.clone(), zhat)),
        latents: z,
        codes,
    })
}

/// One step on an autodiff device: Eq. 8's appearance loss ([`appearance_loss`]; for now its L2
/// and commitment terms, the latter over the 3-D pyramid), decoded from the first `depth`
/// layers, then Adam with learning rate `lr`.
pub fn video_step(
    model: VideoSpaeModel,
    optim: &mut ModuleOptimizer,
    ctx: &VideoContext,
    clips: Tensor<5>,
    depth: usize,
    lr: f64,
    cfg: &LossConfig,
) -> Result<(VideoSpaeModel, StepStats), PyramidError> {
    let f = video_forward(&model, ctx, clips.clone(), depth)?;
    let l2 = (f.clips - clips).square().mean().reshape([1]);
    let commit = commitment_rows(
        video_latent_rows(f.latents),
        &ctx.pyramid,
        &ctx.search,
        &f.codes,
    );
    let terms = AppearanceTerms {
        l2: l2.clone(),
        commitment: commit.clone(),
        codebook: None,
        perceptual: None,
        gan: None,
    };
    let loss = appearance_loss(terms, cfg);
    let scalar = |t: &Tensor<1>| to_vec(t.clone().detach())[0];
    let stats = StepStats {
        l2: scalar(&l2),
        commitment: scalar(&commit),
        loss: scalar(&loss),
        ..StepStats::default()
    };
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    Ok((optim.step(lr, model, grads), stats))
}
