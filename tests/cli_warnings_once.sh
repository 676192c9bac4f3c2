#!/bin/sh
# A warning that 40 grid points share is printed once, with the number of
# rows it concerns (it was printed once per row); one that quotes each
# point's numbers is grouped by kind (its words, numbers aside).
#   cli_warnings_once.sh RUN_SWEEP
set -eu
run_sweep=$1; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
cat > "$d/w.toml" <<'TOML'
[sweep]
name = "warn_once"
mode = "grid"
[base]
data.name = "synthetic"
data.pad = 0
train.epochs = 1
[grid]
probe.t = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
           21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]
TOML
"$run_sweep" "$d/w.toml" --dry-run --results "$d/r" > "$d/out.txt" 2> "$d/err.txt"
cat "$d/err.txt"
n=$(grep -c "pre-training is only" "$d/err.txt")
[ "$n" -eq 1 ] || { echo "the warning was printed $n times"; exit 1; }
grep -q "(and 39 more rows)" "$d/err.txt" || { echo "no row count"; exit 1; }
# A warning quoting each point's own numbers (the probe's steps over a grid
# of probe.epochs x probe.batch) is one kind: printed once too.
cat > "$d/p.toml" <<'TOML'
[sweep]
name = "warn_kind_once"
mode = "grid"
[base]
data.name = "synthetic"
data.pad = 0
train.epochs = 1
[grid]
probe.epochs = [1, 2, 3, 4, 5]  # 38 of the 40 points are under 200 steps
probe.batch = [16, 32, 48, 64, 80, 96, 112, 128]
TOML
"$run_sweep" "$d/p.toml" --dry-run --results "$d/r" > "$d/out.txt" 2> "$d/err.txt"
cat "$d/err.txt"
n=$(grep -c "the linear probe is only" "$d/err.txt")
[ "$n" -eq 1 ] || { echo "the probe's warning was printed $n times"; exit 1; }
grep "the linear probe is only" "$d/err.txt" | grep -q "(and 37 more rows, each with its own numbers)" ||
  { echo "no row count for the probe's warning"; exit 1; }
# Keys of a stage that no run of the sweep runs (fine-tuning off, nothing
# generated) are named once for the sweep; where some rows run the stage,
# the rows that opt out say nothing.
"$run_sweep" "$d/w.toml" --dry-run --results "$d/r" --set eval.finetune_randaug_n=2 --set eval.finetune_reprob=0.25 \
  --set eval.fid_reference=train > "$d/out.txt" 2> "$d/err.txt"
cat "$d/err.txt"
n=$(grep -c "eval.finetune_randaug_n, eval.finetune_reprob are set, but no run fine-tunes" "$d/err.txt")
[ "$n" -eq 1 ] || { echo "the idle fine-tuning keys were named $n times"; exit 1; }
grep -q "eval.fid_reference is set, but no run generates" "$d/err.txt" || { echo "no warning for the idle FID key"; exit 1; }
cat > "$d/f.toml" <<'TOML'
[sweep]
name = "warn_mixed_stages"
[base]
data.name = "synthetic"
data.pad = 0
train.epochs = 1
eval.finetune_epochs = 1
eval.finetune_randaug_n = 2
[[row]]
label = "fine-tuned"
[[row]]
label = "raw pixels"
probe.features = "raw_pixels"
TOML
"$run_sweep" "$d/f.toml" --dry-run --results "$d/r" > "$d/out.txt" 2> "$d/err.txt"
cat "$d/err.txt"
if grep -q "no run fine-tunes" "$d/err.txt"; then echo "a sweep that fine-tunes was told it does not"; exit 1; fi
# Two rows with every key equal are one run: named once, with both rows.
cat > "$d/dup.toml" <<'TOML'
[sweep]
name = "warn_duplicate_rows"
seeds = [0, 1]
[base]
data.name = "synthetic"
data.pad = 0
train.epochs = 1
[[row]]
label = "a"
probe.t = 5
[[row]]
label = "copied"
probe.t = 5
[[row]]
label = "changed"
probe.t = 6
TOML
"$run_sweep" "$d/dup.toml" --dry-run --results "$d/r" > "$d/out.txt" 2> "$d/err.txt"
cat "$d/err.txt"
n=$(grep -c "rows 1 'a' and 2 'copied' are the same run" "$d/err.txt")
[ "$n" -eq 1 ] || { echo "the duplicated row was named $n times"; exit 1; }
if grep -q "'changed' are the same run" "$d/err.txt"; then echo "a changed row was called a copy"; exit 1; fi
echo ok
