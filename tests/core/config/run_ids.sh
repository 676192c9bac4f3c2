#!/bin/sh
# The run id of every row of every experiments/*.toml, with no profile and
# under each profile the file defines, one line a run (a file whose dry run
# fails under any of them fails the script, naming it):
#   <sweep file> <profile or -> row <n> seed <s> <run id>
# A sweep file that needs a plugin is listed only when PLUGIN (the plugin's
# .so) is given, and then alone.
#   run_ids.sh RUN_SWEEP SOURCE_DIR [PLUGIN]          print the ids
#   run_ids.sh --check GOLDEN RUN_SWEEP SOURCE_DIR [PLUGIN]
#                                                     compare them with the golden file's lines
#                                                     for the same sweep files; exit 1 on a change
set -eu
if [ "$1" = "--check" ]; then
  golden=$2; shift 2
  now=$(mktemp); trap 'rm -f "$now" "$now.raw" "$now.want"' EXIT
  "$0" "$@" > "$now.raw"  # a failed dry run stops here (set -e)
  LC_ALL=C sort "$now.raw" > "$now"
  # The golden lines of the files listed now (the plugin sweep only with the plugin).
  files=$(cut -d' ' -f1 "$now" | sort -u)
  for f in $files; do grep "^$f " "$golden"; done | LC_ALL=C sort > "$now.want"
  if ! diff -u "$now.want" "$now"; then
    echo "run ids changed (- golden, + now): recorded results would be orphaned. Identity is"
    echo "pinned by core/config/key_order.cpp; a new key must leave ids alone at its default."
    exit 1
  fi
  echo "run ids: $(wc -l < "$now") ids of $(echo "$files" | wc -w) sweep files match $golden"
  exit 0
fi
run_sweep=$1; src=$2; plugin=${3:-}
results=$(mktemp -d); trap 'rm -rf "$results"' EXIT
for f in "$src"/experiments/*.toml; do
  name=$(basename "$f")
  if grep -q '^plugins *=' "$f"; then
    [ -n "$plugin" ] || continue
    set -- --plugin "$plugin"
  else
    [ -z "$plugin" ] || continue
    set --
  fi
  for p in - $(sed -n 's/^\[profile\.\([A-Za-z0-9_]*\)\].*/\1/p' "$f"); do
    if [ "$p" = - ]; then prof=""; else prof="--profile $p"; fi
    # Every file parses and validates under every profile: a dry run that
    # fails names the file and profile, and this script fails.
    # shellcheck disable=SC2086
    if ! "$run_sweep" "$f" $prof "$@" --dry-run --results "$results" > "$results/plan.txt" 2>&1; then
      cat "$results/plan.txt" >&2
      echo "FAIL: $name ${prof:-(no profile)}: the dry run failed" >&2
      exit 1
    fi
    awk -v f="$name" -v p="$p" '$1 == "row" { print f, p, "row", $2, "seed", $4, $5 }' "$results/plan.txt"
  done
done
