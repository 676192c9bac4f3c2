#!/bin/sh
# Kept derived data a run reads instead of computing it (FID's reference in
# results/fid_reference/, core/run/evaluate.cpp; the fitted tokenizer in
# tokenizers/, core/run/pretrain.cpp; the harness classifier in
# classifiers/, core/nn/feature_net.cpp; a trained model in models/,
# core/run/pretrain.cpp): a damaged file is named, not used, computed again
# and replaced, and the run finishes. A kept FID reference scores as a fresh
# one, and a model trained again as the first, digit for digit.
#   damaged_caches.sh RUN_SWEEP SWEEP_FILE (tests/e2e/generation.toml)
set -eu
run_sweep=$1; sweep=$2; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fid() { sed -n 's/.*"eval_fid": *\([0-9.e+-]*\).*/\1/p' "$1"; }
"$run_sweep" "$sweep" --results "$d/a" --threads 1 --only 1 > "$d/a.txt" 2>&1
"$run_sweep" "$sweep" --results "$d/a" --threads 1 --only 1 --set train.epochs=3 > "$d/b.txt" 2>&1
id=$("$run_sweep" "$sweep" --results "$d/a" --only 1 --set train.epochs=3 --dry-run 2> /dev/null | awk '$1 == "row" {print $5; exit}')
want=$(fid "$d/a/runs/$id/run.json")
for f in "$d"/a/fid_reference/*.h5 "$d"/a/tokenizers/*.h5 "$d"/a/classifiers/*.h5 "$d"/a/models/*.pt; do
  head -c 3000 /dev/urandom > "$f"  # not HDF5
done
"$run_sweep" "$sweep" --results "$d/a" --threads 1 --only 1 --set train.epochs=4 > "$d/c.txt" 2>&1 ||
  { cat "$d/c.txt"; echo "a damaged reference failed the run"; exit 1; }
for what in "FID reference .* not used (.*not an HDF5 file): computed again" "tokenizer .* not used (.*): fitted again" \
            "classifier .* not used (.*): trained again"; do
  grep -q "$what" "$d"/a/runs/*/log.txt || { echo "no log line: $what"; exit 1; }
done
# retrained WHAT LOG_LINE WANT_FID SET...: run row 1 with the --set values
# SET (sharing a kept model made unusable), check it succeeds, logs
# LOG_LINE, and samples WANT_FID: trained again from the same
# initialization, the model is the first one.
retrained() {
  what=$1; line=$2; want_fid=$3; shift 3
  sets=""; for s in "$@"; do sets="$sets --set $s"; done
  # shellcheck disable=SC2086
  "$run_sweep" "$sweep" --results "$d/a" --threads 1 --only 1 $sets > "$d/r.txt" 2>&1 ||
    { cat "$d/r.txt"; echo "$what failed the run"; exit 1; }
  # shellcheck disable=SC2086
  rid=$("$run_sweep" "$sweep" --results "$d/a" --only 1 $sets --dry-run 2> /dev/null | awk '$1 == "row" {print $5; exit}')
  grep -q "$line" "$d/a/runs/$rid/log.txt" || { cat "$d/a/runs/$rid/log.txt"; echo "$what was used"; exit 1; }
  [ "$(fid "$d/a/runs/$rid/run.json")" = "$want_fid" ] ||
    { echo "$what: FID of the model trained again differs from the first training's ($want_fid)"; exit 1; }
}
# A probe-only change shares the epochs=3 run's trained model, now damaged.
retrained "a damaged trained model" "trained model .* not used (.*): trained again" "$want" \
  train.epochs=3 probe.epochs=3
# A readable model of another config (the epochs=4 run's) copied over the
# first run's: told apart by the config it records.
first=$("$run_sweep" "$sweep" --results "$d/a" --only 1 --dry-run 2> /dev/null | awk '$1 == "row" {print $5; exit}')
m1=$(grep -ho 'models/[0-9a-f]*\.pt' "$d/a/runs/$first/log.txt" | head -1)
m4=$(grep -ho 'models/[0-9a-f]*\.pt' "$d/c.txt" "$d"/a/runs/*/log.txt | grep -v "$m1" | head -1)
[ -n "$m1" ] && [ -n "$m4" ] || { echo "no model files named in the logs ($m1, $m4)"; exit 1; }
cp "$d/a/$m4" "$d/a/$m1"
retrained "another config's model" "trained model .* not used (the trained model of another config" \
  "$(fid "$d/a/runs/$first/run.json")" probe.epochs=4
# Flipped bits inside a tensor of the model trained again (LibTorch's zip
# reader checks no CRC): told apart by the digest kept with it.
python3 - "$d/a/$m1" << 'PY'
import sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    info = max(z.infolist(), key=lambda i: i.file_size)  # the largest tensor's bytes, stored uncompressed
with open(path, "r+b") as f:
    f.seek(info.header_offset + 26)
    name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    f.seek(at); b = f.read(64); f.seek(at); f.write(bytes(x ^ 0x5A for x in b))
PY
retrained "a bit-flipped model" "trained model .* not used (damaged: its tensors' digest differs" \
  "$(fid "$d/a/runs/$first/run.json")" probe.epochs=5
# Flipped bits in what a reusing run reports: the budget, the archive's last
# tensor record (written after the model's tensors and the loss curve).
python3 - "$d/a/$m1" << 'PY'
import sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    data = [i for i in z.infolist() if "/data/" in i.filename and i.filename.rsplit("/", 1)[1].isdigit()]
    info = max(data, key=lambda i: int(i.filename.rsplit("/", 1)[1]))
    assert info.file_size == 24, (info.filename, info.file_size)  # 3 float64: images, FLOPs, seconds
with open(path, "r+b") as f:
    f.seek(info.header_offset + 26)
    name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    at = info.header_offset + 30 + name_len + extra_len + 16  # the seconds
    f.seek(at); b = f.read(8); f.seek(at); f.write(bytes(x ^ 0x5A for x in b))
PY
retrained "a model with a flipped budget" "trained model .* not used (damaged: its loss curve or budget differs" \
  "$(fid "$d/a/runs/$first/run.json")" probe.epochs=6
# The reference computed again is the one the first run kept: the epochs=3
# run scored again into a fresh folder gives the same FID as from the cache.
"$run_sweep" "$sweep" --results "$d/fresh" --threads 1 --only 1 --set train.epochs=3 > "$d/e.txt" 2>&1
got=$(fid "$d/fresh/runs/$id/run.json")
[ -n "$want" ] && [ "$want" = "$got" ] || { echo "FID from the kept reference $want, computed afresh $got"; exit 1; }
echo "ok: damaged caches are computed again; a kept FID reference and a model trained again score as fresh ones ($got)"
