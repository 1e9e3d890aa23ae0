"""PyTorch twin of one spae training step, timed per phase by `spae bench train --compare-torch`.

The same network as crates/spae/src/model (MAGVIT-style encoder / decoder: GroupNorm + SiLU
residual blocks, average-pool down, nearest-neighbour up + conv), the same frozen codebook rows
the nearest-word search uses, pyramid SAQ (method.md Eqs. 1-3) with the straight-through
estimator, the appearance loss of an appearance-only configuration (Eq. 8: L2 + beta *
commitment) and burn's Adam (eps 1e-5). The initial weights are spae's own, loaded by name: the
twin asserts that its parameter names, shapes and count equal spae's before it runs.

Usage: python train_twin_torch.py DIR [cpu|cuda]
On CUDA every phase ends with torch.cuda.synchronize(), so each is timed to its completion.
DIR holds what spae wrote: twin.json, init.safetensors, codebook.f32 (K x d), images.f32
((warmup + steps) x B x C x S x S). Writes DIR/torch.json (per-phase times) and
DIR/torch_tokens.u32 (the first step's words, layer after layer, image-major).
"""
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import safetensors_file

PHASES = ["encoder", "search", "decoder_losses", "backward", "optimizer"]


def read_safetensors(path):
    header, data = safetensors_file.read(path)
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {meta['dtype']}, the twin reads F32 only")
        a, b = meta["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).copy()).reshape(
            meta["shape"]
        )
    return out


def conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=(k - 1) // 2)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, cin), cin, eps=1e-5)
        self.conv1 = conv(cin, cout, 3)
        self.norm2 = nn.GroupNorm(min(groups, cout), cout, eps=1e-5)
        self.conv2 = conv(cout, cout, 3)
        self.shortcut = conv(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.shortcut(x) if self.shortcut is not None else x) + h


def stages(ch, cfg):
    blocks, boundaries, cin = [], [], ch[0]
    for s, c in enumerate(ch):
        for _ in range(cfg["blocks_per_stage"]):
            blocks.append(ResBlock(cin, c, cfg["norm_groups"]))
            cin = c
        if s + 1 < len(ch):
            boundaries.append(len(blocks) - 1)
    return nn.ModuleList(blocks), boundaries


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = [m * cfg["base_channels"] for m in cfg["channel_mult"]]
        self.conv_in = conv(cfg["image_channels"], ch[0], 3)
        self.blocks, self.down_after = stages(ch, cfg)
        self.norm_out = nn.GroupNorm(min(cfg["norm_groups"], ch[-1]), ch[-1], eps=1e-5)
        self.conv_out = conv(ch[-1], cfg["latent_dim"], 1)

    def forward(self, x):
        h = self.conv_in(x)
        for i, b in enumerate(self.blocks):
            h = b(h)
            if i in self.down_after:
                h = F.avg_pool2d(h, 2)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = [m * cfg["base_channels"] for m in cfg["channel_mult"]][::-1]
        self.conv_in = conv(cfg["latent_dim"], ch[0], 3)
        self.blocks, self.up_after = stages(ch, cfg)
        self.up_convs = nn.ModuleList([conv(c, c, 3) for c in ch[:-1]])
        self.norm_out = nn.GroupNorm(min(cfg["norm_groups"], ch[-1]), ch[-1], eps=1e-5)
        self.conv_out = conv(ch[-1], cfg["image_channels"], 3)

    def forward(self, z):
        h = self.conv_in(z)
        for i, b in enumerate(self.blocks):
            h = b(h)
            if i in self.up_after:
                u = self.up_after.index(i)
                h = self.up_convs[u](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)


def spae_name(torch_name):
    """burn names GroupNorm's affine parameters gamma / beta, PyTorch weight / bias."""
    parts = torch_name.split(".")
    if parts[-2].startswith("norm"):
        parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
    return ".".join(parts)


def load_spae_weights(model, path):
    theirs = read_safetensors(path)
    ours = {spae_name(n): p for n, p in model.named_parameters()}
    if set(ours) != set(theirs):
        raise SystemExit(
            f"parameter names differ: only in the twin {sorted(set(ours) - set(theirs))}, "
            f"only in spae {sorted(set(theirs) - set(ours))}"
        )
    with torch.no_grad():
        for name, p in ours.items():
            if tuple(p.shape) != tuple(theirs[name].shape):
                raise SystemExit(f"{name}: twin {tuple(p.shape)}, spae {tuple(theirs[name].shape)}")
            p.copy_(theirs[name])
    return len(ours), sum(p.numel() for p in ours.values())


