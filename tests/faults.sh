#!/bin/bash
# Fault suite (issue 14), on the synthetic smoke sweep (a run takes ~0.5 s):
#  A. 8 concurrent run_sweep on one results root: all exit 0, each run trained once;
#     4 concurrent sweeps of runs sharing one model: the model trained once.
#  B. a truncated metrics.h5: --reindex keeps the other runs and the sweep, names
#     the bad folder (indexed "damaged"), exits 2; the next sweep reruns it alone.
#  C. the index write-locked by another process through a whole sweep: the
#     runs finish done (exit 0) and the next make_tables indexes them.
#  D. a full disk (a 3 MiB tmpfs when this may mount, else ulimit -f): exit 2
#     naming the path, no empty or temporary files, earlier runs intact;
#     past the file size limit (a checkpoint), exit 2 rather than an abort.
#  E. bad labels: exit 2 at load time naming the file, index and value.
#  F. SIGUSR1 / SIGTERM during the linear probe: recorded interrupted, requeued
#     (exit 0) or exit 130; the rerun reuses the finished pre-training.
#  G. a kill storm: 20 SIGKILLs during a 12-run sweep; no finished run lost or
#     redone, index intact, every record readable, the sweep completes.
#  H. run ids follow the data's content (a fingerprint), not its path.
#  I. a truncated image in an image folder: exit 2 naming it; data.skip_bad runs.
#  J. a read-only results root (a read-only bind mount when this may mount,
#     else a folder without write permission when not root): make_tables
#     prints the tables (exit 0) and changes nothing; run_sweep over its
#     finished plan exits 0, over a new run exits 2 naming the folder.
#   faults.sh BUILD_DIR SOURCE_DIR
set -u
build=$1; src=$2
rs=$build/run_sweep; mt=$build/make_tables
d=$(mktemp -d); trap 'umount "$d/full" "$d/ro" 2> /dev/null; chmod -R u+w "$d" 2> /dev/null; rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
sed 's/^seeds = \[0, 1\]/seeds = [0, 1, 2, 3, 4, 5]/' "$src/tests/e2e/synthetic.toml" > "$d/sweep.toml"
grep -q 'seeds = \[0, 1, 2, 3, 4, 5\]' "$d/sweep.toml" || fail "could not widen the sweep"

echo "== A: 8 concurrent sweeps"
pids=()
for i in 1 2 3 4 5 6 7 8; do
  "$rs" "$d/sweep.toml" --results "$d/a" --threads 1 > "$d/a$i.txt" 2>&1 & pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || { cat "$d/a$((i + 1)).txt"; fail "process $((i + 1)) exit $?"; }; done
n=$(ls "$d/a/runs" | wc -l); [ "$n" -eq 12 ] || fail "12 run folders expected, found $n"
for r in "$d"/a/runs/*; do
  grep -q '"status": "done"' "$r/run.json" || fail "$r not done"
  starts=$(grep -cE "\] run [0-9a-f]{16} '" "$r/log.txt")
  [ "$starts" -eq 1 ] || fail "$r trained $starts times"
done
leftover=$(find "$d/a" -name '*.tmp*' | head -3); [ -z "$leftover" ] || fail "temporary files left: $leftover"
echo "ok: 8 processes exit 0, 12 runs each trained once"
# Runs of one trained model (a probe grid) in 4 processes at once: one
# trains it, the others come back to their runs and reuse it.
pids=()
for i in 1 2 3 4; do
  "$rs" "$src/tests/e2e/block_t.toml" --results "$d/m" --threads 1 > "$d/m$i.txt" 2>&1 & pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || { cat "$d/m$((i + 1)).txt"; fail "process $((i + 1)) exit $?"; }; done
n=$(grep -l '"status": "done"' "$d"/m/runs/*/run.json | wc -l); [ "$n" -eq 6 ] || fail "6 done runs expected, found $n"
kept=$(cat "$d"/m/runs/*/log.txt | grep -c "trained model kept in")
[ "$kept" -eq 1 ] || { cat "$d"/m?.txt; fail "the shared model was trained $kept times"; }
echo "ok: 4 processes over 6 runs sharing a model: trained once"
# A run stopped while training a model others share (the grid's last point):
# the rerun resumes that training in it, not a new one in the first row.
long="--set train.epochs=20 --set train.checkpoint_every=20"  # 160 steps: killed at its first checkpoint
last=$("$rs" "$src/tests/e2e/block_t.toml" --results "$d/k" $long --dry-run 2> /dev/null | awk '$1 == "row" {id = $5} END {print id}')
"$rs" "$src/tests/e2e/block_t.toml" --results "$d/k" --threads 1 $long --run-id "$last" > "$d/k1.txt" 2>&1 & pid=$!
for _ in $(seq 1 600); do [ -f "$d/k/runs/$last/ckpt/last.pt" ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && [ -f "$d/k/runs/$last/ckpt/last.pt" ] || { cat "$d/k1.txt"; fail "no checkpoint of the stopped run (exit $rc)"; }
"$rs" "$src/tests/e2e/block_t.toml" --results "$d/k" --threads 1 $long > "$d/k2.txt" 2>&1 || { cat "$d/k2.txt"; fail "rerun failed"; }
grep -q "resumed from" "$d/k/runs/$last/log.txt" || { cat "$d/k/runs/$last/log.txt"; fail "the interrupted training was not resumed"; }
[ "$(cat "$d"/k/runs/*/log.txt | grep -c "trained model kept in")" -eq 1 ] || fail "the shared model was trained twice"
echo "ok: an interrupted training of a shared model resumes in its run"

