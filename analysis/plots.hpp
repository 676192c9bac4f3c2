// Figures from the results database, drawn by gnuplot (make_tables --figures).
// Per sweep and profile, under RESULTS/figures/:
//   <sweep>.<profile>.acc.{png,pdf}     probe top-1 per row, ours (mean, std
//                                        over seeds) beside the paper's
//   <sweep>.<profile>.series.{png,pdf}  the rows as a series (grid sweeps: one
//                                        line per group over the grid values)
//   <sweep>.<profile>.heatmap.{png,pdf} two-axis grid sweeps (DDAE's block x t
//                                        map): mean top-1 per cell, best outlined
//   <sweep>.<profile>.loss.{png,pdf}    pre-training loss curves, one per row
// each with its data (.csv) and the gnuplot script (.gp) that drew it, so a
// figure can be restyled without rerunning anything.
#pragma once
#include <string>
#include <vector>

#include "analysis/gnuplot.hpp"
#include "analysis/tables.hpp"
#include "core/records/store.hpp"

namespace ldae {


// Write the data and scripts of every figure of `t` into `dir` and run
// gnuplot on them. Returns the files written. InputError when gnuplot is
// missing (how to install it) or fails (its message and the script).
std::vector<std::string> write_figures(const Table& t, Store& store, const std::string& dir);

}  // namespace ldae
