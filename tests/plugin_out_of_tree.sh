#!/bin/sh
# The plugin path a researcher takes: install the harness, build the example
# plugin out of tree against the installed package (find_package(ldae)), run
# a few-step sweep of experiments/plugin_masking.toml with it and regenerate
# its table. Also: the sweep without the plugin is a clear error (exit 2),
# and the installed run_sweep finds sweep files by bare name; a misspelt key
# of the loaded plugin's section is suggested, not sent to load a plugin.
#   plugin_out_of_tree.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1; src=$2; d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cmake --install "$build" --prefix "$d/prefix" > "$d/install.log"
# The installed programs on PATH find the installed sweep files by bare name,
# from any folder (issue 14 item 14).
(cd "$d" && PATH="$d/prefix/bin:$PATH" run_sweep ablation_table1.toml --profile tiny --dry-run \
  --results "$d/dry" > "$d/bare.txt" 2>&1) || { cat "$d/bare.txt"; exit 1; }
grep -q "^sweep file: $d/prefix/share/ldae/experiments/ablation_table1.toml" "$d/bare.txt"
PATH="$d/prefix/bin:$PATH" make_tables --help > /dev/null
PATH="$d/prefix/bin:$PATH" show_noise --help > /dev/null
launcher=""
if command -v ccache > /dev/null; then launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi
# Only the installed package is named: it finds the LibTorch the harness was
# built with by itself.
cmake -S "$src/plugins/masking_noise" -B "$d/plugin" -DCMAKE_PREFIX_PATH="$d/prefix" $launcher > "$d/cfg.log"
cmake --build "$d/plugin" > "$d/build.log"
so="$d/plugin/libmasking_noise.so"
test -f "$so"
# The plugin sweep's run ids are the golden file's (CTest run_ids checks the others).
sh "$src/tests/core/config/run_ids.sh" --check "$src/tests/core/config/run_ids.golden" \
  "$d/prefix/bin/run_sweep" "$src" "$so"

# Without the plugin: exit 2 and an error that says how to load it.
set +e
"$d/prefix/bin/run_sweep" "$src/experiments/plugin_masking.toml" --dry-run > "$d/noplugin.txt" 2>&1
rc=$?
set -e
cat "$d/noplugin.txt"
test $rc -eq 2
grep -q "plugin_masking.toml:14: this sweep needs the plugin 'masking_noise'" "$d/noplugin.txt"
# A misspelt key of the loaded plugin's section is a typo, not a plugin to load.
set +e
"$d/prefix/bin/run_sweep" "$src/experiments/plugin_masking.toml" --plugin "$so" --results "$d/typo" \
  --set masking.ratoi=0.3 --dry-run > "$d/typo.txt" 2>&1; rc=$?
set -e
cat "$d/typo.txt"
test $rc -eq 2
grep -q "did you mean 'masking.ratio'" "$d/typo.txt"
if grep -q "load the plugin" "$d/typo.txt"; then echo "FAIL: a typo in a loaded plugin's section asks to load it"; exit 1; fi

# A few steps per run: 4 rows x 3 seeds on 512 images (synthetic 28 x 28
# ones where the Fashion-MNIST package is missing, as on a GPU machine).
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  set -- --set data.subset=512 --set data.test_subset=256
else
  set -- --set 'data.name="synthetic"' --set data.synthetic_size=28 \
    --set data.synthetic_train=512 --set data.synthetic_test=256
fi
"$d/prefix/bin/run_sweep" "$src/experiments/plugin_masking.toml" --profile tiny \
  --plugin "$so" --results "$d/res" --threads 1 "$@" --set train.epochs=2 \
  --set train.warmup_epochs=0 --set probe.epochs=2 --set tokenizer.fit_patches=2000 \
  > "$d/out.txt" 2>&1 || { cat "$d/out.txt"; exit 1; }
grep -q "sweep plugin_masking: 12 runs, 0 failed" "$d/out.txt"
# Rows with masking train their own models (never the l-DAE row's).
if grep -q "trained model reused" "$d"/res/runs/*/log.txt; then
  echo "FAIL: a masking row reused another row's trained model"; exit 1
fi
grep -q '"name": *"masking_noise"' "$d"/res/runs/*/run.json
"$d/prefix/bin/make_tables" --results "$d/res" --sweep plugin_masking --format csv | tee "$d/t.csv"
grep -Eq '^2,"mask 75% of tokens, no Gaussian noise \(MAE-like\)",[0-9.]+,' "$d/t.csv"
grep -Eq '^4,"mask 25% of tokens \+ latent Gaussian noise",[0-9.]+,' "$d/t.csv"
echo "ok: out-of-tree plugin built, swept and tabled"