echo "== B: a truncated metrics.h5, then --reindex"
bad=$(ls -d "$d"/a/runs/* | head -1)
truncate -s 100 "$bad/metrics.h5"
"$rs" --reindex --results "$d/a" > "$d/b.txt" 2>&1; rc=$?
cat "$d/b.txt"
[ $rc -eq 2 ] || fail "--reindex exit $rc, expected 2"
grep -q "$(basename "$bad"): metrics.h5 is 100 bytes, not the" "$d/b.txt" || fail "the bad folder is not named"
[ "$(sqlite3 "$d/a/results.db" "SELECT count(*) FROM runs WHERE status = 'done'")" -eq 11 ] || fail "11 done runs expected in the index"
[ "$(sqlite3 "$d/a/results.db" "SELECT count(*) FROM runs WHERE status = 'damaged'")" -eq 1 ] || fail "the damaged run is not indexed as damaged"
[ "$(sqlite3 "$d/a/results.db" 'SELECT count(*) FROM sweep_rows')" -eq 12 ] || fail "the sweep's 12 rows expected"
# The damaged run is listed as such and rerun; the sweep goes on.
"$rs" "$d/sweep.toml" --results "$d/a" --dry-run > "$d/b2.txt" 2>&1 || { cat "$d/b2.txt"; fail "--dry-run over a damaged run"; }
grep -q ' damaged ' "$d/b2.txt" || fail "the truncated run is not listed damaged"
"$rs" "$d/sweep.toml" --results "$d/a" --threads 1 > "$d/b3.txt" 2>&1 || { cat "$d/b3.txt"; fail "the sweep stopped at a damaged run"; }
grep -q 'damaged record' "$d/b3.txt" && [ "$(grep -c 'done earlier' "$d/b3.txt")" -eq 11 ] || fail "the damaged run was not rerun alone"
echo "ok: 11 runs and the sweep indexed, the bad folder named; then listed damaged and rerun"

echo "== C: the index locked through a whole sweep"
mkdir -p "$d/c"
"$rs" --reindex --results "$d/c" > /dev/null || fail "empty reindex"
(echo "BEGIN IMMEDIATE;"; sleep 12; echo "COMMIT;") | sqlite3 "$d/c/results.db" & holder=$!
sleep 1
LDAE_INDEX_BUSY_MS=200 "$rs" "$src/tests/e2e/synthetic.toml" --results "$d/c" --threads 1 > "$d/c.txt" 2>&1; rc=$?
[ $rc -eq 0 ] || { cat "$d/c.txt"; fail "sweep with a locked index exit $rc"; }
grep -q "index not updated" "$d/c.txt" || fail "no warning about the locked index"
[ "$(grep -l '"status": "done"' "$d"/c/runs/*/run.json | wc -l)" -eq 4 ] || fail "4 done runs expected"
wait $holder
"$mt" --results "$d/c" --format csv > "$d/c_tables.txt" 2>&1 || { cat "$d/c_tables.txt"; fail "make_tables after the lock"; }
[ "$(sqlite3 "$d/c/results.db" "SELECT count(*) FROM runs WHERE status = 'done'")" -eq 4 ] || fail "make_tables did not index the 4 runs"
grep -q '^2,"l-DAE",[0-9.]*,[0-9.]*,2,' "$d/c_tables.txt" || fail "the table lacks the l-DAE row over 2 seeds"
echo "ok: runs done under a locked index, indexed by the next make_tables"

