"""Reads a safetensors file's header and data, and writes float32 tensors as one, with the
standard library only."""
import json
import struct


def write_f32(path, tensors):
    """`tensors`: (name, shape, little-endian float32 bytes) in file order."""
    header, offset = {}, 0
    for name, shape, raw in tensors:
        count = 1
        for d in shape:
            count *= d
        if len(raw) != 4 * count:
            raise ValueError(f"{name}: {len(raw)} bytes for shape {shape}")
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for _, _, raw in tensors:
            f.write(raw)
    return offset // 4


def read(path):
    """The header (names to dtype, shape, data_offsets; `__metadata__` if present) and the data
    bytes the offsets index."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        return header, f.read()
