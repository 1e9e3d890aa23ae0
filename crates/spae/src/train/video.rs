//! Training the video tokenizer (issue 19): the 3-D model's quantized forward pass over a
//! [`VideoPyramid`] (SAQ, Eqs. 2-3, on 3-D positions), its step (Eq. 8: L2 + commitment +
//! LPIPS and a GAN frame by frame; Eq. 9 with the semantic loss of the top layers), and the
//! semantic guide of a set of clips (Eqs. 4-6 with a per-clip score).

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::guide::{check_thresholds, gray_to_rgb, guide_of, score_pixels, with_token_features};
use super::{
    alone, commitment_rows, latent_rows, quantize_channels, reconstruction_loss, step_loss,
    Critics, Guide, ImageScores, Latents, LossConfig, Share, Step, StepStats, TrainError,
};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::config::VideoTrainConfig;
use crate::model::video::VideoSpaeModel;
use crate::pyramid::{PyramidError, VideoPyramid};
use crate::quantizer::TensorCodes;
use crate::semantic::{ScorerKind, SemanticConfig};
use crate::setup::QuantContext;
use crate::tensor::clip_frames;

/// The frozen codebook and 3-D pyramid a video model quantizes through.
pub type VideoContext = QuantContext<VideoPyramid>;

/// What one quantized forward pass of a clip batch produced.
pub struct VideoForward {
    /// Reconstruction `[B, C, T, H, W]`.
    pub clips: Tensor<5>,
    /// Encoder output `[B, d, t, h, w]`.
    pub latents: Tensor<5>,
    pub codes: TensorCodes,
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
    let (decoder_input, codes) = quantize_channels(ctx, z.clone(), depth)?;
    Ok(VideoForward {
        clips: model.decoder.forward(decoder_input),
        latents: z,
        codes,
    })
}

/// What one video step trains on: its `images` are clips `[B, C, T, S, S]`, and its keys the
/// clips' indices in the training set.
pub type VideoStep = Step<5>;

/// One step on an autodiff device: Eq. 8's appearance loss ([`super::appearance_loss`]: L2, the
/// commitment over the 3-D pyramid, with `critics.lpips` the mean LPIPS over every frame, with
/// `critics.adversary` and `step.gan` the generator's GAN loss of every frame), with
/// `critics.guide` Eq. 9's `alpha * w * L_sem` on the top layers ([`super::total_loss`]), then Adam;
/// with the GAN on, one discriminator step with LeCAM on the frames.
pub fn video_step(
    model: VideoSpaeModel,
    optim: &mut ModuleOptimizer,
    ctx: &VideoContext,
    cfgs: (&LossConfig, &SemanticConfig),
    critics: &mut Critics,
    step: VideoStep,
) -> Result<(VideoSpaeModel, StepStats), PyramidError> {
    video_step_among(model, optim, ctx, cfgs, critics, step, &alone)
}

/// [`video_step`] as one rank of a data-parallel run: `share` averages the discriminator's batch
/// means over the ranks, so that LeCAM's anchors are those of the global batch.
pub fn video_step_among(
    model: VideoSpaeModel,
    optim: &mut ModuleOptimizer,
    ctx: &VideoContext,
    (loss_cfg, sem): (&LossConfig, &SemanticConfig),
    critics: &mut Critics,
    step: VideoStep,
    share: Share,
) -> Result<(VideoSpaeModel, StepStats), PyramidError> {
    let g = video_gradients(&model, ctx, (loss_cfg, sem), critics, &step)?;
    let mut stats = g.stats;
    let model = optim.step(step.lr, model, g.grads);
    if let Some(adv) = critics.adversary.as_mut().filter(|_| step.gan) {
        let d = adv.step_among(g.frames, g.reconstructions, loss_cfg, step.lr, share);
        stats.disc = d.loss;
        stats.lecam = d.lecam;
    }
    Ok((model, stats))
}

/// What the generator's half of a video step computed: its parameters' gradients (reduced over
/// the devices of a data-parallel run by burn's all-reduce during the backward pass), its loss
/// values, and the frames the discriminator then sees.
pub struct VideoGradients {
    pub grads: GradientsParams,
    pub stats: StepStats,
    /// Every frame of the clip batch `[B * T, C, S, S]`.
    pub frames: Tensor<4>,
    /// Every reconstructed frame `[B * T, C, S, S]`.
    pub reconstructions: Tensor<4>,
}

/// The generator's half of [`video_step`], without the optimizer: the forward pass, the search,
/// every loss term and the backward pass.
pub fn video_gradients(
    model: &VideoSpaeModel,
    ctx: &VideoContext,
    cfgs: (&LossConfig, &SemanticConfig),
    critics: &Critics,
    step: &VideoStep,
) -> Result<VideoGradients, PyramidError> {
    let clips = step.images.clone();
    let f = video_forward(model, ctx, clips.clone(), step.depth)?;
    let l2 = reconstruction_loss(f.clips.clone(), clips.clone());
    let z = latent_rows(f.latents);
    let commit = commitment_rows(z.clone(), &ctx.pyramid, &f.codes);
    let (fake, real) = (clip_frames(f.clips), clip_frames(clips));
    let latents = || Latents {
        rows: z,
        layout: &ctx.pyramid,
        codes: &f.codes,
    };
    let judged = (&fake, &real);
    let (loss, stats) = step_loss((l2, commit), None, critics, step, judged, latents, cfgs);
    Ok(VideoGradients {
        grads: GradientsParams::from_grads(loss.backward(), model),
        stats,
        frames: real,
        reconstructions: fake,
    })
}