echo "== D: a full disk"
mkdir -p "$d/full"
"$rs" "$src/tests/e2e/synthetic.toml" --results "$d/d0" --threads 1 > /dev/null 2>&1 || fail "the first sweep"
if mount -t tmpfs -o size=3m tmpfs "$d/full" 2> /dev/null; then how="3 MiB tmpfs"; limit=""; else how="ulimit -f 150"; limit=150; fi
cp -r "$d/d0/." "$d/full/"   # 4 finished runs (about 1.8 MB)
( [ -n "$limit" ] && ulimit -f "$limit"
  "$rs" "$src/tests/e2e/synthetic.toml" --results "$d/full" --threads 1 --set train.epochs=3 ) > "$d/d.txt" 2>&1; rc=$?
cat "$d/d.txt" | tail -3
[ $rc -eq 2 ] || fail "full disk ($how): exit $rc, expected 2"
grep -Eq "cannot write|not enough space" "$d/d.txt" || fail "no disk-space message"
empty=$(find "$d/full" \( -name run.json -o -name config.toml -o -name '*.h5' -o -name '*.pt' \) -size 0 | head -3)
[ -z "$empty" ] || fail "empty records: $empty"
leftover=$(find "$d/full" -name '*.tmp*' | head -3); [ -z "$leftover" ] || fail "temporary files left: $leftover"
"$rs" "$src/tests/e2e/synthetic.toml" --results "$d/full" --dry-run > "$d/d2.txt" 2>&1 || { cat "$d/d2.txt"; fail "--dry-run after a full disk"; }
[ "$(grep -c ' done ' "$d/d2.txt")" -eq 4 ] || fail "the 4 earlier runs are not intact"
echo "ok: full disk ($how) exits 2 with the path, nothing half-written, earlier runs intact"

echo "== D2: past the file size limit (ulimit -f 150): a checkpoint write fails cleanly"
( ulimit -f 150
  "$rs" "$src/tests/e2e/synthetic.toml" --results "$d/d0" --threads 1 --set train.epochs=3 ) > "$d/d3.txt" 2>&1; rc=$?
tail -1 "$d/d3.txt"
[ $rc -eq 2 ] || fail "file size limit: exit $rc, expected 2 (134 = LibTorch's writer aborted)"
grep -q "File too large" "$d/d3.txt" || fail "no file-size message"
leftover=$(find "$d/d0" -name '*.tmp*' | head -3); [ -z "$leftover" ] || fail "temporary files left: $leftover"
# The failed run's record keeps the message (the plan listing shows it), not just "bad input".
failed=$(grep -l '"status": "failed"' "$d"/d0/runs/*/run.json | head -1)
[ -n "$failed" ] || fail "no run recorded failed"
grep -q "File too large" "$failed" || { cat "$failed"; fail "the failed run's record lacks its error"; }
echo "ok: exit 2 naming the file, no temporary files, the error recorded"

echo "== E: bad labels (one Fashion-MNIST label byte set to 200)"
# Expected at load time, before any training: exit 2 naming the file, the
# index and the value, for an encoder run and a raw-pixel run alike.
fm=/usr/share/datasets/fashion-mnist
if [ ! -f "$fm/train-labels-idx1-ubyte.gz" ]; then
  echo "skip: $fm absent (Debian package dataset-fashion-mnist, make deps)"
else
  mkdir -p "$d/e"; cp "$fm"/*-ubyte.gz "$d/e/"
  lab=$d/e/train-labels-idx1-ubyte.gz   # header 8 bytes, so label 1234 is byte 1242
  { zcat "$lab" | head -c 1242; printf '\310'; zcat "$lab" | tail -c +1244; } | gzip > "$d/e/lab.gz" && mv "$d/e/lab.gz" "$lab"
  [ "$(zcat "$lab" | od -An -tu1 -j1242 -N1 | tr -d ' ')" = 200 ] || fail "could not corrupt $lab"
  for feat in encoder raw_pixels; do
    "$rs" "$src/tests/e2e/synthetic.toml" --results "$d/e/results-$feat" --threads 1 --only l-DAE \
      --set data.name=fashion_mnist --set data.path="$d/e" --set data.subset=500 \
      --set data.test_subset=100 --set probe.features=$feat > "$d/e/$feat.txt" 2>&1; rc=$?
    grep 'error:' "$d/e/$feat.txt" | tail -1
    [ $rc -eq 2 ] || fail "bad label, probe.features=$feat: exit $rc, expected 2"
    for part in "$lab" "label 200" "index 1234" "0..9"; do
      grep -qF "$part" "$d/e/$feat.txt" || fail "probe.features=$feat: the message lacks '$part'"
    done
    done_runs=$(grep -l '"status": "done"' "$d/e/results-$feat"/runs/*/run.json 2> /dev/null | wc -l)
    [ "$done_runs" -eq 0 ] || fail "probe.features=$feat: a run finished done on a bad label"
  done
  echo "ok: exit 2 at load time naming the file, index 1234 and value 200 (encoder and raw pixels)"
