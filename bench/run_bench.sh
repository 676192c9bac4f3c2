#!/usr/bin/env bash
# make bench: the harness against PyTorch 2.11 on the same machine, same
# threads, alternated, each side's best of BENCH_REPS runs.
#  1. The training step at fixed shapes (bench_train vs ../shared/bench/
#     ref_dit_train.py, fused attention), eager and torch.compile (inductor),
#     fp32 and bf16 autocast:
#       quickstart  32x32x1, patch 8 (16 tokens), width 128, depth 8, batch 128
#       tiny        32x32x1, patch 4 (64 tokens), width 128, depth 8, batch 128
#       DiT-S/4     32x32x1, patch 4 (64 tokens), width 384, depth 12, batch 64
#  2. The loop a run really executes (data, patch-PCA tokens, noise,
#     image-space objective, DiT, AdamW): bench_train --sweep on
#     experiments/recipe_check.toml row 2 vs bench/ldae_plain.py's training
#     loop at the same settings (bf16, batch 128, 16 tokens).
#  3. The patch-PCA fit time for 100k patches.
#  4. Image-folder preparation on 1 thread and on every core (below).
#  5. MAE's fine-tuning augmentation against timm + Pillow (below).
#  6. Fine-tuning with that augmentation, its batches made ahead on a second
#     thread against made inline (below).
#  7. Random resized crops cut from whole images (data.whole_images) against
#     torchvision + Pillow (below).
# One line per shape, precision and peer, with harness / peer: the ratio of
# each side's best run, and the median and range of the reps' paired ratios.
# Each shape's harness line is given twice: as runs take it by default, and
# with train.fused_kernels (bench_train --fused-kernels: core/nn/gelu_tanh).
#   bench/run_bench.sh BUILD_DIR      (BENCH_THREADS, BENCH_STEPS, BENCH_REPS, BENCH_SHAPES, BENCH_PRECISIONS)
set -euo pipefail
set -f   # the settings are words, not file patterns: BENCH_SHAPES="*" is an unknown shape
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
ref=${LDAE_BENCH_REF:-$here/../../shared/bench/ref_dit_train.py}
py=${PYTHON:-${LDAE_VENV:-$HOME/.cache/ldae/torch-2.11.0}/bin/python}
threads=${BENCH_THREADS:-$(nproc)}
steps=${BENCH_STEPS:-20}
reps=${BENCH_REPS:-3}   # a 2-core VM's neighbours move single timings by ~10%: 3 paired reps give a median
shapes=${BENCH_SHAPES:-quickstart tiny DiT-S/4}
# Every setting checked before the first timing (a typo found now, not
# after many minutes of benchmarking), each failure one line and exit 2.
bad() { echo "run_bench: $*" >&2; exit 2; }
for pair in THREADS:"$threads" STEPS:"$steps" REPS:"$reps"; do
  v=${pair#*:}
  case $v in '' | *[!0-9]* | 0*) bad "BENCH_${pair%%:*} = '$v': expected a positive whole number" ;; esac
done
for name in $shapes; do
  case $name in quickstart | tiny | DiT-S/4) ;; *) bad "BENCH_SHAPES: unknown shape '$name' (quickstart tiny DiT-S/4)" ;; esac
done
for prec in ${BENCH_PRECISIONS:-fp32 bf16}; do
  case $prec in fp32 | bf16) ;; *) bad "BENCH_PRECISIONS: unknown precision '$prec' (fp32 bf16)" ;; esac
done
for tool in bench_train make_image_folder bench_prepare bench_augment bench_finetune_input bench_crops; do
  [ -x "$build/$tool" ] || bad "$build/$tool not found: build first (make build), or give the build folder: bench/run_bench.sh BUILD_DIR"
done
if [ ! -f "$ref" ]; then
  echo "run_bench: reference program not found at $ref; set LDAE_BENCH_REF=/path/to/ref_dit_train.py" >&2
  exit 2
fi
if ! "$py" -c 'import torch' 2> /dev/null; then
  echo "run_bench: $py cannot import torch; run 'make deps' (or set PYTHON)" >&2
  exit 2
