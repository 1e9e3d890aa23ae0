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
# The Python package (built from this workspace into .venv) against the binary the tests built.
scripts/install-python.sh
.venv/bin/python -m pytest -q crates/spae-py/tests