fi

echo "== F: a stop signal during the linear probe (long phases hear it too)"
# SIGUSR1 (Slurm's time-limit warning) mid-probe: the run is recorded
# interrupted, the task requeued (a fake scontrol), exit 0; the rerun reuses
# the finished pre-training. SIGTERM mid-probe: interrupted, exit 130.
mkdir -p "$d/f/bin"
printf '#!/bin/sh\necho "$@" > %s/f/requeued.txt\n' "$d" > "$d/f/bin/scontrol"; chmod +x "$d/f/bin/scontrol"
long=(--results "$d/f/res" --threads 1 --only 'pca ddm' --set seed=0 --set probe.epochs=100000)
wait_for() {  # wait_for FILE PATTERN: up to 60 s
  for _ in $(seq 300); do grep -q "$2" "$1" 2> /dev/null && return 0; sleep 0.2; done
  fail "no '$2' in $1"
}
PATH="$d/f/bin:$PATH" SLURM_JOB_ID=99 "$rs" "$src/tests/e2e/synthetic.toml" "${long[@]}" > "$d/f/1.txt" 2>&1 &
pid=$!
id=$("$rs" "$src/tests/e2e/synthetic.toml" "${long[@]}" --dry-run | awk '/row  1  seed 0/{print $5}')
wait_for "$d/f/res/runs/$id/log.txt" "tokenizer reconstruction"
until ls "$d"/f/res/models/*.pt > /dev/null 2>&1; do sleep 0.2; done
sleep 1
kill -USR1 $pid; wait $pid; rc=$?
[ $rc -eq 0 ] || { cat "$d/f/1.txt"; fail "SIGUSR1 in the probe: exit $rc, expected 0 (requeued)"; }
grep -q 'task requeued' "$d/f/1.txt" || fail "not requeued"
[ "$(cat "$d/f/requeued.txt")" = "requeue 99" ] || fail "scontrol was not asked to requeue job 99"
grep -q '"status": "interrupted"' "$d/f/res/runs/$id/run.json" || fail "run not recorded interrupted"
grep -q 'stopped during the linear probe' "$d/f/res/runs/$id/log.txt" || fail "log does not say where it stopped"
"$rs" "$src/tests/e2e/synthetic.toml" "${long[@]}" > "$d/f/2.txt" 2>&1 &
pid=$!
wait_for "$d/f/res/runs/$id/log.txt" "trained model reused"
sleep 1
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 130 ] || { cat "$d/f/2.txt"; fail "SIGTERM in the probe: exit $rc, expected 130"; }
grep -q '"status": "interrupted"' "$d/f/res/runs/$id/run.json" || fail "run not recorded interrupted after SIGTERM"
echo "ok: SIGUSR1 mid-probe requeues (exit 0), the rerun reuses the pre-training, SIGTERM exits 130, run interrupted"

echo "== G: a kill storm (20 SIGKILLs at random moments of a 12-run sweep)"
# No finished run lost or redone (each done run's record unchanged by every
# later process), the index intact, every record readable, the sweep completes.
snapshot() { for r in "$d"/g/runs/*; do grep -q '"status": "done"' "$r/run.json" 2> /dev/null &&
  echo "$(basename "$r") $(md5sum < "$r/run.json" | cut -c1-32) $(md5sum < "$r/metrics.h5" | cut -c1-32)"; done; }
: > "$d/g.done"
# Longer runs (320 steps, a checkpoint every 40) so kills land in training,
# checkpoint writes and records alike.
storm=(--threads 1 --set train.epochs=20 --set train.checkpoint_every=40)
for k in $(seq 20); do
  "$rs" "$d/sweep.toml" --results "$d/g" "${storm[@]}" > "$d/g$k.txt" 2>&1 &
  pid=$!
  sleep "$(awk -v s="$k" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 1.2 }')"
  kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
  snapshot > "$d/g.now"
  # Every run done before this kill is still done, byte for byte.
  missing=$(comm -23 <(sort "$d/g.done") <(sort "$d/g.now") | head -3)
  [ -z "$missing" ] || fail "kill $k: a finished run changed or vanished: $missing"
  cp "$d/g.now" "$d/g.done"
done
before=$(wc -l < "$d/g.done")
"$rs" "$d/sweep.toml" --results "$d/g" "${storm[@]}" > "$d/g.final.txt" 2>&1 || { tail "$d/g.final.txt"; fail "the sweep after the storm"; }
snapshot > "$d/g.now"
missing=$(comm -23 <(sort "$d/g.done") <(sort "$d/g.now") | head -3)
[ -z "$missing" ] || fail "the final pass changed a finished run: $missing"
[ "$(wc -l < "$d/g.now")" -eq 12 ] || fail "$(wc -l < "$d/g.now") of 12 runs done"
[ "$(grep -c 'done earlier' "$d/g.final.txt")" -eq "$before" ] || fail "the final pass redid a finished run"
[ "$(sqlite3 "$d/g/results.db" 'pragma integrity_check')" = ok ] || fail "index damaged"
[ "$(sqlite3 "$d/g/results.db" "select count(*) from runs where status = 'done'")" -eq 12 ] || fail "index lacks done runs"
"$rs" --reindex --results "$d/g" > "$d/g.reindex.txt" 2>&1 || { cat "$d/g.reindex.txt"; fail "a record is unreadable after the storm"; }
# Temporaries of killed writers are swept by the next process on this host.
leftover=$(find "$d/g" -name '*.tmp.*' | head -3); [ -z "$leftover" ] || fail "temporaries of killed writers left: $leftover"
resumed=$(grep -l 'resumed from' "$d"/g/runs/*/log.txt | wc -l)
echo "ok: $before runs done during 20 kills kept byte for byte ($resumed resumed from a checkpoint), the rest finished, index intact, every record readable, no temporaries left"

