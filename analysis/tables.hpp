// Tables from the results database: one per sweep and profile, our numbers
// (probe top-1, kNN top-1 where measured, and FID where the sweep generates; mean +- std over seeds,
// with n) beside the paper's. Grid sweeps (Table 2) also print as a matrix:
// one line per row, one column per grid value. Paper numbers the source
// leaves unclear (paper.uncertain) carry a [U] mark. Cumulative sweeps also
// show each row's change against the row it modifies, with Welch's p over
// seeds, beside the paper's change.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/records/store.hpp"

namespace ldae {

struct Stat {
  std::vector<double> values;   // one per finished seed
  double mean() const;
  double std() const;           // sample std (n - 1); 0 for n < 2
};

struct TableRow {
  int row = 0;
  std::string label;
  Stat top1, fid, knn;          // linear probe, FID, kNN probe top-1
  Stat ft;                      // fine-tuning top-1 (eval.finetune_epochs > 0)
  Stat images, flops, train_s;  // pre-training budget: images seen, model FLOPs, seconds
  std::string method = "denoise";  // method.name of the row's runs
  int pending = 0;              // runs not done yet (any of `unfinished`)
  // Runs not done, by status: failed, running, interrupted, pending (never
  // started); and each failed run's "seed S (id): error".
  std::map<std::string, int> unfinished;
  std::vector<std::string> errors;
  std::vector<std::string> done_ids;  // the finished runs, seed order
  std::map<std::string, double> paper;
  int parent = 0;               // cumulative sweeps: the row this one modifies (0: none)
  // Labels entered pre-training (class conditioning, a perceptual loss or an
  // alignment target from the harness's classifier): not self-supervised,
  // marked [L] like the paper's Table 1 rows 1-2.
  bool uses_labels = false;
  // Grid sweeps: the row's label and its grid value ("k=v" split off the label).
  std::string group, column;
};

struct Table {
  std::string sweep, profile, title, mode;
  std::vector<TableRow> rows;
  std::vector<std::string> overrides;  // the plan's --set values (SweepRecord::overrides)
  bool has_fid() const;
  bool has_knn() const;         // any run measured the kNN probe
  bool has_ft() const;          // any run was fine-tuned (or the paper gives paper.ft)
  // Budget columns: shown where rows pre-train by different methods (Table
  // 4), whose costs differ per image; every table's CSV carries them.
  bool shows_budget() const;
  bool has_deltas() const;      // any row modifies an earlier row (cumulative sweeps)
  const TableRow* parent_of(const TableRow& r) const;  // nullptr when none
};

// Grid sweeps: groups (rows of the matrix) x columns (grid values), each in
// order of appearance, and the cell of each pair.
struct Matrix {
  std::vector<std::string> groups, columns;
  std::map<std::pair<std::string, std::string>, const TableRow*> cell;
};
Matrix matrix_of(const Table& t);
// The grid key of a grid sweep ("tokenizer.d"), from its rows' labels.
std::string axis_name(const Table& t);

std::vector<Table> collect_tables(Store& store, const std::string& sweep_filter = "");
// Whether a run with these recorded params (Store::params) saw labels
// during pre-training (TableRow::uses_labels).
bool uses_labels(const std::map<std::string, std::string>& params);
std::string to_markdown(const Table& t);
std::string to_latex(const Table& t);
std::string to_csv(const Table& t);
// A cell, label or header as LaTeX text: the ten special characters
// # $ % & ~ _ ^ \ { } escaped (text mode), so any label compiles.
std::string tex_escape(const std::string& s);
// A cell as Markdown table text: '|' escaped, line breaks as spaces.
std::string md_escape(const std::string& s);

}  // namespace ldae
