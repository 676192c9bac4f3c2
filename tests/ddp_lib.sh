# Shared by the data-parallel CLI tests (sourced): free_port prints a
# loopback port free a moment ago; curve RESULTS prints a results root's
# loss curves; start2 RESULTS TAG starts rank 0 and rank 1 of
# `run_sweep "$sweep" --results RESULTS $opts` with torchrun's environment
# on a fresh MASTER_PORT (in port), in the background (pids in p0, p1;
# output in $d/TAG.rank0 and $d/TAG.rank1). Needs bin, sweep, opts and d set.
free_port() {  # the kernel's pick (bind to port 0): never one another test chose by pid, never in use
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start2() {  # start2 RESULTS TAG: both ranks in the background (pids in p0, p1)
  port=$(free_port)
  RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$bin/run_sweep" "$sweep" --results "$1" $opts > "$d/$2.rank0" 2>&1 &
  p0=$!
  RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$bin/run_sweep" "$sweep" --results "$1" $opts > "$d/$2.rank1" 2>&1 &
  p1=$!
}
curve() {  # curve RESULTS: "step loss" of every run, in run order
  sqlite3 -separator ' ' "$1/results.db" \
    "select step, value from metrics where name = 'train.loss' order by run_id, step"
}
