#!/bin/sh
# Two sweep files under one [sweep] name in one results root (issue 28, item
# 10): the second is refused with exit 2 naming the file the name was
# recorded from, and the first file's record stays; the same file rerun with
# other settings, or moved, records as before.   cli_sweep_name_taken.sh RUN_SWEEP SRC
set -u
rs=$1; src=$2; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fast="--threads 1 --only 1 --set seed=0 --set train.epochs=1 --set probe.epochs=1 --set data.synthetic_train=128"
cp "$src/tests/e2e/synthetic.toml" "$d/a.toml"
sed 's/^tokenizer.d = 8$/tokenizer.d = 4/' "$d/a.toml" > "$d/b.toml"
cmp -s "$d/a.toml" "$d/b.toml" && { echo "FAIL: b.toml is not another sweep"; exit 1; }
"$rs" "$d/a.toml" --results "$d/r" $fast > "$d/a.txt" 2>&1 || { cat "$d/a.txt"; echo "FAIL: a.toml"; exit 1; }
"$rs" "$d/b.toml" --results "$d/r" $fast > "$d/b.txt" 2>&1; rc=$?
cat "$d/b.txt"
[ $rc -eq 2 ] || { echo "FAIL: b.toml exited $rc, expected 2"; exit 1; }
grep -q "already recorded in .* from $d/a.toml" "$d/b.txt" || { echo "FAIL: the message does not name a.toml"; exit 1; }
grep -q "a.toml" "$d/r/sweeps/synthetic_smoke.default.json" || { echo "FAIL: a.toml's record was replaced"; exit 1; }
[ ! -d "$d/r/runs" ] || [ "$(ls "$d/r/runs" | wc -l)" -eq 1 ] || { echo "FAIL: b.toml ran"; exit 1; }
# Its dry run says the same, before anyone waits for the real run to refuse.
"$rs" "$d/b.toml" --results "$d/r" --dry-run > "$d/bd.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "already recorded in .* from $d/a.toml" "$d/bd.txt" || { cat "$d/bd.txt"; echo "FAIL: b.toml's dry run exited $rc without the refusal"; exit 1; }
# The same file with other settings, and the same file moved: recorded as before.
"$rs" "$d/a.toml" --results "$d/r" $fast --set probe.epochs=2 > /dev/null 2>&1 || { echo "FAIL: a.toml rerun"; exit 1; }
mkdir "$d/moved" && cp "$d/a.toml" "$d/moved/a.toml"
"$rs" "$d/moved/a.toml" --results "$d/r" $fast --set probe.epochs=2 > /dev/null 2>&1 || { echo "FAIL: a.toml moved"; exit 1; }
echo "ok: a second sweep file under a recorded name is refused naming the first; the same sweep passes"
