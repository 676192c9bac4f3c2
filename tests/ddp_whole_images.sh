#!/bin/sh
# Crops from whole images under data parallel (data.whole_images): each
# image's crop is drawn from (step, its place in the global batch), so two
# Gloo ranks crop what one process crops and train its loss curve (to float
# tolerance). The control: the default store's crops, drawn by each rank
# for its own slice, train another curve (so the comparison sees crops).
#   ddp_whole_images.sh BUILD_DIR SOURCE_DIR
set -eu
bin=$1; src=$2; d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$bin/make_image_folder" "$d/folder" --images 96 --classes 4 --val 0.25 --min 40 --max 90 --seed 3 \
  --threads 1 > /dev/null
sweep="$src/tests/e2e/whole_images.toml"
base="--threads 1 --only 2 --set data.path=$d/folder --set train.log_every=1 --set train.epochs=4"
. "$src/tests/ddp_lib.sh"
worst() {  # worst A B: the largest relative loss difference of two runs' curves (equal steps)
  curve "$1" > "$d/a.txt"; curve "$2" > "$d/b.txt"
  test -s "$d/a.txt" && test "$(wc -l < "$d/a.txt")" -eq "$(wc -l < "$d/b.txt")"
  paste -d ' ' "$d/a.txt" "$d/b.txt" | awk '
    { if ($1 != $3) { print "step mismatch"; exit 1 }
      rel = ($2 - $4) / $2; if (rel < 0) rel = -rel; if (rel > w) w = rel }
    END { printf "%.3g\n", w }'
}
for mode in whole square; do
  opts="$base"
  [ "$mode" = whole ] && opts="$opts --set data.whole_images=true"
  "$bin/run_sweep" "$sweep" --results "$d/one-$mode" $opts > "$d/one-$mode.txt" 2>&1 ||
    { cat "$d/one-$mode.txt"; exit 1; }
  start2 "$d/two-$mode" "two-$mode"
  wait $p0 || { cat "$d/two-$mode.rank0"; exit 1; }
  wait $p1
  grep -q 'data parallel: 2 gloo processes' "$d/two-$mode.rank0"
done
w=$(worst "$d/one-whole" "$d/two-whole"); s=$(worst "$d/one-square" "$d/two-square")
echo "one process vs two ranks, largest relative loss difference: whole images $w, centre squares $s"
awk -v w="$w" -v s="$s" 'BEGIN { exit !(w <= 1e-4 && s > 1e-3) }'
