#!/usr/bin/env bash
# The one command of a GPU visit (README, "On a GPU"). Planned for a short
# lease: the whole run stays under 9 minutes of wall time (GPU_SESSION_S,
# 540: a stage's cap is cut to what is left of it), each stage under its own
# cap, in order of value; at most 7 files come back from $OUT:
#   summary.txt      device, versions, each stage's status and time, the tails
#   build.log        CMake configure + build against the machine's PyTorch
#   test.log         CTest on the CUDA build (GPU tests included)
#   profile.log      where a bf16 l-DAE-shape step's GPU time goes (batch 256): the
#                    eager step before fused AdamW and graphs, then with them, then
#                    with train.fused_kernels too
#   profile.json.gz  the eager step's Chrome trace (LibTorch's Kineto profiler), gzipped
#   bench.log        make bench-gpu: harness vs PyTorch eager and compiled
#   quickstart.log   the quickstart sweep with train.device=cuda and its table
#   table3.log       (stage table3, not in the default list) tiny Table 3, 3 seeds, GPU step
#   tools/gpu_session.sh [build] [test] [profile] [bench] [quickstart] [table3]   (default: the first five)
# Caps in seconds: GPU_CAP_BUILD (180), GPU_CAP_TEST (100), GPU_CAP_PROFILE
# (80), GPU_CAP_BENCH (240), GPU_CAP_QUICKSTART (90), GPU_CAP_TABLE3 (300). Stage names are
# checked before anything runs. A failed build ends the session; a failed
# or capped later stage is reported and the next one runs. Needs .deps
# (`make gpu-debs` where apt works, carried) on a machine without the
# Debian libraries. Results of the sweep stay outside $OUT (many files).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
build=${GPU_BUILD:-build-gpu}
py=${PYTHON:-python3}
export PYTHON=$py
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test profile bench quickstart)
for s in "${stages[@]}"; do   # a typo found now, not after minutes of device time
  case $s in
    build | test | profile | bench | quickstart | table3) ;;
    *) echo "gpu_session: unknown stage '$s' (build test profile bench quickstart table3)" >&2; exit 2 ;;
  esac
done
session_s=${GPU_SESSION_S:-540}
summary="$out/summary.txt"
t_session=$SECONDS
{ echo "gpu_session $(date -u +%Y-%m-%dT%H:%MZ) stages: ${stages[*]}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: none"
  "$py" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPUs", torch.cuda.device_count())' 2>&1
  # The tree travels with uncommitted changes; say so beside the commit.
  dirty=$(git status --porcelain --untracked-files=no 2> /dev/null | head -1)
  echo "cores $(nproc), git $(git rev-parse --short=12 HEAD 2> /dev/null || echo '?')${dirty:+ + uncommitted changes}"; } >> "$summary"
