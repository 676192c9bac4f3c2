#!/usr/bin/env bash
# Everything a session with a lent GPU machine measures, in one command, each
# stage's log under $OUT (the device tool brings $OUT back):
#   tools/gpu_session.sh build test bench quickstart table3
# Needs .deps (make gpu-debs here, then carry .deps) on a machine without the
# Debian libraries. Stages run in the order given; a failed stage stops.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
build=${GPU_BUILD:-build-gpu}
data=()   # Fashion-MNIST from the unpacked Debian package when the system lacks it
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d .deps/prefix/usr/share/datasets/fashion-mnist ]; then
  data=(--set "data.path=$PWD/.deps/prefix/usr/share/datasets/fashion-mnist")
fi
stage() {  # stage NAME COMMAND...: time it, log it
  local name=$1; shift
  echo "== $name: $*" | tee -a "$out/summary.txt"
  local t0=$SECONDS
  if "$@" > "$out/$name.log" 2>&1; then
    echo "== $name ok in $((SECONDS - t0)) s" | tee -a "$out/summary.txt"
  else
    echo "== $name FAILED after $((SECONDS - t0)) s; tail:" | tee -a "$out/summary.txt"
    tail -40 "$out/$name.log" | tee -a "$out/summary.txt"
    exit 1
  fi
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || true
  date -u +%Y-%m-%dT%H:%MZ; } > "$out/device.txt" 2>&1
for s in "$@"; do
  case $s in
    build) stage build tools/gpu_build.sh "$build" ;;
    test)
      # The sqlite3 program the CLI tests call, from the unpacked packages
      # when the system lacks it (its library path for this stage only).
      # Without gnuplot (not carried: it pulls in cairo/pango) the figure
      # test cannot run; it is left out and said so.
      skip=""
      command -v gnuplot > /dev/null || { skip="-E cli_figures"; echo "test: no gnuplot, cli_figures left out" | tee -a "$out/summary.txt"; }
      stage test env PATH="$PATH:$PWD/.deps/prefix/usr/bin" \
        LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/.deps/prefix/usr/lib/x86_64-linux-gnu" \
        bash -c "cd $build && ctest --output-on-failure -j 8 $skip" ;;
    bench) stage bench bench/run_bench_gpu.sh "$build" ;;
    quickstart) stage quickstart "$build/run_sweep" experiments/quickstart.toml --profile tiny \
                  --results "$out/results" --set train.device=cuda "${data[@]}" ;;
    table3) stage table3 "$build/run_sweep" experiments/ablation_table3.toml --profile tiny \
              --results "$out/results" --set train.device=cuda "${data[@]}" ;;
    *) echo "gpu_session: unknown stage '$s' (build test bench quickstart table3)" >&2; exit 2 ;;
  esac
done
