//! The transformer pieces the text and image encoders share: linear layers, LayerNorm and
//! multi-head attention, as plain tensors loaded from Hugging Face safetensors names.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use crate::weights::{Weights, WeightsError};

/// A linear layer `x W^T + b`, `W` stored transposed `[in, out]`.
pub struct Dense {
    w: Tensor<2>,
    b: Option<Tensor<1>>,
}

impl Dense {
    /// `{name}.weight` `[out, in]` and, with `bias`, `{name}.bias` `[out]`.
    pub fn load(
        w: &Weights,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        Ok(Dense {
            w: w.tensor(&format!("{name}.weight"), [out, inp], device)?
                .transpose(),
            b: if bias {
                Some(w.tensor(&format!("{name}.bias"), [out], device)?)
            } else {
                None
            },
        })
    }

    pub fn forward2(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.w.clone());
        match &self.b {
            Some(b) => y + b.clone().unsqueeze::<2>(),
            None => y,
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let out = self.w.dims()[1];
        self.forward2(x.reshape([b * t, d])).reshape([b, t, out])
    }
}

/// LayerNorm over the last dimension.
pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn load(
        w: &Weights,
        name: &str,
        d: usize,
        eps: f64,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        Ok(LayerNorm {
            gamma: w.tensor(&format!("{name}.weight"), [d], device)?,
            beta: w.tensor(&format!("{name}.bias"), [d], device)?,
            eps,
        })
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean = x.clone().mean_dim(2);
        let centred = x - mean;
        let var = centred.clone().square().mean_dim(2);
        centred / (var + self.eps).sqrt() * self.gamma.clone().unsqueeze::<3>()
            + self.beta.clone().unsqueeze::<3>()
    }
}

/// Multi-head scaled dot-product attention: projections `q, k, v, out`, `heads` heads, and an
/// additive bias `[B or 1, 1, T or 1, T]` (padding or causal masks).
pub struct Attention {
    pub query: Dense,
    pub key: Dense,
    pub value: Dense,
    pub out: Dense,
    pub heads: usize,
}

impl Attention {
    pub fn forward(&self, x: Tensor<3>, bias: Option<Tensor<4>>) -> Tensor<3> {
        let [b, t, h] = x.dims();
        let hd = h / self.heads;
        let split = |y: Tensor<3>| y.reshape([b, t, self.heads, hd]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f64).sqrt());
        if let Some(bias) = bias {
            scores = scores + bias;
        }
        let ctx = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, t, h]);
        self.out.forward(ctx)
    }
}