echo "== H: run ids follow the data's content, not its path"
# Two Fashion-MNIST folders with the same files but one test image changed:
# different run ids (and tokenizer/model caches); a copy of A elsewhere: A's id.
if [ ! -f "$fm/train-labels-idx1-ubyte.gz" ]; then
  echo "skip: $fm absent (Debian package dataset-fashion-mnist, make deps)"
else
  mkdir -p "$d/h/A" "$d/h/B" "$d/h/copy"
  cp "$fm"/*-ubyte.gz "$d/h/A/"; cp "$fm"/*-ubyte.gz "$d/h/B/"; cp "$fm"/*-ubyte.gz "$d/h/copy/"
  img=$d/h/B/t10k-images-idx3-ubyte.gz   # header 16 bytes: flip one pixel of test image 0
  { zcat "$img" | head -c 400; printf '\377'; zcat "$img" | tail -c +402; } | gzip > "$d/h/img.gz" && mv "$d/h/img.gz" "$img"
  plan_id() {
    "$rs" "$src/tests/e2e/synthetic.toml" --results "$d/h/res" --only l-DAE --set seed=0 \
      --set data.name=fashion_mnist --set data.path="$1" --set data.subset=500 --set data.test_subset=100 \
      --dry-run | awk '/row  2  seed 0/{print $5}'
  }
  a=$(plan_id "$d/h/A"); b=$(plan_id "$d/h/B"); c=$(plan_id "$d/h/copy"); def=$(plan_id "")
  echo "ids: A $a, B $b, copy of A $c, the package's $def"
  [ -n "$a" ] && [ -n "$b" ] && [ -n "$def" ] || fail "no run id planned"
  [ "$a" != "$b" ] || fail "folders with different images share run id $a"
  [ "$a" = "$c" ] || fail "the same data at another path changed the run id ($a vs $c)"
  [ "$a" != "$def" ] || fail "a user's folder has the package's run id"
  echo "ok: other images, other id; same images elsewhere, same id"
fi

echo "== I: bad images in an image folder"
# A truncated PNG among good ones: exit 2 before any training, naming the
# file and data.skip_bad; with data.skip_bad = true the sweep runs, skipping it.
python3 - "$d/i" <<'PY'
import os, struct, sys, zlib
def png(path, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * 16 for _ in range(16))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
root = sys.argv[1]
for split, n in (("train", 40), ("val", 10)):
    for k, cls in enumerate(("cat", "dog")):
        os.makedirs(f"{root}/{split}/{cls}", exist_ok=True)
        for i in range(n):
            png(f"{root}/{split}/{cls}/{i:03d}.png", (40 + 150 * k + i, 90, 200 - 150 * k))
data = open(f"{root}/train/dog/000.png", "rb").read()
open(f"{root}/train/dog/bad.png", "wb").write(data[:60])
PY
folder=(--only 'pca ddm' --set seed=0 --set data.name=image_folder --set data.path="$d/i" --set data.resolution=16
        --set data.pad=0 --set train.batch=16 --set probe.knn_k=5 --threads 1)
"$rs" "$src/tests/e2e/synthetic.toml" --results "$d/i/res" "${folder[@]}" > "$d/i/1.txt" 2>&1; rc=$?
grep 'error:' "$d/i/1.txt" | tail -1
[ $rc -eq 2 ] || fail "a truncated PNG: exit $rc, expected 2"
grep -q "train/dog/bad.png" "$d/i/1.txt" && grep -q "data.skip_bad" "$d/i/1.txt" || fail "the message lacks the file or the fix"
[ ! -d "$d/i/res/runs" ] || [ -z "$(ls "$d/i/res/runs")" ] || fail "a run started on bad data"
"$rs" "$src/tests/e2e/synthetic.toml" --results "$d/i/res" "${folder[@]}" --set data.skip_bad=true > "$d/i/2.txt" 2>&1 ||
  { tail "$d/i/2.txt"; fail "data.skip_bad = true did not run"; }
grep -q "0 failed" "$d/i/2.txt" || fail "the skip_bad run failed"
echo "ok: exit 2 naming the bad image and data.skip_bad; with skip_bad the run finishes"

echo "== J: a read-only results root"
# Case A's root (12 runs done, one sweep), its index one run behind.
cp -a "$d/a" "$d/ro_src"
"$rs" "$d/sweep.toml" --results "$d/ro_src" --set seed=9 --index off > "$d/j0.txt" 2>&1 || { tail "$d/j0.txt"; fail "seed 9"; }
mkdir -p "$d/ro"
if mount --bind "$d/ro_src" "$d/ro" 2> /dev/null && mount -o remount,ro,bind "$d/ro" 2> /dev/null; then
  how="read-only bind mount"; ro=$d/ro
elif [ "$(id -u)" -ne 0 ]; then
  umount "$d/ro" 2> /dev/null; how="no write permission"; ro=$d/ro_src; chmod -R a-w "$ro"
else
  umount "$d/ro" 2> /dev/null; how=""
fi
if [ -z "$how" ]; then
  echo "skip: root without mount permission (neither case can be made)"
else
  sums() { find "$d/ro_src" -type f -print0 | sort -z | xargs -0 md5sum; find "$d/ro_src" | sort; }
  before=$(sums)
  "$mt" --results "$ro" > "$d/j1.txt" 2> "$d/j1.err" || { cat "$d/j1.err"; fail "make_tables on a read-only root: exit $?"; }
  grep -q "is read-only" "$d/j1.err" || fail "make_tables did not say the root is read-only"
  grep -q "read 2 run folder" "$d/j1.err" || { cat "$d/j1.err"; fail "the runs the index lacks were not read"; }
  grep -q '^|' "$d/j1.txt" || fail "no table printed"
  "$mt" --results "$ro" --out "$d/j_out" > /dev/null 2>&1 && ls "$d"/j_out/tables/*.md > /dev/null 2>&1 ||
    fail "make_tables --out did not write the tables there"
  "$rs" "$d/sweep.toml" --results "$ro" > "$d/j2.txt" 2>&1 || { tail "$d/j2.txt"; fail "run_sweep over a finished read-only root: exit $?"; }
  grep -q "all 12 planned runs are done" "$d/j2.txt" || { tail -3 "$d/j2.txt"; fail "run_sweep did not report the finished plan"; }
  "$rs" "$d/sweep.toml" --results "$ro" --set seed=11 > "$d/j3.txt" 2>&1; rc=$?
  [ $rc -eq 2 ] || { tail "$d/j3.txt"; fail "a new run on a read-only root: exit $rc, expected 2"; }
  grep -q "read-only and 2 of the 2 planned runs are not done" "$d/j3.txt" || { tail -2 "$d/j3.txt"; fail "the message"; }
  [ "$before" = "$(sums)" ] || fail "a file of the read-only root changed"
  echo "ok ($how): tables printed with the runs the index lacked, --out writes them, finished plan exit 0, new runs exit 2, nothing changed"
fi
