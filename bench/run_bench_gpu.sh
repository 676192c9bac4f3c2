#!/usr/bin/env bash
# make bench-gpu: the harness's bf16 training step on the GPU against the
# plain PyTorch program (../shared/bench/ref_dit_train.py --device cuda
# --bf16 --sdpa) at the same shapes: the paper's l-DAE backbone (256 tokens
# of 16x16x3 pixels, width 1024, 24 blocks) and DiT-B (width 768, 12
# blocks), batches 64..256. Prints images/s and model FLOPs utilisation
# (bench/flops.hpp: 6 x multiply-adds incl. attention, over the dense bf16
# peak of the GPU the driver names).   run_bench_gpu.sh BUILD_DIR
set -euo pipefail
build=${1:-build-gpu}
ref=${LDAE_BENCH_REF:-$(dirname "$0")/../../shared/bench/ref_dit_train.py}
[ -f "$ref" ] || ref=$(dirname "$0")/../.deps/ref_dit_train.py   # the copy make gpu-debs carries
py=${PYTHON:-python3}
steps=${BENCH_STEPS:-20}
batches=${BENCH_BATCHES:-64 128 256}
# Overrides check the script itself on a CPU machine, e.g.
#   BENCH_DEVICE=cpu BENCH_IMAGE=32 BENCH_PATCH=4 BENCH_CHANNELS=1 BENCH_BATCHES=16 \
#   BENCH_STEPS=2 BENCH_REF_FLAGS=--bf16 PYTHON=/usr/bin/python3 bench/run_bench_gpu.sh build
# (Debian's PyTorch 1.13 has no fused attention, hence no --sdpa there)
device=${BENCH_DEVICE:-cuda}
image=${BENCH_IMAGE:-256}; patch=${BENCH_PATCH:-16}; channels=${BENCH_CHANNELS:-3}
if [ ! -f "$ref" ]; then
  echo "run_bench_gpu: reference program not found; set LDAE_BENCH_REF=/path/to/ref_dit_train.py" >&2
  exit 2
fi
if [ "$device" = cpu ]; then
  name=cpu
elif ! name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1) || [ -z "$name" ]; then
  echo "run_bench_gpu: nvidia-smi finds no GPU" >&2
  exit 2
fi
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
echo "device: $name; $(date -u +%Y-%m-%dT%H:%MZ); steps $steps after 5 warm-up steps"
printf '%-8s %5s %12s %7s %12s %7s %6s\n' shape batch harness_img/s mfu ref_img/s ref_mfu ratio
for shape in "l-DAE:--width 1024 --depth 24 --heads 16" "DiT-B:--width 768 --depth 12 --heads 12"; do
  label=${shape%%:*}; args=${shape#*:}
  for b in $batches; do
    common="$args --image $image --patch $patch --channels $channels --batch $b --steps $steps --warmup 5"
    h=$("$build/bench_train" $common --device "$device" --bf16 --device-name "$name")
    r=$("$py" "$ref" $common --device "$device" ${BENCH_REF_FLAGS:---bf16 --sdpa})
    hi=$(echo "$h" | field images_per_s)
    tf=$(echo "$h" | field model_tflops); pk=$(echo "$h" | field peak_tflops)
    ri=$(echo "$r" | field images_per_s)
    awk -v s="$label" -v b="$b" -v hi="$hi" -v ri="$ri" -v tf="$tf" -v pk="$pk" 'BEGIN {
      # MFU of both sides from the same FLOP count; n/a without a known peak.
      hm = pk > 0 ? sprintf("%.3f", tf / pk) : "n/a"
      rm = pk > 0 && hi > 0 ? sprintf("%.3f", ri * tf / hi / pk) : "n/a"
      printf "%-8s %5d %12.1f %7s %12.1f %7s %6.2f\n", s, b, hi, hm, ri, rm, hi / ri }'
  done
done