fi
rate() { sed -n 's/.*images_per_s=\([0-9.]*\).*/\1/p' | tail -1; }
best() { printf '%s\n%s\n' "$1" "$2" | sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The ratios of the runs made one after the other (rep by rep), as "median
# (min-max)": a VM's speed drifts by ~10% over minutes, so a ratio of two
# best-of runs made minutes apart can move by as much; the paired ones show
# how far each rep's ratio moved.
paired() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; ++i) r[i] = x[i] / y[i]
    for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
    med = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    printf "paired %.2f (%.2f-%.2f, %d reps)", med, r[1], r[n], n }'
}
echo "threads=$threads steps=$steps best of $reps; $("$py" -c 'import torch; print("torch", torch.__version__, "cpu", torch.backends.cpu.get_cpu_capability())'); host=$(hostname) $(date -u +%Y-%m-%dT%H:%MZ)"
shape_args() {
  case $1 in
    quickstart) echo "--width 128 --depth 8 --heads 4 --batch 128 --patch 8" ;;
    tiny) echo "--width 128 --depth 8 --heads 4 --batch 128 --patch 4" ;;
    DiT-S/4) echo "--width 384 --depth 12 --heads 6 --batch 64 --patch 4" ;;
    *) echo "run_bench: unknown shape '$1' (quickstart tiny DiT-S/4)" >&2; exit 2 ;;
  esac
}
for prec in ${BENCH_PRECISIONS:-fp32 bf16}; do
  flag=""; [ "$prec" = bf16 ] && flag="--bf16"
  for name in $shapes; do
    n=$steps; [ "$name" = DiT-S/4 ] && n=$(( (steps + 2) / 3 ))   # ~2-4 s a step here
    common="$(shape_args "$name") --image 32 --steps $n --threads $threads $flag"
    h=0; f=0; e=0; c=0; hs=""; fs=""; es=""; cs=""
    for _ in $(seq "$reps"); do
      hr=$("$build/bench_train" $common | rate)
      fr=$("$build/bench_train" $common --fused-kernels | rate)
      er=$("$py" "$ref" $common --channels 1 --sdpa | rate)
      # Compilation happens in the warm-up steps (not timed); inductor's
      # cache makes the second repetition start faster.
      cr=$("$py" "$ref" $common --channels 1 --sdpa --compile --warmup 3 2> /dev/null | rate)
      h=$(best "$h" "$hr"); f=$(best "$f" "$fr"); e=$(best "$e" "$er"); c=$(best "$c" "$cr")
      hs="$hs $hr"; fs="$fs $fr"; es="$es $er"; cs="$cs $cr"
    done
    echo "bench $name $prec vs eager:    harness $h img/s, PyTorch eager $e img/s, ratio $(ratio "$h" "$e"); $(paired "$hs" "$es")"
    echo "bench $name $prec vs compiled: harness $h img/s, PyTorch compiled $c img/s, ratio $(ratio "$h" "$c"); $(paired "$hs" "$cs")"
    echo "bench $name $prec fused_kernels vs eager:    harness $f img/s, PyTorch eager $e img/s, ratio $(ratio "$f" "$e"); $(paired "$fs" "$es")"
    echo "bench $name $prec fused_kernels vs compiled: harness $f img/s, PyTorch compiled $c img/s, ratio $(ratio "$f" "$c"); $(paired "$fs" "$cs")"
  done
done
# The run's own loop: warm-up steps absorb the first allocations; the peer
# times its steps 20.. of 20 + n.
n=$(( steps * 2 ))
h=0; p=0; hs=""; ps=""
for _ in $(seq "$reps"); do
  hr=$("$build/bench_train" --sweep "$here/../experiments/recipe_check.toml" --profile tiny --row 2 \
                   --steps "$n" --warmup 5 --threads "$threads" | rate)
  pr=$("$py" "$here/ldae_plain.py" --train-only --steps $(( n + 20 )) --threads "$threads" | rate)
  h=$(best "$h" "$hr"); p=$(best "$p" "$pr"); hs="$hs $hr"; ps="$ps $pr"
done
echo "bench run-loop bf16 vs plain:  harness $h img/s, ldae_plain.py $p img/s, ratio $(ratio "$h" "$p"); $(paired "$hs" "$ps")"
"$build/bench_train" --pca 100000 --threads "$threads"
# 4. Data preparation: a synthetic ImageNet-style folder (BENCH_PREP_IMAGES
#    JPEGs of 160-500 px) into the prepared-data store at 256 px, on 1 thread
#    and on every core, beside what a GPU step consumes (596 images/s per
#    H200 at the paper's l-DAE shape, batch 256; docs/benchmarks.md).
prep=$(mktemp -d)
"$build/make_image_folder" "$prep/folder" --images "${BENCH_PREP_IMAGES:-1000}" --classes 10 > /dev/null
"$build/bench_prepare" "$prep/folder" --resolution 256 --threads "$threads" |
  awk '/^bench prepare.*speed-up/ { print $0 "; one H200 step eats 596 img/s" }
       /^bench prepare.*(jpeg_draft|resize)/ { print $0 }
       /^bench loader/ { per = $(NF - 3); print $0 "; 8 H200s eat 4768 img/s: " int(4768 / per + 0.999) " cores feed them" }'
