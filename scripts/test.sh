#!/usr/bin/env bash
# The second README command (and CI's): installs what the tests need, then runs every test.
# Tests run in release mode so they share the build of scripts/setup.sh (llama.cpp included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-assets.sh
scripts/install-llama-server.sh
. scripts/cpu-env.sh
cargo test --release --locked --workspace
