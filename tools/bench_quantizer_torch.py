"""PyTorch side of `spae bench quantizer`: the same nearest-codeword workload, timed the way
../shared/bench/torch_reference.py times it (full score matrix, torch.matmul + argmax).

Usage: python bench_quantizer_torch.py DIR N K D REPS THREADS
Reads DIR/z.f32 (N x D) and DIR/e.f32 (K x D), writes DIR/torch_idx.i64 and prints one JSON line.
"""
import json
import statistics
import sys
import time

import numpy as np
import torch


def main():
    folder, n, k, d, reps, threads = sys.argv[1], *map(int, sys.argv[2:7])
    torch.set_num_threads(threads)
    z = torch.from_numpy(np.fromfile(f"{folder}/z.f32", dtype=np.float32).reshape(n, d))
    e = torch.from_numpy(np.fromfile(f"{folder}/e.f32", dtype=np.float32).reshape(k, d))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        e2 = (e * e).sum(1)
        s = 2.0 * torch.matmul(z, e.t()) - e2[None, :]
        idx = s.argmax(1)
        idx[0].item()
        times.append((time.perf_counter() - t) * 1e3)
    idx.numpy().astype(np.int64).tofile(f"{folder}/torch_idx.i64")
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "median_ms": statistics.median(times), "all_ms": times}))


if __name__ == "__main__":
    main()
