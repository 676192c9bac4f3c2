#!/bin/sh
# The pictures end to end, all drawn by gnuplot (PNG + PDF): show_noise's three figures (Fig. 7 on Fashion-MNIST
# with PCA, Fig. 4 filters, Fig. 8 for a trained run of the synthetic smoke
# sweep), make_tables --figures, and the clear errors (gnuplot missing, a
# tokenizer without filters, an unknown run, a sigma outside [0, 100], a
# folder where the output goes).
#   cli_figures.sh BIN_DIR SOURCE_DIR
set -eu
bin=$1; src=$2; d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
is_png() { test "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = "89504e470d0a1a0a"; }
fails_with() {  # fails_with TEXT COMMAND...: exit 2 and TEXT in the output
  text=$1; shift
  set +e; "$@" > "$d/err.txt" 2>&1; rc=$?; set -e
  cat "$d/err.txt"
  test $rc -eq 2 && grep -q "$text" "$d/err.txt"
}

"$bin/show_noise" --results "$d" --set tokenizer.patch=8 --set tokenizer.d=16 --out "$d/noise.png" | tee "$d/noise.txt"
is_png "$d/noise.png"
test "$(head -c 5 "$d/noise.pdf")" = "%PDF-"
grep -Eq "written: $d/noise.png \([0-9]+ x [0-9]+\), $d/noise.pdf, script $d/noise.gp" "$d/noise.txt"
ls "$d/noise-panels/" | grep -q 'b0r3c5.png'   # 4 images x 6 panels, gnuplot lays them out
# The saved script redraws the figure itself, as the docs say (`gnuplot noise.gp`), leaving no temporary.
rm "$d/noise.png" "$d/noise.pdf"
(cd "$d" && gnuplot noise.gp)
is_png "$d/noise.png"
test "$(head -c 5 "$d/noise.pdf")" = "%PDF-"
test -z "$(ls "$d" | grep '\.tmp')"
# Latent noise of a linear tokenizer stays in its span; white pixel noise has
# (D - d) / D = 0.75 of its energy outside.
grep -Eq 'outside the tokenizer.s span: pixel 0\.7[0-9]+, latent [0-9.]+e-[0-9]+$' "$d/noise.txt"
"$bin/show_noise" --results "$d" --figure filters --set tokenizer.d=8 --out "$d/filters.png"
is_png "$d/filters.png"
fails_with "has no patch filters" "$bin/show_noise" --results "$d" --figure filters --set tokenizer.name=conv_vae --set tokenizer.patch=8 --set tokenizer.d=16
fails_with "give a .png path" "$bin/show_noise" --results "$d" --out "$d/noise.jpg"
fails_with "gnuplot-nox" env PATH=/nonexistent "$bin/show_noise" --results "$d"
# Noise levels and outputs checked before any work; a folder in the output's way leaves nothing behind.
fails_with "must lie in \[0, 100\]" "$bin/show_noise" --results "$d" --sigma inf
fails_with "sigma -1 must lie" "$bin/show_noise" --results "$d" --sigmas=-1,0.5
mkdir "$d/taken.png"
fails_with "a folder of that name is in the way" "$bin/show_noise" --results "$d" --out "$d/taken.png"
test -z "$(ls "$d" | grep 'taken\.\(png\|pdf\)\.tmp')"
fails_with "no such run" "$bin/show_noise" --results "$d" --figure denoise --run 0123456789abcdef

"$bin/run_sweep" "$src/tests/e2e/synthetic.toml" --results "$d/s" --threads 1 > "$d/sweep.txt" 2>&1
id=$("$bin/run_sweep" "$src/tests/e2e/synthetic.toml" --results "$d/s" --dry-run | awk '/ done /{print $5; exit}')
"$bin/show_noise" --results "$d/s" --figure denoise --run "$id" --images 3 --t 10,500
is_png "$d/s/figures/denoise-$id.png"

"$bin/make_tables" --results "$d/s" --figures > "$d/tables.txt"
fails_with "recorded: 'synthetic_smoke'" "$bin/make_tables" --results "$d/s" --sweep nosuch
# The smoke sweep logs one loss point per run: drawn as a point, not as a line of one point (nothing).
test "$(grep -c '^[0-9]' "$d/s/figures/synthetic_smoke.default.loss.csv")" -eq 2
test "$(grep -c 'with points' "$d/s/figures/synthetic_smoke.default.loss.gp")" -eq 2
rm "$d/s/figures/synthetic_smoke.default.acc.png"
(cd "$d/s/figures" && gnuplot synthetic_smoke.default.acc.gp)
test -z "$(ls "$d/s/figures" | grep '\.tmp')"
for k in acc series loss; do
  is_png "$d/s/figures/synthetic_smoke.default.$k.png"
  test "$(head -c 5 "$d/s/figures/synthetic_smoke.default.$k.pdf")" = "%PDF-"
  test -s "$d/s/figures/synthetic_smoke.default.$k.csv"
done
# A two-axis grid sweep (DDAE's block x t map): one U-Net trained, six
# probes, a heatmap whose outlined cell is the best mean.
"$bin/run_sweep" "$src/tests/e2e/block_t.toml" --results "$d/g" --threads 1 > "$d/grid.txt" 2>&1
test "$(grep -l 'trained model reused' "$d"/g/runs/*/log.txt | wc -l)" -eq 5
"$bin/make_tables" --results "$d/g" --figures > "$d/gtables.txt"
h="$d/g/figures/block_t_smoke.default.heatmap"
is_png "$h.png"
test "$(head -c 5 "$h.pdf")" = "%PDF-"
# cells: 3 blocks x 2 t; the best cell's mean is the largest of them
test "$(awk -F, 'NF == 7 && $1 !~ /^#/' "$h.csv" | wc -l)" -eq 7
best=$(awk -F, 'NF == 7 && $1 !~ /^#/ { if (seen_blank) b = $5; else if ($5 > m) m = $5 } /^$/ { seen_blank = 1 } END { print (b == m) ? "yes" : "no: " b " vs " m }' "$h.csv")
test "$best" = yes
grep -q 'index 1 using 1:2:(0.46):(0.46) with boxxyerror fs empty' "$h.gp"
# Without gnuplot: exit 2, how to install it, and no table rewritten.
fails_with "gnuplot-nox" env PATH=/nonexistent "$bin/make_tables" --results "$d/s" --figures
echo "ok: figures"
