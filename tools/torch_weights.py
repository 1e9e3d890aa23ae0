#!/usr/bin/env python3
"""Converts a PyTorch state dict saved by `torch.save` (the zip format of PyTorch >= 1.6, or the
legacy one) into safetensors, with the standard library only (no torch, no NumPy).

Float32 tensors are written contiguously (row-major; strided views, such as weights stored in
TensorFlow's layout, are gathered) under their state-dict names; integer buffers (BatchNorm's
`num_batches_tracked`) are left out.

    python3 tools/torch_weights.py model.pth out.safetensors
"""
import collections
import io
import pickle
import struct
import sys
import zipfile

from safetensors_file import write_f32

MAGIC = 0x1950A86A20F9469CFC6C


class StorageType:
    def __init__(self, name):
        self.name = name


class Storage:
    def __init__(self, kind, numel):
        self.kind, self.numel, self.raw = kind, numel, None


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def rebuild_tensor_v2(storage, offset, size, stride, *rest):
    return Tensor(storage, offset, size, stride)


WIDTHS = {"FloatStorage": 4, "LongStorage": 8, "IntStorage": 4}


class StateDictUnpickler(pickle.Unpickler):
    """Unpickles a state dict: tensors, storage types and ordered dicts, nothing else; each
    storage record goes to `storage(pid)`."""

    def __init__(self, file, storage):
        super().__init__(file)
        self.storage = storage

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")

    def persistent_load(self, pid):
        return self.storage(pid)


def load(path):
    """The state dict in `path`: name -> Tensor (storages read)."""
    if zipfile.is_zipfile(path):
        return load_zip(path)
    storages = {}

    def storage(pid):
        typename, stype, key, _location, numel, view = pid
        if typename != "storage" or view is not None:
            raise pickle.UnpicklingError(f"unsupported storage record {pid!r}")
        return storages.setdefault(key, Storage(stype.name, numel))

    with open(path, "rb") as f:
        if pickle.load(f) != MAGIC:
            raise ValueError(f"{path}: not a legacy torch.save file")
        pickle.load(f)  # protocol version
        pickle.load(f)  # system info
        state = StateDictUnpickler(f, storage).load()
        for key in pickle.load(f):
            s = storages[key]
            (n,) = struct.unpack("<q", f.read(8))
            if n != s.numel:
                raise ValueError(f"storage {key}: {n} elements, expected {s.numel}")
            width = WIDTHS.get(s.kind)
            if width is None:
                raise ValueError(f"unsupported storage type {s.kind}")
            s.raw = f.read(n * width)
            if len(s.raw) != n * width:
                raise ValueError(f"{path}: truncated")
    return state


def load_zip(path):
    """A state dict in the zip format: `<root>/data.pkl` and one raw file per storage."""
    archive = zipfile.ZipFile(path)
    names = archive.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise ValueError(f"{path}: not a torch.save archive (no <root>/data.pkl)")
    root = pkl[0].split("/")[0]
    order = f"{root}/byteorder"
    if order in names and archive.read(order).decode().strip() != "little":
        raise ValueError(f"{path}: big-endian storages are not supported")
    storages = {}

    def storage(pid):
        typename, stype, key, _location, numel = pid
        if typename != "storage":
            raise pickle.UnpicklingError(f"unsupported storage record {pid!r}")
        if key not in storages:
            s = Storage(stype.name, numel)
            width = WIDTHS.get(s.kind)
            if width is None:
                raise ValueError(f"unsupported storage type {s.kind}")
            s.raw = archive.read(f"{root}/data/{key}")
            if len(s.raw) != numel * width:
                raise ValueError(f"storage {key}: {len(s.raw)} bytes, expected {numel * width}")
            storages[key] = s
        return storages[key]

    state = StateDictUnpickler(io.BytesIO(archive.read(pkl[0])), storage).load()
    if not isinstance(state, dict):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def gather(t):
    """The tensor's float32 elements in row-major order, as bytes."""
    floats = memoryview(t.storage.raw).cast("f")
    count, contiguous = 1, []
    for d in reversed(t.size):
        contiguous.insert(0, count)
        count *= d
    if tuple(contiguous) == t.stride:
        return floats[t.offset : t.offset + count].tobytes()
    if not t.size:
        return floats[t.offset : t.offset + 1].tobytes()
    *outer, last = t.size
    out = bytearray()
    index = [0] * len(outer)
    while True:
        start = t.offset + sum(i * s for i, s in zip(index, t.stride))
        out += floats[start : start + last * t.stride[-1] : t.stride[-1]].tobytes() if last else b""
        for d in reversed(range(len(outer))):
            index[d] += 1
            if index[d] < outer[d]:
                break
            index[d] = 0
        else:
            return bytes(out)


def main(src, dst):
    state = load(src)
    tensors = [(name, t.size, gather(t)) for name, t in state.items() if t.storage.kind == "FloatStorage"]
    floats = write_f32(dst, tensors)
    print(f"{len(tensors)} tensors, {floats} floats")

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
