# Sourced by the scripts: on a CPU without AVX-512, switch llama.cpp's AVX-512 build flags off
# (.cargo/config.toml turns them on by default; a variable set here wins).
if [ "$(uname -m)" = x86_64 ] && ! grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  export GGML_AVX512=OFF GGML_AVX512_VBMI=OFF GGML_AVX512_VNNI=OFF GGML_AVX512_BF16=OFF
fi
