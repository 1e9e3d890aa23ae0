#!/usr/bin/env bash
# Kills `spae train` with SIGKILL at KILLS random moments (a checkpoint after every step, so many
# kills land inside checkpoint writes), checking after each that LATEST loads and at the end that
# the resumed run matches an uninterrupted one exactly; then a failing write (file-size limit)
# must stop training with a clear error and keep the last checkpoint. The normal test command
# runs the same tests with 6 kills (crates/spae-cli/tests/crash_safe.rs).
#   scripts/crash-test.sh [KILLS=50]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cpu-env.sh
SPAE_CRASH_KILLS="${1:-50}" cargo test --release --locked -p spae-cli --test crash_safe -- --nocapture
