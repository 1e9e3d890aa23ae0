#!/usr/bin/env python3
"""Enlarges a PNG that spae wrote (8-bit gray, RGB or RGBA, not interlaced) by an integer factor
with nearest-neighbour sampling, so the small sheets of 32x32 clips are large enough to see in
docs/. Stdlib only.
    python3 tools/enlarge_png.py IN.png OUT.png [FACTOR=3]
"""
import struct
import sys
import zlib

CHANNELS = {0: 1, 2: 3, 6: 4}


def read(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color, _, _, interlace = head
    if depth != 8 or color not in CHANNELS or interlace:
        sys.exit(f"{path}: only 8-bit gray, RGB or RGBA without interlacing")
    c = CHANNELS[color]
    raw, stride = zlib.decompress(idat), w * c
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - c] if i >= c else 0
            b, d = prev[i], prev[i - c] if i >= c else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - d
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - d)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else d)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, color, c, rows


def write(path, w, h, color, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + r for r in rows)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    k = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    w, h, color, c, rows = read(sys.argv[1])
    big = []
    for r in rows:
        line = b"".join(r[x * c:(x + 1) * c] * k for x in range(w))
        big.extend([line] * k)
    write(sys.argv[2], w * k, h * k, color, big)


if __name__ == "__main__":
    main()