# Libraries unpacked from .deps (the sqlite3 program the CLI tests call, and
# the run path of what is installed, which carries LibTorch's only). Unpacked
# here, before any stage: the build would unpack them too, but the paths must
# be set in this shell, for the stages after it.
if ls .deps/debs/*.deb > /dev/null 2>&1; then
  if [ ! -f .deps/prefix/.unpacked ] || [ -n "$(find .deps/debs -newer .deps/prefix/.unpacked -name '*.deb')" ]; then
    mkdir -p .deps/prefix
    for f in .deps/debs/*.deb; do dpkg-deb -x "$f" .deps/prefix; done
    touch .deps/prefix/.unpacked
  fi
  export PATH="$PATH:$PWD/.deps/prefix/usr/bin"
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/.deps/prefix/usr/lib/x86_64-linux-gnu:$PWD/.deps/prefix/usr/lib/x86_64-linux-gnu/hdf5/serial"
fi
data=()   # Fashion-MNIST from the unpacked Debian package when the system lacks it
stage() {  # stage NAME CAP COMMAND...: run under its cap, log it, note the outcome
  local name=$1 cap=$2; shift 2
  local t0=$SECONDS rc left=$((session_s - (SECONDS - t_session)))
  if [ "$left" -lt 10 ]; then echo "== $name NOT RUN: the session's $session_s s are spent" >> "$summary"; return 124; fi
  [ "$cap" -gt "$left" ] && cap=$left
  echo "== $name (cap $cap s): $*" >> "$summary"
  timeout --kill-after=10 "$cap" "$@" > "$out/$name.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "== $name ok in $((SECONDS - t0)) s" >> "$summary"
  else
    [ $rc -eq 124 ] && echo "== $name CAPPED at $cap s" >> "$summary" || echo "== $name FAILED (exit $rc) after $((SECONDS - t0)) s" >> "$summary"
    tail -25 "$out/$name.log" | sed 's/^/   | /' >> "$summary"
  fi
  return $rc
}
for s in "${stages[@]}"; do
  case $s in
    build)
      stage build "${GPU_CAP_BUILD:-180}" tools/gpu_build.sh "$build" || { echo "session ends: no build" >> "$summary"; break; }
      # Whether nvcc compiled the fused adaLN kernels (train.fused_kernels on a GPU).
      grep -E "ldae: fused CUDA kernels|no CUDA compiler" "$out/build.log" | sed 's/^/   /' >> "$summary" ;;
    test)
      # Without gnuplot (not carried: it pulls in cairo/pango) the figure
      # test cannot run; it is left out and said so.
      skip=()
      command -v gnuplot > /dev/null || { skip=(-E cli_figures); echo "test: no gnuplot here, cli_figures left out" >> "$summary"; }
      # CTest keeps no output of a passing test: the GPU tests' own lines
      # follow, within the same cap, so the summary shows that they ran.
      stage test "${GPU_CAP_TEST:-100}" bash -c '
        ctest --test-dir "$0" --output-on-failure -j "$(nproc)" "${@:1}"; rc=$?
        echo "-- the GPU tests, once more for their lines --"
        "$0/tests/test_models" --gtest_filter="*OnGpu*:KnnProbe.Bf16*" 2>&1 | grep -E "^\[ +(OK|SKIPPED|FAILED) +\]"
        exit $rc' "$build" "${skip[@]}"
      grep -E "tests passed|\(Failed\)|\(Skipped\)|^\[ +(OK|SKIPPED|FAILED) +\] .* \([0-9]+ ms\)" "$out/test.log" | sed 's/^/   /' >> "$summary" ;;
    profile)
      # The step before the GPU changes (frontend AdamW, no graph) as a trace
      # and by kind of kernel, then the step as runs take it (fused, graphed).
      stage profile "${GPU_CAP_PROFILE:-80}" bash -c '
        a="--width 1024 --depth 24 --heads 16 --image 256 --patch 16 --channels 3 --batch 256 --bf16 --device cuda"
        "$0/bench_train" $a --steps 3 --warmup 3 --trace /tmp/ldae-profile.json && gzip -c /tmp/ldae-profile.json > "$1/profile.json.gz" &&
        "$PYTHON" bench/trace_ops.py /tmp/ldae-profile.json --steps 3 --kernels --top 30 &&
        "$0/bench_train" $a --steps 20 --warmup 4 --cuda-graph --trace /tmp/ldae-profile-graph.json &&
        echo "-- with train.fused_adamw and train.cuda_graph (the trace: 3 eager steps, then 21 replays) --" &&
        "$PYTHON" bench/trace_ops.py /tmp/ldae-profile-graph.json --steps 24 --kernels --top 15 &&
        echo "-- and train.fused_kernels (core/nn/adaln_fused CUDA kernels; eager steps traced, then replays) --" &&
        "$0/bench_train" $a --steps 20 --warmup 4 --cuda-graph --fused-kernels --trace /tmp/ldae-profile-fused.json &&
        "$PYTHON" bench/trace_ops.py /tmp/ldae-profile-fused.json --steps 24 --kernels --top 15' "$build" "$out"
      # The recording at batch 256 (issue 30): recorded and replayed, or why not
      # (a memory estimate names the batch that fits), and whether every timed call replayed.
      grep -E "^GPU:|images_per_s|cuda_graph|ran eagerly" "$out/profile.log" | sed 's/^/   /' >> "$summary" ;;
    bench)
      # Batch 256 only (BENCH_BATCHES to change): on the first visit the
      # eager rows at 64, 128, 256 took the whole cap, before any compiled one.
      BENCH_BATCHES=${BENCH_BATCHES:-256} stage bench "${GPU_CAP_BENCH:-240}" bench/run_bench_gpu.sh "$build"
      grep -E "^(device|shape|l-DAE|DiT-B)" "$out/bench.log" | sed 's/^/   /' >> "$summary" ;;
    quickstart)
      if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d .deps/prefix/usr/share/datasets/fashion-mnist ]; then
        data=(--set "data.path=$PWD/.deps/prefix/usr/share/datasets/fashion-mnist")
      fi
      res=${GPU_RESULTS:-/tmp/ldae-gpu-results}
      # As runs are by default, then with the GPU step (fused AdamW, graphs).
      stage quickstart "${GPU_CAP_QUICKSTART:-90}" bash -c '
        "$0/run_sweep" experiments/quickstart.toml --profile tiny --results "$1" --set train.device=cuda "${@:2}" &&
        "$0/make_tables" --results "$1" && echo "-- train.fused_adamw = true, train.cuda_graph = true --" &&
        "$0/run_sweep" experiments/quickstart.toml --profile tiny --results "$1-graph" --set train.device=cuda \
          --set train.fused_adamw=true --set train.cuda_graph=true "${@:2}" &&
        "$0/make_tables" --results "$1-graph"' "$build" "$res" "${data[@]}"
      # Whether each run's step was recorded: said in the runs' own logs.
      grep -h "train.cuda_graph" "$res"*/runs/*/log.txt 2> /dev/null | sed 's/^[^]]*] //' | sort | uniq -c >> "$out/quickstart.log"
      grep -E "^\||^-- |cuda_graph" "$out/quickstart.log" | sed 's/^/   /' >> "$summary" ;;
    table3)
      # Not in the default list: a second call on the warm machine (the build
      # stays), Table 3 at the tiny profile, 3 seeds, with the GPU step, to
      # set beside the CPU's table in docs/results-tiny.md.
      if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d .deps/prefix/usr/share/datasets/fashion-mnist ]; then
        data=(--set "data.path=$PWD/.deps/prefix/usr/share/datasets/fashion-mnist")
      fi
      res=${GPU_RESULTS:-/tmp/ldae-gpu-results}-table3
      stage table3 "${GPU_CAP_TABLE3:-300}" bash -c '
        "$0/run_sweep" experiments/ablation_table3.toml --profile tiny --results "$1" --set train.device=cuda \
          --set train.fused_adamw=true --set train.cuda_graph=true "${@:2}" && "$0/make_tables" --results "$1"' \
        "$build" "$res" "${data[@]}"
      grep -h "train.cuda_graph" "$res"/runs/*/log.txt 2> /dev/null | sed 's/^[^]]*] //' | sort | uniq -c >> "$out/table3.log"
      grep -E "^\||cuda_graph" "$out/table3.log" | sed 's/^/   /' >> "$summary" ;;
  esac
done
echo "session: $((SECONDS - t_session)) s" >> "$summary"
cat "$summary"
