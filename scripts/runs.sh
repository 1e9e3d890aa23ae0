# Sourced by the experiment scripts: the spae binary, a run trained to its configured step
# count (a finished run is kept, an interrupted one resumed), and whether an output is fresh.
. scripts/cpu-env.sh
# SPAE_BIN runs a given binary instead (e.g. a copy, while the tree is being edited).
spae() {
  if [ -n "${SPAE_BIN:-}" ]; then "$SPAE_BIN" "$@"; else cargo run --release --locked --quiet --bin spae -- "$@"; fi
}

# train_run CONFIG RUN_DIR TAG
train_run() {
  local cfg="$1" run="$2" tag="$3" steps resume=""
  steps="$(awk -F' *= *' '$1 == "steps" { print $2 }' "$cfg")"
  if [ -f "$run/LATEST" ] && [ "$(cat "$run/LATEST")" = "$(printf 'step-%08d' "$steps")" ]; then
    echo "[$tag] $(basename "$run"): trained ($steps steps)"
  else
    [ -f "$run/LATEST" ] && resume="--resume"
    echo "[$tag] $(basename "$run"): training"
    spae train --config "$cfg" --out "$run" $resume
  fi
}

# fresh OUT RUN_DIR N: OUT exists, is newer than the run's last checkpoint, and covers N images.
fresh() {
  [ -f "$1" ] && [ "$1" -nt "$2/LATEST" ] && [ "$(cat "$1.n" 2>/dev/null)" = "$3" ]
}
