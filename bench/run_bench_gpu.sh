#!/usr/bin/env bash
# make bench-gpu: the harness's bf16 training step on the GPU against the
# plain PyTorch program (../shared/bench/ref_dit_train.py --device cuda --bf16
# --sdpa --fused-adam, eager and under torch.compile) on the same card, at the
# paper's l-DAE backbone (256 tokens of 16x16x3 pixels, width 1024, 24
# blocks: DiT-L's shape) and DiT-B (width 768, 12 blocks), batches 64..256.
# One line per shape and batch: the harness's step as a run takes it with
# train.fused_adamw and train.cuda_graph (images/s, model FLOPs utilisation:
# bench/flops.hpp's 6 x multiply-adds incl. attention over the dense bf16
# peak of the GPU the driver names), the harness's eager step (the frontend's
# AdamW, no graph), the step as runs take it with train.fused_kernels too
# (h_fused: core/nn/adaln_fused's CUDA kernels), the peer eager and compiled,
# and the ratios (of the first column). Lines come
# in order of value (each shape at the largest batch first), so a time cap
# (tools/gpu_session.sh) cuts the least useful ones.
#   run_bench_gpu.sh BUILD_DIR    (BENCH_STEPS, BENCH_BATCHES, BENCH_SHAPES, BENCH_COMPILE=0, PYTHON)
set -euo pipefail
build=${1:-build-gpu}
here=$(cd "$(dirname "$0")" && pwd)
ref=${LDAE_BENCH_REF:-$here/../../shared/bench/ref_dit_train.py}
[ -f "$ref" ] || ref=$here/../.deps/ref_dit_train.py   # the copy make gpu-debs carries
py=${PYTHON:-python3}
steps=${BENCH_STEPS:-20}
batches=${BENCH_BATCHES:-64 128 256}
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
printf '%-6s %5s %10s %6s %10s %10s %10s %6s %10s %6s %6s\n' shape batch harness mfu h_eager h_fused peer_eager \
  ratio peer_comp ratio graph
shapes=()
for n in ${BENCH_SHAPES:-l-DAE DiT-B}; do   # "check": a small model to rehearse the script on a CPU
  case $n in
    l-DAE) shapes+=("l-DAE:--width 1024 --depth 24 --heads 16") ;;
    DiT-B) shapes+=("DiT-B:--width 768 --depth 12 --heads 12") ;;
    check) shapes+=("check:--width 64 --depth 2 --heads 2") ;;
    *) echo "run_bench_gpu: unknown shape '$n' (l-DAE DiT-B check)" >&2; exit 2 ;;
  esac
done
peer() {  # peer COMMON EXTRA: the reference program's images/s, 0 if it failed
  local r
  r=$("$py" "$ref" $1 --device "$device" $ref_flags $2 2> /dev/null) || r=""
  echo "$r" | field images_per_s | grep . || echo 0
}
row() {  # row LABEL ARGS BATCH
  local label=$1 args=$2 b=$3
  local common="$args --image $image --patch $patch --channels $channels --batch $b --steps $steps --warmup 5"
  local h he hf pe pc=0 hi tf pk rep
  # A harness run that fails (e.g. out of memory) gives a line of zeros and
  # its error on stderr; the next lines still run.
  h=$("$build/bench_train" $common --device "$device" --bf16 --cuda-graph --device-name "$name") || h=""
  hi=$(echo "$h" | field images_per_s); tf=$(echo "$h" | field model_tflops); pk=$(echo "$h" | field peak_tflops)
  rep=$(echo "$h" | field cuda_graph)
  he=$({ "$build/bench_train" $common --device "$device" --bf16 --device-name "$name" || true; } | field images_per_s)
  hf=$({ "$build/bench_train" $common --device "$device" --bf16 --cuda-graph --fused-kernels \
         --device-name "$name" || true; } | field images_per_s)
  pe=$(peer "$common" "")
  [ "${BENCH_COMPILE:-1}" = 1 ] && pc=$(peer "$common" --compile)
  awk -v s="$label" -v b="$b" -v hi="${hi:-0}" -v he="${he:-0}" -v hf="${hf:-0}" -v pe="$pe" -v pc="$pc" -v tf="${tf:-0}" -v pk="${pk:-0}" \
      -v rep="${rep:-0}" 'BEGIN {
    # MFU from the same FLOP count on both sides; n/a without a known peak.
    hm = pk > 0 ? sprintf("%.3f", tf / pk) : "n/a"
    re = pe > 0 ? sprintf("%.2f", hi / pe) : "n/a"
    rc = pc > 0 ? sprintf("%.2f", hi / pc) : "n/a"
    printf "%-6s %5d %10.1f %6s %10.1f %10.1f %10.1f %6s %10.1f %6s %6s\n", s, b, hi, hm, he, hf, pe, re, pc, rc, rep ? "yes" : "no" }'
}
sorted=$(for b in $batches; do echo "$b"; done | sort -rn)
for b in $sorted; do
  for shape in "${shapes[@]}"; do row "${shape%%:*}" "${shape#*:}" "$b"; done
done
