#!/bin/sh
# A Slurm sweep without Slurm: run_sweep --launcher slurm --dry-run writes the
# sbatch array script; N local processes run it with SLURM_ARRAY_TASK_ID set
# (sbatch's #SBATCH lines are comments to bash), all at once on one results
# root. Every run must end done exactly once, the index must hold them all,
# and a second pass (a requeued array) must train nothing again.
#   slurm_simulation.sh BUILD_DIR SOURCE_DIR
set -eu
bin=$1; src=$2; d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
sweep="$src/tests/e2e/synthetic.toml"
"$bin/run_sweep" "$sweep" --results "$d" --launcher slurm --dry-run --partition cpu \
  --time 0:30:00 --threads 1 | tee "$d/plan.txt"
script="$d/slurm/synthetic_smoke.default.sbatch"
grep -q '^#SBATCH --array=0-3$' "$script"
grep -q '^#SBATCH --signal=B:USR1@120$' "$script"
grep -q -- '--index off' "$script"
grep -q 'not submitted' "$d/plan.txt"

simulate() {
  for k in 0 1 2 3; do SLURM_ARRAY_TASK_ID=$k bash "$script" > "$d/task$k.$1.txt" 2>&1 & done
  wait
}
simulate 1
# The array tasks wrote their run folders only, never the index (SQLite is
# not shared across hosts, issue 14 item 15): it holds the plan, no run.
test "$(sqlite3 "$d/results.db" "select count(*) from runs")" -eq 0
test "$(sqlite3 "$d/results.db" "select count(*) from sweep_rows")" -eq 4
# One reader (make_tables) brings it up to date; it then equals a full rebuild.
"$bin/make_tables" --results "$d" --format csv > "$d/synced.txt" 2>&1 || { cat "$d/synced.txt"; exit 1; }
grep -q 'indexed 4 run folder' "$d/synced.txt"
dump() {
  sqlite3 "$1" "select id, status, seed, label, created, updated, git, host, wall_s, error from runs order by id;
    select * from params order by run_id, key; select * from metrics order by run_id, name, step;
    select name, profile, title, file, mode from sweeps order by name, profile;
    select * from sweep_rows order by sweep, profile, row, seed;"
}
dump "$d/results.db" > "$d/synced.dump"
mkdir "$d/copy" && cp -r "$d/runs" "$d/sweeps" "$d/copy/"
"$bin/run_sweep" --reindex --results "$d/copy" > /dev/null
dump "$d/copy/results.db" > "$d/rebuilt.dump"
test "$(wc -l < "$d/synced.dump")" -gt 20
cmp "$d/synced.dump" "$d/rebuilt.dump" || { diff "$d/synced.dump" "$d/rebuilt.dump" | head; echo "FAIL: synced index != rebuilt"; exit 1; }
"$bin/run_sweep" "$sweep" --results "$d" --dry-run | tee "$d/after.txt"
test "$(grep -c ' done ' "$d/after.txt")" -eq 4
for id in $(awk '/ done /{print $5}' "$d/after.txt"); do
  n=$(grep -c "\] run $id '" "$d/runs/$id/log.txt")
  if [ "$n" != 1 ]; then echo "FAIL: run $id trained $n times"; exit 1; fi
done
simulate 2   # requeued or resubmitted: nothing left to train
for k in 0 1 2 3; do grep -q 'done earlier' "$d/task$k.2.txt"; done
test "$(sqlite3 "$d/results.db" "select count(*) from runs where status = 'done'")" -eq 4
"$bin/make_tables" --results "$d" --format csv | grep -q '^2,"l-DAE",'
# Everything pending again is nothing: no script, exit 0.
"$bin/run_sweep" "$sweep" --results "$d" --launcher slurm --dry-run | grep -q 'nothing to submit'
# Submitting where there is no Slurm: a clear error, exit 2.
set +e
env PATH=/nonexistent "$bin/run_sweep" "$sweep" --results "$d/other" --launcher slurm > "$d/nosbatch.txt" 2>&1
rc=$?
set -e
cat "$d/nosbatch.txt"
test $rc -eq 2 && grep -q 'sbatch is not on PATH' "$d/nosbatch.txt"
# Runs sharing a trained model: the first array trains it once (its first
# run), an array after it (submitted with afterok on the task that trains
# it) holds the other run, which reads the model, not training it again on
# another node.
sed -e 's/^name  = "synthetic_smoke"/name = "shared_model"/' -e 's/^seeds = \[0, 1\]/seeds = [0]/' \
  -e 's/^mode  = "cumulative"/mode = "independent"/' -e '/^\[\[row\]\]/,$d' "$sweep" > "$d/shared.toml"
