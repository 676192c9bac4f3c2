#!/bin/sh
# `run_sweep FILE --profile tiny --dry-run` plans the expected number of runs
# for every sweep file (rows x grid points x seeds). A new file must be added
# here with its count.
set -e
run_sweep=$1; dir=$2; results=$(mktemp -d)
expect() {
  got=$("$run_sweep" "$dir/$1" --profile tiny --dry-run --results "$results" | sed -n 's/.*, \([0-9]*\) runs\{0,1\}$/\1/p')
  if [ "$got" != "$2" ]; then echo "FAIL: $1 plans $got runs, expected $2"; exit 1; fi
  echo "ok: $1 $got runs"
}
expect quickstart.toml 5
expect ablation_table1.toml 15
expect ablation_table2.toml 20
expect ablation_table3.toml 24
expect fig5_pixel.toml 4
expect sec5_augmentation.toml 6
expect sec5_epochs.toml 3
expect sec5_model_size.toml 3
expect appendix_probe_t.toml 10
expect appendix_split.toml 7
expect recipe_check.toml 6
expect seed_interpolants.toml 21
expect seed_backbones.toml 21
expect ddae_block_t.toml 156
expect seed_alignment.toml 12
expect seed_learned_variance.toml 6
expect ablation_table4.toml 15
# (plugin_masking.toml needs its plugin: plugin_out_of_tree.sh counts its 12 runs.)
n=$(grep -L '^plugins *=' "$dir"/*.toml | wc -l)
if [ "$n" != 17 ]; then echo "FAIL: $n sweep files, 17 have expected counts: add the new one"; exit 1; fi
rm -rf "$results"
