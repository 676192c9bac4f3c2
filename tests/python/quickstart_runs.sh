#!/bin/sh
# ldae.runs on the quickstart (CTest python_quickstart_runs): its five rows,
# each row's top-1 as make_tables gives it. Shortened (1 epoch of 2,000
# images, a 2-epoch probe) so it costs about a minute; the full table is the
# README's, read the same way after `make run`.
#   quickstart_runs.sh RUN_SWEEP MAKE_TABLES PYTHON SOURCE_DIR
set -eu
run_sweep=$1 make_tables=$2 python=$3 src=$4
"$python" -c 'import pandas' 2> /dev/null || { echo "skipped: no pandas (make deps installs it)"; exit 77; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
"$run_sweep" "$src/experiments/quickstart.toml" --profile tiny --results "$d" --threads 1 --set data.subset=2000 \
  --set train.epochs=1 --set probe.epochs=2 > "$d/out.txt" 2>&1 || { cat "$d/out.txt"; exit 1; }
"$make_tables" --results "$d" --format csv > /dev/null  # writes tables/quickstart.tiny.csv
PYTHONPATH="$src/python" "$python" - "$d" <<'PY'
import csv, sys
import ldae
root = sys.argv[1]
df = ldae.runs(root)
print(df[["label", "status", "probe_top1", "probe_knn_top1"]].to_string())
table = {r["label"]: float(r["mean"]) for r in csv.DictReader(open(f"{root}/tables/quickstart.tiny.csv"))}
assert len(df) == 5 and (df.status == "done").all(), df
assert sorted(df.label) == sorted(table), (sorted(df.label), sorted(table))
for _, r in df.iterrows():
    assert abs(r.probe_top1 - table[r.label]) < 5e-3, (r.label, r.probe_top1, table[r.label])
print("ok: ldae.runs has the quickstart's 5 rows, each with make_tables' top-1")
PY
