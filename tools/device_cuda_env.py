"""Prints the shell exports the CUDA build of spae needs on the device machine (see
scripts/device-check.sh): CUDA_PATH, whose include/ NVRTC reads (cuda_fp16.h and the rest), and
LD_LIBRARY_PATH with the folders that hold libnvrtc. Taken from the environment when set, else from
the CUDA toolkit's usual places, else from the NVIDIA wheels PyTorch installed. Standard library
only; prints nothing for what it cannot find (spae then says what is missing).
"""
import glob
import os
import shlex
import site
import sys


def roots():
    found = []
    for pattern in ["/usr/local/cuda", "/usr/local/cuda-*", "/opt/cuda", "/usr"]:
        found += sorted(glob.glob(pattern), reverse=True)
    for sp in site.getsitepackages() + [site.getusersitepackages()]:
        found += sorted(glob.glob(f"{sp}/nvidia/*"))
    return [r for r in found if os.path.isdir(r)]


def main():
    exports = {}
    candidates = roots()
    if not os.environ.get("CUDA_PATH"):
        for r in candidates:
            if os.path.isfile(f"{r}/include/cuda_fp16.h"):
                exports["CUDA_PATH"] = r
                break
    libs = []
    for r in candidates:
        for sub in ("lib64", "lib", "targets/x86_64-linux/lib", "lib/x86_64-linux-gnu"):
            d = f"{r}/{sub}"
            if glob.glob(f"{d}/libnvrtc.so*") and d not in libs:
                libs.append(d)
    if libs:
        old = os.environ.get("LD_LIBRARY_PATH", "")
        exports["LD_LIBRARY_PATH"] = ":".join(libs + ([old] if old else []))
    for k, v in exports.items():
        print(f"export {k}={shlex.quote(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