printf '[[row]]\nlabel = "t 10"\n[[row]]\nlabel = "t 50"\nprobe.t = 50\n' >> "$d/shared.toml"
"$bin/run_sweep" "$d/shared.toml" --results "$d/sh" --launcher slurm --dry-run --threads 1 > "$d/sh.txt"
grep -q 'shared_model.default.sbatch (1 array task for 1 pending run)' "$d/sh.txt" || { cat "$d/sh.txt"; exit 1; }
grep -q 'shared_model.default.after.sbatch (1 array task in 1 array: the other runs sharing' "$d/sh.txt" || { cat "$d/sh.txt"; exit 1; }
grep -qF "submit with \`JOB=\$(sbatch --parsable $d/sh/slurm/shared_model.default.sbatch) && JOB=\${JOB%%;*} && sbatch --array=0-0 --dependency=afterok:\${JOB}_0 --kill-on-invalid-dep=yes $d/sh/slurm/shared_model.default.after.sbatch 0\`" "$d/sh.txt" ||
  { cat "$d/sh.txt"; exit 1; }
grep -q '^#SBATCH --array=0-0$' "$d/sh/slurm/shared_model.default.sbatch"
! grep -q '^#SBATCH --array' "$d/sh/slurm/shared_model.default.after.sbatch"
SLURM_ARRAY_TASK_ID=0 bash "$d/sh/slurm/shared_model.default.sbatch" > "$d/sh.task.txt" 2>&1 || { cat "$d/sh.task.txt"; exit 1; }
SLURM_ARRAY_TASK_ID=0 bash "$d/sh/slurm/shared_model.default.after.sbatch" 0 > "$d/sh.after.txt" 2>&1 ||
  { cat "$d/sh.after.txt"; exit 1; }
test "$(cat "$d"/sh/runs/*/log.txt | grep -c 'trained model kept in')" -eq 1
test "$(cat "$d"/sh/runs/*/log.txt | grep -c 'trained model reused from')" -eq 1
# Submitted (a fake sbatch answering --parsable with a job id): the array
# after it depends on the task of the first that trains its model, and is
# cancelled if that task fails.
mkdir -p "$d/fakesbatch"
printf '#!/bin/sh\necho "$@" >> %s/sbatch.log\necho "$((4240 + $(wc -l < %s/sbatch.log)));cluster"\n' "$d" "$d" \
  > "$d/fakesbatch/sbatch"
chmod +x "$d/fakesbatch/sbatch"
PATH="$d/fakesbatch:$PATH" "$bin/run_sweep" "$d/shared.toml" --results "$d/sub" --launcher slurm --threads 1 \
  > "$d/sub.txt" 2>&1 || { cat "$d/sub.txt"; exit 1; }
sed -n 1p "$d/sbatch.log" | grep -qx -- "--parsable $d/sub/slurm/shared_model.default.sbatch" || { cat "$d/sbatch.log"; exit 1; }
sed -n 2p "$d/sbatch.log" |
  grep -qx -- "--parsable --array=0-0 --dependency=afterok:4241_0 --kill-on-invalid-dep=yes $d/sub/slurm/shared_model.default.after.sbatch 0" ||
  { cat "$d/sbatch.log"; exit 1; }
grep -q 'submitted .*shared_model.default.after.sbatch 0 (1 run) as job 4242, after task 4241_0 succeeds' "$d/sub.txt" ||
  { cat "$d/sub.txt"; exit 1; }
"$bin/run_sweep" "$d/shared.toml" --results "$d/sh" --dry-run | grep -c ' done ' | grep -qx 2
# Two models (seeds), each with a run reading it: an array after each, each
# waiting only for the task that trains its own model; a group the script
# does not hold is refused.
sed 's/^seeds = \[0\]/seeds = [0, 1]/' "$d/shared.toml" > "$d/two.toml"
PATH="$d/fakesbatch:$PATH" "$bin/run_sweep" "$d/two.toml" --results "$d/two" --launcher slurm --threads 1 \
  > "$d/two.txt" 2>&1 || { cat "$d/two.txt"; exit 1; }
grep -q 'shared_model.default.after.sbatch (2 array tasks in 2 arrays' "$d/two.txt" || { cat "$d/two.txt"; exit 1; }
tail -n 3 "$d/sbatch.log" > "$d/two.log"
sed -n 2p "$d/two.log" | grep -q -- '--array=0-0 --dependency=afterok:4243_0 .* 0$' || { cat "$d/two.log"; exit 1; }
sed -n 3p "$d/two.log" | grep -q -- '--array=0-0 --dependency=afterok:4243_1 .* 1$' || { cat "$d/two.log"; exit 1; }
test "$(cat "$d/two/slurm/shared_model.default.sbatch.jobs")" = "$(printf '4243\n4244\n4245')"
set +e
SLURM_ARRAY_TASK_ID=0 bash "$d/two/slurm/shared_model.default.after.sbatch" 2 > "$d/two.bad.txt" 2>&1
rc=$?
set -e
test $rc -eq 2 && grep -q 'no group 2 in this script (0-1)' "$d/two.bad.txt" || { cat "$d/two.bad.txt"; exit 1; }
# Every run done: nothing to submit, and the scripts that would run nothing are gone.
"$bin/run_sweep" "$d/shared.toml" --results "$d/sh" --launcher slurm --dry-run | grep -q 'nothing to submit'
test ! -e "$d/sh/slurm/shared_model.default.sbatch" && test ! -e "$d/sh/slurm/shared_model.default.after.sbatch"
# The second sbatch fails: exit 2, saying the first array is queued and how
# to submit the second; a rerun while Slurm still lists that job is refused.
mkdir -p "$d/failsecond"
printf '#!/bin/sh\necho "$@" >> %s/sb2.log\nn=$(wc -l < %s/sb2.log)\n[ "$n" -ge 2 ] && { echo "sbatch: error: bad dependency" >&2; exit 1; }\necho "$((5000 + n))"\n' \
  "$d" "$d" > "$d/failsecond/sbatch"
