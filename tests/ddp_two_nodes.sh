#!/bin/bash
# Data parallel across two machines, simulated by two network namespaces
# joined by a veth pair: each "node" has only its own loopback plus one
# address, and its hostname resolves to 127.0.0.1 as on many clusters (the
# classic trap: Gloo binding the hostname's address, which the peer cannot
# reach). Rank 0 on node 1, rank 1 on node 2, LOCAL_RANK 0 on both, must give
# the loss curve of one process; once from torchrun's variables, once from
# Slurm's (the node list's first host resolved through the nodes' hosts file).
#   ddp_two_nodes.sh DDP_WORKER
# Needs root and network namespaces (ip netns); exits 77 (skipped) without.
set -eu
worker=$1
d=$(mktemp -d)
tag=l$$
sub=$((10 + $$ % 200))                  # 10.<sub>.77.0/24, a subnet per test process
a=10.$sub.77.1 b=10.$sub.77.2
nsa=${tag}a nsb=${tag}b
cleanup() {
  ip netns del "$nsa" 2>/dev/null || true
  ip netns del "$nsb" 2>/dev/null || true
  rm -rf "/etc/netns/$nsa" "/etc/netns/$nsb" "$d"
}
trap cleanup EXIT
if ! { [ "$(id -u)" -eq 0 ] && command -v ip > /dev/null && ip netns add "$nsa" 2> /dev/null; }; then
  echo "skipped: needs root and network namespaces (ip netns)"
  exit 77
fi
ip netns add "$nsb"
ip link add "${tag}x" type veth peer name "${tag}y"
ip link set "${tag}x" netns "$nsa"
ip link set "${tag}y" netns "$nsb"
ip -n "$nsa" addr add "$a/24" dev "${tag}x"
ip -n "$nsb" addr add "$b/24" dev "${tag}y"
for ns in "$nsa" "$nsb"; do
  ip -n "$ns" link set lo up
done
ip -n "$nsa" link set "${tag}x" up
ip -n "$nsb" link set "${tag}y" up
# Each node's /etc/hosts (ip netns exec mounts /etc/netns/NS/hosts over it):
# its own name on loopback, the other node by its address.
mkdir -p "/etc/netns/$nsa" "/etc/netns/$nsb"
printf '127.0.0.1 localhost\n127.0.0.1 %s-node1\n%s %s-node2\n' "$tag" "$b" "$tag" > "/etc/netns/$nsa/hosts"
printf '127.0.0.1 localhost\n127.0.0.1 %s-node2\n%s %s-node1\n' "$tag" "$a" "$tag" > "/etc/netns/$nsb/hosts"

"$worker" > "$d/one.txt"
test "$(wc -l < "$d/one.txt")" -eq 8
awk 'NR == 1 { x = $2 } END { if (!($2 < x)) { print "loss did not fall"; exit 1 } }' "$d/one.txt"

compare() {  # FILE: rank 0's curve on two nodes vs one process
  paste "$d/one.txt" "$1"
  test "$(wc -l < "$1")" -eq 8
  paste "$d/one.txt" "$1" | awk '
    { if ($1 != $3) { print "step mismatch"; bad = 1 }
      rel = ($2 - $4) / $2; if (rel < 0) rel = -rel
      if (rel > 1e-4) { print "loss differs at step " $1 ": " $2 " vs " $4; bad = 1 } }
    END { exit bad }'
}

# torchrun's variables: MASTER_ADDR is node 1's address.
port=$((29500 + $$ % 2000))
ip netns exec "$nsa" env RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR="$a" MASTER_PORT=$port \
  LDAE_DIST_TIMEOUT_S=60 "$worker" > "$d/torchrun.txt" &
p0=$!
ip netns exec "$nsb" env RANK=1 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR="$a" MASTER_PORT=$port \
  LDAE_DIST_TIMEOUT_S=60 "$worker" > "$d/rank1.txt"
wait $p0
compare "$d/torchrun.txt"
test ! -s "$d/rank1.txt"

# Slurm's variables: the master is the first host of the node list; Gloo's
# interface named by GLOO_SOCKET_IFNAME, as PyTorch users set it.
port=$((port + 1))
slurm="SLURM_NTASKS=2 SLURM_STEP_ID=0 SLURM_LOCALID=0 SLURM_JOB_NODELIST=$tag-node[1-2] MASTER_PORT=$port LDAE_DIST_TIMEOUT_S=60"
ip netns exec "$nsa" env SLURM_PROCID=0 GLOO_SOCKET_IFNAME="${tag}x" $slurm "$worker" > "$d/slurm.txt" &
p0=$!
ip netns exec "$nsb" env SLURM_PROCID=1 GLOO_SOCKET_IFNAME="${tag}y" $slurm "$worker" > /dev/null
wait $p0
compare "$d/slurm.txt"
# Both ranks bound to their own loopback (a wrong GLOO_SOCKET_IFNAME): the
# rank that tries to connect finds nothing there and exits 2 naming the step
# and what to check, instead of aborting inside Gloo; which rank that is
# depends on Gloo's pairing, and the other one, left waiting, is stopped here.
port=$((port + 1))
bad="WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=$a MASTER_PORT=$port GLOO_SOCKET_IFNAME=lo LDAE_DIST_TIMEOUT_S=60"
ip netns exec "$nsa" env RANK=0 $bad "$worker" > /dev/null 2> "$d/bad0.txt" &
p0=$!
ip netns exec "$nsb" env RANK=1 $bad "$worker" > /dev/null 2> "$d/bad1.txt" &
p1=$!
i=0
while kill -0 $p0 2> /dev/null && kill -0 $p1 2> /dev/null; do
  sleep 0.2; i=$((i+1)); test $i -lt 600
done
if kill -0 $p0 2> /dev/null; then first=$p1 other=$p0 err="$d/bad1.txt"; else first=$p0 other=$p1 err="$d/bad0.txt"; fi
set +e
wait $first
rc=$?
kill $other 2> /dev/null
wait $other 2> /dev/null
set -e
grep '^ddp_worker' "$err" || cat "$err"
test $rc -eq 2
grep -q "connecting Gloo (bound to interface lo) to the other ranks failed" "$err"
grep -q "GLOO_SOCKET_IFNAME" "$err"
echo "ok: two nodes (network namespaces) = 1 process, from torchrun's and Slurm's variables, route and GLOO_SOCKET_IFNAME"
