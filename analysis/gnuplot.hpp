// The one plotting path of the picture programs: make_tables --figures
// (analysis/plots) and show_noise (analysis/panels) write a gnuplot script
// beside their data and run gnuplot on it (cairo terminals: PNG and PDF with
// real fonts); each figure can be restyled and redrawn from its script.
#pragma once
#include <string>
#include <vector>

namespace ldae {

// gnuplot's path on PATH, or "" when missing.
std::string find_gnuplot();
// gnuplot's path; InputError saying how to install it when missing.
std::string require_gnuplot();
// A gnuplot string literal (noenhanced text: only quotes and backslashes matter).
std::string gp_string(const std::string& s);
// Where gnuplot writes `out` before it is moved into place: unique per
// process, so two programs drawing the same figure do not collide.
std::string gp_tmp(const std::string& out);
// The script line that sets output k (0, 1, ... in run_gnuplot's `outputs`
// order) to the file `out` (a name relative to the script's folder). Run by
// hand (`gnuplot X.gp`, the redraw the docs give) it writes `out` itself;
// run_gnuplot sets the variable ldae_output_K to out's temporary instead.
std::string gp_output(const std::string& out, int k);
// Run gnuplot on `script` in its folder, its outputs written to their
// temporaries (gp_tmp), then move each into place. InputError with gnuplot's
// message when it fails.
void run_gnuplot(const std::string& gnuplot, const std::string& script, const std::vector<std::string>& outputs);

}  // namespace ldae