# data.resize = "dit" against DiT's own loader doing the same to each file
# (bench/center_crop_peer.py), 1 thread and every core, alternated; the
# harness's side also writes the store.
for t in 1 "$threads"; do
  a=""; p=""; as=""; ps=""
  for _ in $(seq "$reps"); do
    ar=$("$build/bench_prepare" "$prep/folder" --resolution 256 --threads "$t" --only-dit | rate)
    pr=$("$py" "$here/center_crop_peer.py" "$prep/folder" --threads "$t" | rate)
    a=$(best "$a" "$ar"); p=$(best "$p" "$pr"); as="$as $ar"; ps="$ps $pr"
  done
  echo "bench prepare dit 256 px on $t threads vs DiT's loader: harness $a img/s, Pillow $p img/s, ratio $(ratio "$a" "$p"); $(paired "$as" "$ps")"
done
rm -rf "$prep"
# 5. MAE's fine-tuning augmentation (RandAugment rand-m9-mstd0.5-inc1 and
#    random erasing 0.25) on 256 random 224-px images: bench_augment against
#    timm + Pillow (bench/augment_peer.py, a process pool of as many workers
#    as threads, as DataLoader's), on 1 thread and on every core.
for t in 1 "$threads"; do
  a=""; p=""; as=""; ps=""
  for _ in $(seq "$reps"); do
    ar=$("$build/bench_augment" --threads "$t" | rate)
    pr=$("$py" "$here/augment_peer.py" --threads "$t" | rate)
    a=$(best "$a" "$ar"); p=$(best "$p" "$pr"); as="$as $ar"; ps="$ps $pr"
  done
  echo "bench augment 224 px on $t threads vs timm: harness $a img/s, timm + Pillow $p img/s, ratio $(ratio "$a" "$p"); $(paired "$as" "$ps")"
done
# 6. Fine-tuning with that augmentation (a small DiT on 64 random 224-px
#    images a step, one intra-op thread): its batches made ahead on a second
#    thread (probes/finetune_batches.hpp, as a GPU run makes them) against
#    made inline; the same batches either way.
a=""; p=""; as=""; ps=""
for _ in $(seq "$reps"); do
  ar=$("$build/bench_finetune_input" --ahead 2 --threads 1 2> /dev/null | rate)
  pr=$("$build/bench_finetune_input" --ahead 0 --threads 1 2> /dev/null | rate)
  a=$(best "$a" "$ar"); p=$(best "$p" "$pr"); as="$as $ar"; ps="$ps $pr"
done
echo "bench finetune input 224 px, 1 step thread: ahead $a img/s, inline $p img/s, ratio $(ratio "$a" "$p"); $(paired "$as" "$ps")"
# 7. Random resized crops (scale 0.08-1, bicubic, flip) cut from whole images
#    at 256 px (data.whole_images): bench_crops reading a whole-image store of
#    a synthetic folder (BENCH_PREP_IMAGES JPEGs of 160-500 px) against
#    torchvision's RandomResizedCrop on the same images held as PIL images
#    (bench/crop_peer.py, a process pool as DataLoader's workers), on 1
#    thread and on every core.
crops=$(mktemp -d)
"$build/make_image_folder" "$crops/folder" --images "${BENCH_PREP_IMAGES:-1000}" --classes 10 > /dev/null
for t in 1 "$threads"; do
  a=""; p=""; as=""; ps=""
  for _ in $(seq "$reps"); do
    ar=$("$build/bench_crops" "$crops/folder" --threads "$t" 2> /dev/null | rate)
    pr=$("$py" "$here/crop_peer.py" "$crops/folder" --threads "$t" | rate)
    a=$(best "$a" "$ar"); p=$(best "$p" "$pr"); as="$as $ar"; ps="$ps $pr"
  done
  echo "bench crops 256 px on $t threads vs torchvision: harness $a img/s, torchvision + Pillow $p img/s, ratio $(ratio "$a" "$p"); $(paired "$as" "$ps")"
done
# The same from the files (data.crops_from = "files"): each crop decodes its
# JPEG first, against torchvision's ImageFolder loader + the same transforms.
a=""; p=""; as=""; ps=""
for _ in $(seq "$reps"); do
  ar=$("$build/bench_crops" "$crops/folder" --threads "$threads" --from files 2> /dev/null | rate)
  pr=$("$py" "$here/crop_peer.py" "$crops/folder" --threads "$threads" --from files | rate)
  a=$(best "$a" "$ar"); p=$(best "$p" "$pr"); as="$as $ar"; ps="$ps $pr"
done
echo "bench crops 256 px from the files on $threads threads vs torchvision: harness $a img/s, torchvision + Pillow $p img/s, ratio $(ratio "$a" "$p"); $(paired "$as" "$ps")"
rm -rf "$crops"
