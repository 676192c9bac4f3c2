#!/usr/bin/env bash
# make bench-gpu: the harness's bf16 training step on the GPU against the
# plain PyTorch program (../shared/bench/ref_dit_train.py --device cuda --bf16
# --sdpa --fused-adam, eager and under torch.compile) on the same card, at the
# paper's l-DAE backbone (256 tokens of 16x16x3 pixels, width 1024, 24
# blocks: DiT-L's shape) and DiT-B (width 768, 12 blocks), batches 64..256.
# Prints images/s and model FLOPs utilisation (bench/flops.hpp: 6 x
# multiply-adds incl. attention, over the dense bf16 peak of the GPU the
# driver names). Eager rows come first and compiled rows last, so a time cap
# (tools/gpu_session.sh) cuts the costliest measurements, not the basic ones.
#   run_bench_gpu.sh BUILD_DIR    (BENCH_STEPS, BENCH_BATCHES, BENCH_COMPILE_BATCHES, BENCH_SHAPES, PYTHON)
set -euo pipefail
build=${1:-build-gpu}
here=$(cd "$(dirname "$0")" && pwd)
ref=${LDAE_BENCH_REF:-$here/../../shared/bench/ref_dit_train.py}
[ -f "$ref" ] || ref=$here/../.deps/ref_dit_train.py   # the copy make gpu-debs carries
py=${PYTHON:-python3}
steps=${BENCH_STEPS:-20}
batches=${BENCH_BATCHES:-64 128 256}
compile_batches=${BENCH_COMPILE_BATCHES:-$batches}
# Overrides check the script itself on a CPU machine, e.g.
#   BENCH_DEVICE=cpu BENCH_SHAPES=check BENCH_IMAGE=32 BENCH_PATCH=8 BENCH_CHANNELS=1 \
#   BENCH_BATCHES="4 8" BENCH_STEPS=2 PYTHON=$LDAE_VENV/bin/python bench/run_bench_gpu.sh build
device=${BENCH_DEVICE:-cuda}
image=${BENCH_IMAGE:-256}; patch=${BENCH_PATCH:-16}; channels=${BENCH_CHANNELS:-3}
if [ ! -f "$ref" ]; then
  echo "run_bench_gpu: reference program not found; set LDAE_BENCH_REF=/path/to/ref_dit_train.py" >&2
  exit 2
fi
if [ "$device" = cpu ]; then
  name=cpu; ref_flags="--bf16 --sdpa"
elif ! name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1) || [ -z "$name" ]; then
  echo "run_bench_gpu: nvidia-smi finds no GPU" >&2
  exit 2
else
  ref_flags="--bf16 --sdpa --fused-adam"
fi
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | tail -1; }
echo "device: $name; $(date -u +%Y-%m-%dT%H:%MZ); $steps timed steps after 5 warm-up steps; peer flags $ref_flags"
printf '%-8s %-8s %5s %12s %7s %12s %7s %6s\n' shape peer batch harness_img/s mfu peer_img/s peer_mfu ratio
shapes=()
for n in ${BENCH_SHAPES:-l-DAE DiT-B}; do   # "check": a small model to rehearse the script on a CPU
  case $n in
    l-DAE) shapes+=("l-DAE:--width 1024 --depth 24 --heads 16") ;;
    DiT-B) shapes+=("DiT-B:--width 768 --depth 12 --heads 12") ;;
    check) shapes+=("check:--width 64 --depth 2 --heads 2") ;;
    *) echo "run_bench_gpu: unknown shape '$n' (l-DAE DiT-B check)" >&2; exit 2 ;;
  esac
done
declare -A harness tflops peak
row() {  # row LABEL ARGS BATCH PEER-NAME PEER-EXTRA-FLAGS
  local label=$1 args=$2 b=$3 peer=$4 extra=$5 key="$1/$3"
  local common="$args --image $image --patch $patch --channels $channels --batch $b --steps $steps --warmup 5"
  if [ -z "${harness[$key]:-}" ]; then
    local h
    h=$("$build/bench_train" $common --device "$device" --bf16 --device-name "$name")
    harness[$key]=$(echo "$h" | field images_per_s)
    tflops[$key]=$(echo "$h" | field model_tflops); peak[$key]=$(echo "$h" | field peak_tflops)
  fi
  local r ri
  r=$("$py" "$ref" $common --device "$device" $ref_flags $extra 2> /dev/null) || r=""
  ri=$(echo "$r" | field images_per_s)
  awk -v s="$label" -v p="$peer" -v b="$b" -v hi="${harness[$key]}" -v ri="${ri:-0}" -v tf="${tflops[$key]}" \
      -v pk="${peak[$key]:-0}" 'BEGIN {
    # MFU of both sides from the same FLOP count; n/a without a known peak.
    hm = pk > 0 ? sprintf("%.3f", tf / pk) : "n/a"
    rm = pk > 0 && hi > 0 && ri > 0 ? sprintf("%.3f", ri * tf / hi / pk) : "n/a"
    ratio = ri > 0 ? sprintf("%.2f", hi / ri) : "n/a"
    printf "%-8s %-8s %5d %12.1f %7s %12.1f %7s %6s\n", s, p, b, hi, hm, ri, rm, ratio }'
}
for shape in "${shapes[@]}"; do
  for b in $batches; do row "${shape%%:*}" "${shape#*:}" "$b" eager ""; done
done
for shape in "${shapes[@]}"; do
  for b in $compile_batches; do row "${shape%%:*}" "${shape#*:}" "$b" compiled "--compile"; done
done
