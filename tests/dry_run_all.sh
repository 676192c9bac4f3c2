#!/bin/sh
# Every experiments/*.toml has tiny, small and paper profiles, and parses and
# validates (dry run) with no profile and under each profile it defines.
set -e
run_sweep=$1; dir=$2; results=$(mktemp -d)
for f in "$dir"/*.toml; do
  # Every sweep file runs at three scales: CPU minutes, one GPU, the protocol.
  for want in tiny small paper; do
    grep -q "^\[profile\.$want\]" "$f" || { echo "FAIL: $f has no [profile.$want]"; exit 1; }
  done
  # Sweeps that need a plugin are checked by plugin_out_of_tree.sh.
  if grep -q '^plugins *=' "$f"; then echo "skip (needs a plugin): $f"; continue; fi
  "$run_sweep" "$f" --dry-run --results "$results" > /dev/null
  for p in $(sed -n 's/^\[profile\.\([A-Za-z0-9_]*\)\].*/\1/p' "$f"); do
    "$run_sweep" "$f" --profile "$p" --dry-run --results "$results" > /dev/null
    echo "ok: $f --profile $p"
  done
done
rm -rf "$results"
