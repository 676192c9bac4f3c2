#!/bin/sh
# The bench tools' bad input: one line, exit 2, before any timing.
#  bench_train: a flag the chosen mode would ignore (shape flags with
#    --sweep, --set without it, anything beside --pca), --pca 0, a --trace
#    path that cannot be written (/proc, a device, a file as its folder),
#    --cuda-graph without --device cuda, an empty --trace; bench_prepare
#    --threads past 4096 (each a thread); --bf16 with
#    --sweep acts (bf16=1); --warmup 0 runs.
#  run_bench.sh: BENCH_REPS 0 or not a number, an unknown shape among known
#    ones, an unknown precision, a missing build folder.
#  trace_ops.py: a trace without op events, --steps other than the trace's,
#    --parents of an op the trace lacks; a real trace's table (its steps
#    counted when --steps is not given).
#   bench_inputs.sh BUILD_DIR SOURCE_DIR PYTHON
set -u
build=$1; src=$2; py=$3; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
bt=$build/bench_train
fail() { echo "FAIL: $*"; exit 1; }
refused() {  # refused WHAT COMMAND...: exit 2 with one "error:" line
  what=$1; shift
  "$@" > "$d/out.txt" 2>&1; rc=$?
  [ $rc -eq 2 ] || { cat "$d/out.txt"; fail "$what: exit $rc, expected 2"; }
  [ "$(grep -c . "$d/out.txt")" -le 2 ] || { cat "$d/out.txt"; fail "$what: more than one line of error"; }
  echo "refused ($what): $(tail -1 "$d/out.txt")"
}
small="--width 32 --depth 1 --heads 2 --batch 4 --patch 8 --image 16 --threads 1"
sweep="$src/tests/e2e/synthetic.toml"
refused "--width with --sweep" "$bt" --sweep "$sweep" --width 64
refused "--set without --sweep" "$bt" --set train.fused_kernels=true $small
refused "--pca 0" "$bt" --pca 0
refused "--pca with --sweep" "$bt" --pca 1000 --sweep "$sweep"
refused "--pca with --bf16" "$bt" --pca 1000 --bf16
refused "--trace under /proc" "$bt" $small --steps 1 --trace /proc/ldae_trace.json
refused "--trace to a device" "$bt" $small --steps 1 --trace /dev/null
refused "--cuda-graph without --device cuda" "$bt" $small --steps 1 --cuda-graph
refused "an empty --trace" "$bt" $small --steps 1 --trace ""
refused "bench_prepare --threads 99999" "$build/bench_prepare" "$d" --threads 99999
touch "$d/file"
refused "--trace inside a file" "$bt" $small --steps 1 --trace "$d/file/x.json"
grep -q "is a file, not a folder" "$d/out.txt" || fail "the message does not say the folder is a file"
"$bt" --sweep "$sweep" --row 1 --steps 1 --warmup 0 --bf16 --threads 1 --results "$d/r" > "$d/s.txt" 2>&1 ||
  { cat "$d/s.txt"; fail "--sweep --bf16 --warmup 0 failed"; }
grep -q "bf16=1" "$d/s.txt" || { cat "$d/s.txt"; fail "--bf16 with --sweep did not set train.bf16"; }
"$bt" $small --steps 2 --warmup 0 --trace "$d/t.json" > "$d/t.txt" 2>&1 || { cat "$d/t.txt"; fail "a traced run failed"; }

rb="$src/bench/run_bench.sh"
refused "BENCH_REPS=0" env BENCH_REPS=0 bash "$rb" "$build"
refused "BENCH_REPS=abc" env BENCH_REPS=abc bash "$rb" "$build"
refused "an unknown shape among known ones" env BENCH_SHAPES="quickstart bogus" bash "$rb" "$build"
refused "BENCH_PRECISIONS=fp16" env BENCH_PRECISIONS=fp16 bash "$rb" "$build"
refused "BENCH_SHAPES='*'" env BENCH_SHAPES='*' bash "$rb" "$build"
grep -q "unknown shape '\*'" "$d/out.txt" || fail "BENCH_SHAPES='*' was expanded as a file pattern"
refused "a missing build folder" bash "$rb" "$d/no-build"

to="$src/bench/trace_ops.py"
echo '{"traceEvents": []}' > "$d/empty.json"
echo '[1, 2]' > "$d/list.json"
refused "a trace without events" "$py" "$to" "$d/empty.json"
refused "a list of numbers" "$py" "$to" "$d/list.json"
refused "--steps 5 on a 2-step trace" "$py" "$to" "$d/t.json" --steps 5
refused "--parents of a missing op" "$py" "$to" "$d/t.json" --steps 2 --parents aten::no_such_op
"$py" "$to" "$d/t.json" > "$d/ops.txt" || { cat "$d/ops.txt"; fail "the real trace's table (steps counted) failed"; }
grep -q "ops at top level" "$d/ops.txt" || { cat "$d/ops.txt"; fail "no table"; }
echo "ok"
