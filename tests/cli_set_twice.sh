#!/bin/sh
# A key given twice with --set: the last value wins, as on any command line
# (the same run id as the last value alone, another than the first's).
#   cli_set_twice.sh RUN_SWEEP SOURCE_DIR
set -eu
run_sweep=$1; src=$2; r=$(mktemp -d); trap 'rm -rf "$r"' EXIT
id() { "$run_sweep" "$src/experiments/quickstart.toml" --profile tiny --only l-DAE --dry-run --results "$r" "$@" |
  awk '$1 == "row" { print $5 }'; }
twice=$(id --set train.epochs=2 --set train.epochs=3)
last=$(id --set train.epochs=3)
first=$(id --set train.epochs=2)
echo "twice $twice, last alone $last, first alone $first"
[ -n "$twice" ] && [ "$twice" = "$last" ] && [ "$twice" != "$first" ]
