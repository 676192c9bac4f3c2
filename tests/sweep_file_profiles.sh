#!/bin/sh
# Every experiments/*.toml has tiny, small and paper profiles: CPU minutes,
# one GPU, the protocol. (Each file's dry run with no profile and under each
# profile it defines is CTest run_ids, tests/core/config/run_ids.sh, which
# fails naming a file that does not parse or validate; the plugin sweep's
# is cli_plugin_out_of_tree.)
set -e
dir=$1
for f in "$dir"/*.toml; do
  for want in tiny small paper; do
    grep -q "^\[profile\.$want\]" "$f" || { echo "FAIL: $f has no [profile.$want]"; exit 1; }
  done
  echo "ok: $f has tiny, small and paper profiles"
done
