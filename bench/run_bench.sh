#!/usr/bin/env bash
# make bench: the harness's training step against the plain PyTorch peer
# (../shared/bench/ref_dit_train.py, run by Debian's /usr/bin/python3 with
# python3-torch) at the same shape, batch and threads; fp32 then bf16
# autocast; then the patch-PCA fit time for 100k patches.
set -euo pipefail
build=${1:-build}
ref=${LDAE_BENCH_REF:-$(dirname "$0")/../../shared/bench/ref_dit_train.py}
threads=${BENCH_THREADS:-$(nproc)}
steps=${BENCH_STEPS:-20}
reps=${BENCH_REPS:-2}   # alternate harness / reference, keep each side's best:
                        # a 2-core VM's neighbours move single timings by ~10%
if [ ! -f "$ref" ]; then
  echo "run_bench: reference program not found at $ref; set LDAE_BENCH_REF=/path/to/ref_dit_train.py" >&2
  exit 2
fi
py=/usr/bin/python3   # Debian's interpreter: the one that sees python3-torch
rate() { sed -n 's/.*images_per_s=\([0-9.]*\).*/\1/p'; }
echo "threads=$threads steps=$steps best of $reps host=$(hostname) $(date -u +%Y-%m-%dT%H:%MZ)"
for prec in fp32 bf16; do
  flag=""; [ "$prec" = bf16 ] && flag="--bf16"
  for shape in "tiny:--width 128 --depth 8 --heads 4 --batch 128" \
               "DiT-S/4:--width 384 --depth 12 --heads 6 --batch 64"; do
    name=${shape%%:*}; args=${shape#*:}
    n=$steps; [ "$name" = DiT-S/4 ] && n=$(( (steps + 1) / 2 ))   # ~4 s per step here
    common="$args --patch 4 --image 32 --steps $n --threads $threads $flag"
    h=0; r=0
    for _ in $(seq "$reps"); do
      h=$(printf '%s\n%s\n' "$h" "$("$build/bench_train" $common | rate)" | sort -g | tail -1)
      r=$(printf '%s\n%s\n' "$r" "$($py "$ref" $common --channels 1 | rate)" | sort -g | tail -1)
    done
    ratio=$(awk -v a="$h" -v b="$r" 'BEGIN { printf "%.2f", a / b }')
    echo "bench $name $prec: harness $h img/s, reference $r img/s, ratio $ratio"
  done
done
"$build/bench_train" --pca 100000 --threads "$threads"
