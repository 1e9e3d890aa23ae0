"""Fixtures for spae's I3D (crates/spae/src/eval/i3d.rs, the FVD feature extractor), from a
PyTorch twin written here: the architecture of the PyTorch port `pytorch-i3d` (its module names,
TensorFlow "same" padding computed from each input length, zero-padded max pools, a final 2x7x7
average pool) as VideoGPT / TATS use it for FVD (batch norm eps 1e-5 where `pytorch-i3d` has
0.001; logits averaged over time) and their preprocessing (8-bit frames, shorter side to 224 by bilinear interpolation with
align_corners=False, centre crop, [-1, 1]).

No I3D weights are installable here, so the twin is the real architecture at 1/16 of every
width (the same layers, kernels, strides and pools; spae reads widths from the weights) with
seeded random weights and batch-norm statistics calibrated on noise clips (variances about 1e-3,
so that the two ports' epsilons give clearly different features: the test tells them apart). The state dict is saved with torch.save (zip
format) and converted by tools/torch_weights.py, the path a user's checkpoint takes.

Usage (needs torch and numpy): python tools/i3d_fixtures.py crates/spae/tests/fixtures/i3d
Writes DIR/narrow.safetensors and DIR/features.json (the clip sets, defined by formula in
`clips`, and their features).
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DIV = 16
MIXED = {  # name: (b0, b1a, b1b, b2a, b2b, b3b) of the full network
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
CLASSES = 400


def narrow(c):
    return max(1, c // DIV)


def same_pad(length, k, s):
    total = max(k - s, 0) if length % s == 0 else max(k - length % s, 0)
    return total // 2, total - total // 2


def pad_same(x, kernel, stride):
    pads = []
    for dim, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
        pads += list(same_pad(dim, k, s))
    return F.pad(x, pads)


class Unit3D(nn.Module):
    def __init__(self, cin, cout, k, s=1, bn=True, eps=1e-5):
        super().__init__()
        self.kernel, self.stride, self.use_bn = (k,) * 3, (s,) * 3, bn
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=not bn)
        if bn:
            self.bn = nn.BatchNorm3d(cout, eps=eps)

    def forward(self, x):
        x = self.conv3d(pad_same(x, self.kernel, self.stride))
        return F.relu(self.bn(x)) if self.use_bn else x


def max_pool_same(x, kernel, stride):
    return F.max_pool3d(pad_same(x, kernel, stride), kernel, stride)


class Mixed(nn.Module):
    def __init__(self, cin, widths, eps):
        super().__init__()
        w = [narrow(c) for c in widths]
        self.b0 = Unit3D(cin, w[0], 1, eps=eps)
        self.b1a, self.b1b = Unit3D(cin, w[1], 1, eps=eps), Unit3D(w[1], w[2], 3, eps=eps)
        self.b2a, self.b2b = Unit3D(cin, w[3], 1, eps=eps), Unit3D(w[3], w[4], 3, eps=eps)
        self.b3b = Unit3D(cin, w[5], 1, eps=eps)
        self.cout = w[0] + w[2] + w[4] + w[5]

    def forward(self, x):
        return torch.cat([
            self.b0(x),
            self.b1b(self.b1a(x)),
            self.b2b(self.b2a(x)),
            self.b3b(max_pool_same(x, (3, 3, 3), (1, 1, 1))),
        ], 1)


class I3D(nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, narrow(64), 7, 2, eps=eps)
        self.Conv3d_2b_1x1 = Unit3D(narrow(64), narrow(64), 1, eps=eps)
        self.Conv3d_2c_3x3 = Unit3D(narrow(64), narrow(192), 3, eps=eps)
        width = narrow(192)
        for name, widths in MIXED.items():
            m = Mixed(width, widths, eps)
            setattr(self, name, m)
            width = m.cout
        self.logits = Unit3D(width, CLASSES, 1, bn=False)

    def forward(self, x):
        x = self.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = self.logits(F.avg_pool3d(x, (2, 7, 7), (1, 1, 1)))
        return x.squeeze(3).squeeze(3).mean(2)


def preprocess(clips, size=224):
    """[N, T, C, H, W] in [0, 1] -> [N, 3, T, 224, 224] in [-1, 1]."""
    n, t, c, h, w = clips.shape
    x = torch.round(clips * 255).clamp(0, 255) / 255
    scale = size / min(h, w)
    target = (math.ceil(h * scale), math.ceil(w * scale))
    x = F.interpolate(x.reshape(n * t, c, h, w), size=target, mode="bilinear", align_corners=False)
    top, left = (target[0] - size) // 2, (target[1] - size) // 2
    x = x[:, :, top : top + size, left : left + size].reshape(n, t, c, size, size)
    if c == 1:
        x = x.repeat(1, 1, 3, 1, 1)
    return x.permute(0, 2, 1, 3, 4) * 2 - 1


def clips(n, t, c, h, w):
    """The fixture clips, by formula (crates/spae/tests/fvd.rs computes the same)."""
    v = np.zeros((n, t, c, h, w))
    for i in range(n):
        for f in range(t):
            for ch in range(c):
                y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
                v[i, f, ch] = 0.5 + 0.5 * np.sin(0.37 * x + 0.23 * y * (ch + 1) + 0.9 * f * (i + 1) + 1.7 * i)
    return torch.tensor(v.astype(np.float32))


def init(net):
    """Seeded weights, then batch-norm statistics calibrated on noise clips as training would
    leave them. The convolutions are scaled down by 0.03 so that the variances the batch norms
    divide by are about 1e-3, where the two ports' epsilons (1e-5, 1e-3) differ clearly."""
    g = torch.Generator().manual_seed(0)
    for name, p in net.state_dict().items():
        if name.endswith("conv3d.weight"):
            fan_in = p[0].numel()
            small = 1.0 if name.startswith("logits.") else 0.03
            p.copy_(torch.randn(p.shape, generator=g) * small * math.sqrt(2.0 / fan_in))
        elif name.endswith("bn.weight"):
            p.copy_(0.5 + torch.rand(p.shape, generator=g))
        elif name.endswith("bn.bias") or name.endswith("conv3d.bias"):
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
    calibration = torch.rand((4, 3, 10, 224, 224), generator=g) * 2 - 1
    for m in net.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.momentum = 1.0  # the running statistics become this batch's
    net.train()
    net(calibration)
    net.eval()


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    net = I3D(1e-5).eval()
    other = I3D(1e-3).eval()  # pytorch-i3d's epsilon, same weights
    with torch.no_grad():
        init(net)
        other.load_state_dict(net.state_dict())
    net.eval()
    other.eval()
    with tempfile.TemporaryDirectory() as tmp:
        pt = os.path.join(tmp, "narrow.pt")
        torch.save(net.state_dict(), pt)
        tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_weights.py")
        subprocess.run([sys.executable, tool, pt, os.path.join(out, "narrow.safetensors")], check=True)
    sets = []
    for shape in [(3, 10, 1, 40, 48), (2, 12, 3, 32, 32)]:
        with torch.no_grad():
            x = preprocess(clips(*shape))
            feats, alt = net(x), other(x)
        scale = feats.abs().max().item()
        spread = (feats - feats.mean(0)).abs().max().item() / scale
        eps_gap = (feats - alt).abs().max().item() / scale
        print(f"clips {shape}: features {tuple(feats.shape)}, largest spread across clips "
              f"{spread:.3f}, largest change with eps 1e-3 {eps_gap:.4f} (of the largest feature)")
        assert spread > 0.05, "the clips' features hardly differ: a weak fixture"
        assert eps_gap > 0.01, "the epsilon hardly matters: the test could not tell the ports apart"
        sets.append({"shape": list(shape), "features": feats.flatten().tolist()})
    with open(os.path.join(out, "features.json"), "w") as f:
        json.dump({"port": "videogpt", "bn_eps": 1e-5, "width_divisor": DIV, "classes": CLASSES,
                   "sets": sets}, f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
