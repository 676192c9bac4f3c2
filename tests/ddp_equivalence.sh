#!/bin/sh
# Data parallel on CPU: two Gloo processes on loopback (torchrun's variables)
# give the loss curve of one process with the same global batch, to float
# tolerance.   ddp_equivalence.sh DDP_WORKER
set -eu
worker=$1; d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$worker" > "$d/one.txt"
. "$(dirname "$0")/ddp_lib.sh"
port=$(free_port)
RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$worker" > "$d/two.txt" &
p0=$!
RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$worker" > "$d/rank1.txt"
wait $p0
paste "$d/one.txt" "$d/two.txt"
test "$(wc -l < "$d/one.txt")" -eq 8 && test "$(wc -l < "$d/two.txt")" -eq 8
test ! -s "$d/rank1.txt"   # only rank 0 reports
paste "$d/one.txt" "$d/two.txt" | awk '
  { if ($1 != $3) { print "step mismatch"; bad = 1 }
    rel = ($2 - $4) / $2; if (rel < 0) rel = -rel
    if (rel > 1e-4) { print "loss differs at step " $1 ": " $2 " vs " $4; bad = 1 } }
  END { exit bad }'
# The curve must move (a test that cannot fail is no test).
awk 'NR == 1 { a = $2 } END { if (!($2 < a)) { print "loss did not fall"; exit 1 } }' "$d/one.txt"
echo "ok: 2 Gloo processes = 1 process"