/// A clip's `f_img`: the mean of the features of its `k` scored frames (consecutive rows of
/// `frames`). Eq. 5's score `f_img . t(k)` is linear in `f_img`, so the clip's score of every
/// word is the mean of its frames' scores, the per-clip score of issue 19.
pub fn per_clip_features(frames: &[Vec<f32>], k: usize) -> Vec<Vec<f32>> {
    frames
        .chunks(k.max(1))
        .map(|rows| {
            let mut mean = vec![0f32; rows[0].len()];
            for r in rows {
                for (m, v) in mean.iter_mut().zip(r) {
                    *m += v / rows.len() as f32;
                }
            }
            mean
        })
        .collect()
}

/// The semantic guide of a video run (`semantic.weight > 0`; `None` otherwise): the scorer
/// reads the [`VideoTrainConfig::scored_frames`] of every training clip of `clips` (clip after
/// clip, frame after frame), a clip's `f_img` is their mean ([`per_clip_features`]), and its
/// candidate pools follow (Eqs. 4, 6). Keys are clip indices.
pub fn build_video_guide(
    cfg: &VideoTrainConfig,
    assets: &Assets,
    cb: &Codebook,
    clips: &[f32],
    device: &Device,
) -> Result<Option<Guide>, TrainError> {
    let sem = &cfg.semantic;
    if sem.weight <= 0.0 {
        return Ok(None);
    }
    check_thresholds(sem)?;
    let shape = cfg.model.clip_shape();
    let (per_clip, size, channels) = (shape.per_clip(), shape.size, shape.channels);
    let per_frame = channels * size * size;
    let picked = cfg.scored_frame_indices();
    let k = picked.len();
    let n_clips = clips.len() / per_clip;
    let n = n_clips * k;
    let batch = |idx: &[usize]| -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| {
                let start = i / k * per_clip + picked[i % k] * per_frame;
                let px = &clips[start..start + per_frame];
                match channels {
                    3 => px.to_vec(),
                    _ => gray_to_rgb(px, size),
                }
            })
            .collect::<Vec<f32>>()
    };
    tracing::info!("scoring {k} frames of each of {n_clips} clips");
    let (text, frames) = score_pixels(sem, assets, n, &batch, size, device)?;
    let mut rows = per_clip_features(&frames, k);
    if sem.scorer == ScorerKind::Bridge {
        crate::scorer::bridge::relate(&mut rows, &sem.bridge, 0);
    }
    let scores = ImageScores {
        text,
        image_features: rows,
        per_image: true,
    };
    let scored = with_token_features(sem, assets, cb, scores)?;
    let guide = guide_of(sem, cb, &scored, device);
    for l in 0..sem.thresholds.len() {
        let (distinct, common) = pool_summary(&guide, n_clips, l, 5);
        let common: Vec<String> = common
            .iter()
            .map(|&(w, c)| format!("{:?} {c}", cb.words[w as usize].text))
            .collect();
        tracing::info!(
            "guided layer {}: {distinct} distinct candidate pools over the clips; words in most pools: {}",
            l + 1,
            common.join(", ")
        );
    }
    Ok(Some(guide))
}

/// How different the clips' candidate pools of guided layer `layer` are: the number of distinct
/// pools among the first `clips` keys, and the `top` words in most pools with how many pools
/// hold them.
pub fn pool_summary(
    guide: &Guide,
    clips: usize,
    layer: usize,
    top: usize,
) -> (usize, Vec<(u32, usize)>) {
    let pools: std::collections::HashSet<&[u32]> =
        (0..clips).map(|c| guide.pool(c, layer)).collect();
    let all: Vec<u32> = (0..clips)
        .flat_map(|c| guide.pool(c, layer).iter().copied())
        .collect();
    let usage = crate::eval::concepts::word_usage(&all, top);
    (pools.len(), usage.top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_summarised_by_hand() {
        use crate::semantic::features::TextFeatures;
        // Three clips over three words t = e1, e2, e3; features e1, e1 + 0.5 e2, e3. Eq. 6
        // scores (min-max per clip) at threshold 0.9: pools {w0}, {w0}, {w2}.
        let text = TextFeatures {
            dim: 3,
            rows: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        };
        let f = vec![
            vec![1.0, 0.0, 0.0],
            vec![1.0, 0.5, 0.0],
            vec![0.0, 0.0, 1.0],
        ];
        let cb = Tensor::<2>::zeros([3, 3], &Device::flex());
        let guide = Guide::new(&f, &text, &[0.9], cb, true);
        assert_eq!(pool_summary(&guide, 3, 0, 2), (2, vec![(0, 2), (2, 1)]));
    }

    #[test]
    fn a_clip_scores_the_mean_of_its_frames() {
        // Two clips of two frames: (1, 0), (0, 1) -> (0.5, 0.5); (2, 2), (4, 0) -> (3, 1).
        let frames = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![2.0, 2.0],
            vec![4.0, 0.0],
        ];
        let clips = per_clip_features(&frames, 2);
        assert_eq!(clips, vec![vec![0.5, 0.5], vec![3.0, 1.0]]);
        // Against the word t = (1, 2): frame scores 1 and 2, the clip's 1.5 = 0.5 + 2 * 0.5.
        let t = [1.0f32, 2.0];
        let s = |f: &[f32]| f.iter().zip(&t).map(|(a, b)| a * b).sum::<f32>();
        assert_eq!(s(&clips[0]), (s(&frames[0]) + s(&frames[1])) / 2.0);
    }
}
