#!/bin/sh
# The baselines under data parallel (two Gloo processes, torchrun's
# environment): MoCo v3 gathers every rank's keys, DINO sums its centre over
# the ranks, MAE's loss is per sample. Each row's runs finish on both ranks
# with rank 0 alone writing, their losses finite and falling into place with
# one process's (augmentations are drawn per rank, so the curves agree in
# distribution, not bit for bit).   ddp_methods.sh BUILD_DIR SOURCE_DIR
set -eu
bin=$1; src=$2; d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
sweep="$src/tests/e2e/methods.toml"
. "$src/tests/ddp_lib.sh"
for row in MoCo MAE DINO; do   # the rows of e2e/methods.toml by label
  opts="--threads 1 --only $row --set train.log_every=1 --set eval.finetune_epochs=0"
  start2 "$d/r$row" "$row"
  wait $p0 || { cat "$d/$row.rank0"; exit 1; }
  wait $p1 || { cat "$d/$row.rank1"; exit 1; }
  test "$(sqlite3 "$d/r$row/results.db" "select group_concat(status) from runs")" = done,done
  test ! -s "$d/$row.rank1"
  for id in $(sqlite3 "$d/r$row/results.db" "select id from runs"); do
    grep -q '"world": 2' "$d/r$row/runs/$id/run.json"
  done
  "$bin/run_sweep" "$sweep" --results "$d/one$row" $opts > "$d/one.$row" 2>&1
  # mean training loss of the two ranks' runs and of one process's, both finite
  two=$(sqlite3 "$d/r$row/results.db" "select avg(value) from metrics where name = 'train.loss'")
  one=$(sqlite3 "$d/one$row/results.db" "select avg(value) from metrics where name = 'train.loss'")
  echo "row $row: mean train loss, two processes $two, one process $one"
  awk -v a="$two" -v b="$one" 'BEGIN { r = (a - b) / b; if (r < 0) r = -r; exit !(a == a && b == b && r < 0.25) }'
done