printf '#!/bin/sh\necho 5001\n' > "$d/failsecond/squeue"
chmod +x "$d/failsecond/sbatch" "$d/failsecond/squeue"
set +e
PATH="$d/failsecond:$PATH" "$bin/run_sweep" "$d/shared.toml" --results "$d/half" --launcher slurm > "$d/half.txt" 2>&1
rc=$?
PATH="$d/failsecond:$PATH" "$bin/run_sweep" "$d/shared.toml" --results "$d/half" --launcher slurm > "$d/again.txt" 2>&1
rc2=$?
set -e
test $rc -eq 2 || { cat "$d/half.txt"; echo "FAIL: a failed second sbatch exited $rc"; exit 1; }
grep -qF "the first array is queued as job 5001: submit the rest with \`sbatch --parsable --array=0-0 --dependency=afterok:5001_0 --kill-on-invalid-dep=yes $d/half/slurm/shared_model.default.after.sbatch 0 | cut -d';' -f1 >> $d/half/slurm/shared_model.default.sbatch.jobs\`, or rerun this command once those jobs have ended" "$d/half.txt" ||
  { cat "$d/half.txt"; exit 1; }
test $rc2 -eq 2 && grep -q 'jobs 5001 of an earlier submission of .* are still queued or running' "$d/again.txt" ||
  { cat "$d/again.txt"; echo "FAIL: resubmitted while job 5001 is queued (exit $rc2)"; exit 1; }
test -f "$d/half/slurm/shared_model.default.after.sbatch" || { echo "FAIL: the refusal removed the script to finish with"; exit 1; }
# The third sbatch fails (two models): the message lists the jobs queued and
# the one command still to run.
mkdir -p "$d/failthird"
printf '#!/bin/sh\necho "$@" >> %s/sb3.log\nn=$(wc -l < %s/sb3.log)\n[ "$n" -ge 3 ] && { echo "sbatch: error: limit" >&2; exit 1; }\necho "$((6000 + n))"\n' \
  "$d" "$d" > "$d/failthird/sbatch"
chmod +x "$d/failthird/sbatch"
set +e
PATH="$d/failthird:$PATH" "$bin/run_sweep" "$d/two.toml" --results "$d/third" --launcher slurm > "$d/third.txt" 2>&1
rc=$?
set -e
test $rc -eq 2 && grep -qF "the first array and 1 array after it are queued (jobs 6001, 6002): submit the rest with \`sbatch --parsable --array=0-0 --dependency=afterok:6001_1 --kill-on-invalid-dep=yes $d/third/slurm/shared_model.default.after.sbatch 1 | cut -d';' -f1 >> $d/third/slurm/shared_model.default.sbatch.jobs\`" "$d/third.txt" ||
  { cat "$d/third.txt"; echo "FAIL: a failed third sbatch (exit $rc)"; exit 1; }
test "$(cat "$d/third/slurm/shared_model.default.sbatch.jobs")" = "$(printf '6001\n6002')"

# The time-limit warning: SIGUSR1 mid-run -> checkpoint, `scontrol requeue
# JOB_TASK` (a fake scontrol records it), exit 0; the requeued task resumes.
mkdir -p "$d/fakebin"
printf '#!/bin/sh\necho "$@" > %s/requeued.txt\n' "$d" > "$d/fakebin/scontrol"
chmod +x "$d/fakebin/scontrol"
long="--results $d/long --threads 1 --set train.epochs=400 --set train.log_every=1 --set train.checkpoint_every=1000000"
id=$("$bin/run_sweep" "$sweep" $long --dry-run | awk '/row  1  seed 0/{print $5}')
PATH="$d/fakebin:$PATH" SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=3 \
  "$bin/run_sweep" "$sweep" $long --run-id "$id" > "$d/long1.txt" 2>&1 &
pid=$!
i=0
until grep -q 'train step' "$d/long1.txt" 2>/dev/null; do sleep 0.2; i=$((i+1)); test $i -lt 300; done
kill -USR1 $pid
wait $pid
grep -q 'task requeued' "$d/long1.txt"
test "$(cat "$d/requeued.txt")" = "requeue 77_3"
test -f "$d/long/runs/$id/ckpt/last.pt"
"$bin/run_sweep" "$sweep" $long --run-id "$id" > "$d/long2.txt" 2>&1 &
pid=$!
i=0
until grep -q 'resumed from' "$d/long/runs/$id/log.txt" 2>/dev/null; do sleep 0.2; i=$((i+1)); test $i -lt 300; done
kill -INT $pid; wait $pid || true
echo "ok: simulated Slurm array"