def subsample(n_latent, n_layer):
    """Eq. 1 along one axis (1-based centres of the blocks)."""
    stride = n_latent // n_layer
    return [stride * i - (stride + 1) // 2 + 1 for i in range(1, n_layer + 1)]


def positions(latent, grid):
    (h, w), (gh, gw) = latent, grid
    return [(r - 1) * w + (c - 1) for r in subsample(h, gh) for c in subsample(w, gw)]


def quantize(z_rows, codes, e2, layers, depth):
    """Pyramid SAQ (Eqs. 2-3) over z_rows [B, P, d] (detached): per layer the targets
    (n + 1) z - S, their nearest words by 2 t.e - |e|^2 (matmul + argmax), and the streaming
    average of the first `depth` layers. Returns words, the decoder input and per-layer data for
    the commitment term."""
    b, p, d = z_rows.shape
    total = torch.zeros_like(z_rows)
    count = torch.zeros(p, device=z_rows.device)
    words, commit = [], []
    for l, pos in enumerate(layers):
        idx = torch.tensor(pos, device=z_rows.device)
        n = count[idx]
        scale = (n + 1.0)[None, :, None]
        target = scale * z_rows[:, idx] - total[:, idx]
        k = (2.0 * target.reshape(-1, d) @ codes.t() - e2[None, :]).argmax(1)
        e = codes[k].reshape(b, len(pos), d)
        words.append(k)
        commit.append((idx, scale, total[:, idx].clone(), e))
        total[:, idx] += e
        count[idx] += 1.0
        if l + 1 == depth:
            zhat = total / count[None, :, None]
    return words, zhat, commit


def main():
    folder = sys.argv[1]
    device = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA was asked for and torch sees no GPU")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    spec = json.load(open(f"{folder}/twin.json"))
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    mcfg = spec["model"]
    model = Model(mcfg)
    n_tensors, n_params = load_spae_weights(model, f"{folder}/init.safetensors")
    model = model.to(device)
    if n_params != spec["parameters"]:
        raise SystemExit(f"twin has {n_params} parameters, spae {spec['parameters']}")
    d = mcfg["latent_dim"]
    codes = torch.from_numpy(np.fromfile(f"{folder}/codebook.f32", dtype=np.float32))
    codes = codes.reshape(-1, d).to(device)
    e2 = (codes * codes).sum(1)
    b, c, s = spec["batch_size"], mcfg["image_channels"], mcfg["image_size"]
    steps, warmup = spec["steps"], spec["warmup"]
    images = torch.from_numpy(np.fromfile(f"{folder}/images.f32", dtype=np.float32))
    images = images.reshape(warmup + steps, b, c, s, s).to(device)
    latent = tuple(spec["latent"])
    layers = [positions(latent, tuple(g)) for g in spec["grids"]]
    opt = torch.optim.Adam(
        model.parameters(), lr=spec["lr"], betas=(spec["adam_beta1"], spec["adam_beta2"]), eps=1e-5
    )
    times = {k: [] for k in PHASES}
    losses = []
    for step in range(warmup + steps):
        x = images[step]
        sync()
        t = [time.perf_counter()]
        z = model.encoder(x)
        sync()
        t.append(time.perf_counter())
        bz, _, h, w = z.shape
        z_rows = z.permute(0, 2, 3, 1).reshape(bz, h * w, d)
        with torch.no_grad():
            words, zhat, commit = quantize(z_rows.detach(), codes, e2, layers, spec["depth"])
        zq = zhat.reshape(bz, h, w, d).permute(0, 3, 1, 2)
        sync()
        t.append(time.perf_counter())
        y = model.decoder(z + (zq - z).detach())
        l2 = ((y - x) ** 2).mean()
        com = sum(
            ((scale * z_rows[:, idx] - total - e) ** 2).mean() for idx, scale, total, e in commit
        )
        loss = l2 + spec["commitment"] * com
        loss_value = loss.item()
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t.append(time.perf_counter())
        opt.step()
        sync()
        t.append(time.perf_counter())
        if step == 0:
            np.concatenate([k.cpu().numpy().astype(np.uint32) for k in words]).tofile(
                f"{folder}/torch_tokens.u32"
            )
        losses.append(loss_value)
        if step >= warmup:
            for i, k in enumerate(PHASES):
                times[k].append((t[i + 1] - t[i]) * 1e3)
    step_ms = [sum(v) for v in zip(*times.values())]
    report = {
        "torch": torch.__version__,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "threads": torch.get_num_threads(),
        "parameter_tensors": n_tensors,
        "parameters": n_params,
        "median_step_ms": statistics.median(step_ms),
        "median_ms": {k: statistics.median(v) for k, v in times.items()},
        "step_ms": step_ms,
        "losses": losses,
    }
    if not all(math.isfinite(v) for v in losses):
        raise SystemExit(f"non-finite loss: {losses}")
    json.dump(report, open(f"{folder}/torch.json", "w"))
    print(json.dumps({k: report[k] for k in ("torch", "threads", "parameters", "median_step_ms")}))


if __name__ == "__main__":
    main()
