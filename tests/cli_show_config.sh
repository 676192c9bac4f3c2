#!/bin/sh
# run_sweep --show-config: each planned run's resolved config as TOML under a
# header with its row, seed and run id (the id --dry-run prints), and no run.
#   cli_show_config.sh RUN_SWEEP SOURCE_DIR
set -eu
run_sweep=$1; src=$2; r=$(mktemp -d); trap 'rm -rf "$r"' EXIT
out=$("$run_sweep" "$src/experiments/quickstart.toml" --profile tiny --only l-DAE --show-config --results "$r")
id=$("$run_sweep" "$src/experiments/quickstart.toml" --profile tiny --only l-DAE --dry-run --results "$r" |
  awk '$1 == "row" { print $5 }')
echo "$out" | head -3
echo "$out" | grep -q "^# ---- row 4 seed 0 run $id: l-DAE" || { echo "no header with run $id"; exit 1; }
echo "$out" | grep -q '^target = "original_image"$' || { echo "objective.target not shown"; exit 1; }
echo "$out" | grep -q '^epochs = 5$' || { echo "the tiny profile's train.epochs not shown"; exit 1; }
[ ! -d "$r/runs" ] || { echo "--show-config started a run"; exit 1; }
