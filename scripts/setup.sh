#!/usr/bin/env bash
# The first README command: installs everything (system packages, real assets), builds in
# release mode and runs `spae demo`. Idempotent: what is present is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-assets.sh "$@"
. scripts/cpu-env.sh
scripts/install-python.sh
cargo run --release --locked --quiet --bin spae -- demo
