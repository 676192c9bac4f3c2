#!/bin/sh
# What the machine cannot give is refused before any run's folder exists:
#  1. train.device = "cuda" where LibTorch sees no GPU: exit 2 naming the
#     key and the row, no runs/ folder; a dry run (planning for the machines
#     that will run it) still plans it (exit 0). Skipped where a GPU is seen.
#  2. OMP_NUM_THREADS that is not a thread count, with no --threads and no
#     train.threads: exit 2 naming the variable, no runs/ folder; --version
#     says the same instead of a thread count.
#  3. LDAE_INDEX_BUSY_MS or LDAE_INDEX that mean nothing, a flag given an
#     empty value, a Slurm flag without --launcher slurm: exit 2 naming it,
#     no runs/ folder.
#  4. A Slurm submission planned where the data is not (its run ids would
#     lack the data's fingerprint, so no task could find its run): exit 2,
#     no script written.
#  5. make_image_folder with fewer images than classes: exit 2.
#   cli_environment.sh RUN_SWEEP SOURCE_DIR
set -u
rs=$1; src=$2; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
sweep="$src/tests/e2e/synthetic.toml"
if "$rs" --version | grep -q '^GPUs .*none visible'; then
  "$rs" "$sweep" --results "$d/a" --set train.device=cuda > "$d/a.txt" 2>&1
  rc=$?; cat "$d/a.txt"
  [ $rc -eq 2 ] || fail "train.device=cuda without a GPU: exit $rc, expected 2"
  grep -q "key 'train.device'" "$d/a.txt" || fail "the error does not name train.device"
  grep -q "synthetic.toml: row 1" "$d/a.txt" || fail "the error does not name the row"
  [ ! -e "$d/a/runs" ] || fail "a runs/ folder was written: $(ls "$d/a/runs")"
  "$rs" "$sweep" --results "$d/b" --set train.device=cuda --dry-run > "$d/b.txt" 2>&1 ||
    { cat "$d/b.txt"; fail "the dry run of a cuda sweep failed on a machine without a GPU"; }
else
  echo "a GPU is visible: part 1 skipped"
fi
OMP_NUM_THREADS=abc "$rs" "$sweep" --results "$d/c" > "$d/c.txt" 2>&1
rc=$?; cat "$d/c.txt"
[ $rc -eq 2 ] || fail "OMP_NUM_THREADS=abc: exit $rc, expected 2"
grep -q 'OMP_NUM_THREADS = "abc"' "$d/c.txt" || fail "the error does not name OMP_NUM_THREADS and its value"
[ ! -e "$d/c/runs" ] || fail "a runs/ folder was written: $(ls "$d/c/runs")"
OMP_NUM_THREADS=abc "$rs" --version 2>&1 | grep -q 'OMP_NUM_THREADS = "abc"' || fail "--version hides the bad OMP_NUM_THREADS"
OMP_NUM_THREADS=3 "$rs" --version | grep -q ', 3 threads by default;' || fail "--version does not say OMP_NUM_THREADS=3's 3 threads"
OMP_NUM_THREADS=1 "$rs" --version | grep -q ", 1 thread by default;" || fail "--version does not say 1 thread"
refused() {  # refused WHAT PATTERN COMMAND...: exit 2, PATTERN in its output, no runs/ folder under $d/e
  what=$1; pattern=$2; shift 2
  "$@" > "$d/e.txt" 2>&1; rc=$?
  [ $rc -eq 2 ] || { cat "$d/e.txt"; fail "$what: exit $rc, expected 2"; }
  grep -q -- "$pattern" "$d/e.txt" || { cat "$d/e.txt"; fail "$what: the message lacks '$pattern'"; }
  [ ! -e "$d/e/runs" ] || fail "$what: a runs/ folder was written"
  echo "refused ($what): $(tail -1 "$d/e.txt")"
}
refused "LDAE_INDEX_BUSY_MS=abc" "LDAE_INDEX_BUSY_MS=abc" env LDAE_INDEX_BUSY_MS=abc "$rs" "$sweep" --results "$d/e"
refused "LDAE_INDEX=maybe" "LDAE_INDEX=maybe" env LDAE_INDEX=maybe "$rs" "$sweep" --results "$d/e"
refused "--results ''" "--results was given an empty value" "$rs" "$sweep" --results ""
refused "--partition without slurm" "goes with --launcher slurm" "$rs" "$sweep" --results "$d/e" --partition gpu
refused "Slurm without the data" "not there on this machine" "$rs" "$src/tests/e2e/streamed_memory.toml" \
  --results "$d/e" --set data.path="$d/not-here" --launcher slurm --dry-run
[ ! -e "$d/e/slurm" ] || fail "a Slurm script was written for ids no task can find"
refused "make_image_folder --images 3 --classes 5" "images >= --classes" \
  "$(dirname "$rs")/make_image_folder" "$d/img" --images 3 --classes 5
echo "ok"
