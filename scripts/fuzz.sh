#!/usr/bin/env bash
# Fuzzes every parser of outside bytes (cargo-fuzz + libFuzzer on nightly; fuzz/): SECONDS of
# fuzzing per target (default 600), starting from fuzz/seeds/<target> (real files,
# tools/fuzz_seeds.py) and the corpus of earlier runs (fuzz/corpus/<target>, git-ignored).
# Each crash lands in fuzz/artifacts/<target>/; once fixed, copy it to fuzz/regressions/<target>/
# so the normal test command (crates/spae/tests/fuzz_regressions.rs, stable Rust) keeps it fixed.
# Prints and writes results/fuzz/fuzz.json: executions, crashes and corpus size per target.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs: rustup toolchain nightly, `cargo install cargo-fuzz` (scripts/install-deps.sh --fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(gguf dequantize png image idx mnist_json emoji_json state_json config_toml tokens clip openai_reply serve_request)
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
out=results/fuzz
mkdir -p "$out"
# One build for every target (debug assertions on, so overflows are crashes too).
(cd fuzz && cargo +nightly fuzz build --debug-assertions)
json="$out/fuzz.json.tmp"
echo "[" > "$json"
first=1
printf '%-12s %12s %8s %8s %s\n' target executions crashes corpus seconds
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="$out/$t.log"
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  # -fork keeps fuzzing after a crash (each crash is saved); rss and malloc limits catch
  # allocations sized by unchecked headers.
  set +e
  (cd fuzz && cargo +nightly fuzz run --debug-assertions "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/") > "$log" 2>&1
  set -e
  # In fork mode the parent's last status line "#N: ..." counts every child's executions.
  execs=$( (grep -oE '^#[0-9]+' "$log" || true) | tail -1 | tr -d '#')
  crashes=$(( $(ls "fuzz/artifacts/$t" | wc -l) - before ))
  corpus=$(ls "fuzz/corpus/$t" | wc -l)
  printf '%-12s %12s %8s %8s %s\n' "$t" "${execs:-0}" "$crashes" "$corpus" "$seconds"
  [ $first = 1 ] || echo "," >> "$json"
  first=0
  printf '{"target": "%s", "executions": %s, "new_crash_files": %s, "corpus": %s, "seconds": %s}' \
    "$t" "${execs:-0}" "$crashes" "$corpus" "$seconds" >> "$json"
done
echo "]" >> "$json"
mv "$json" "$out/fuzz.json"
echo "wrote $out/fuzz.json; crash inputs (if any) in fuzz/artifacts/<target>/"
