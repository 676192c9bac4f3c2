// Tables from the results database: one per sweep and profile, our probe
// top-1 (mean +- std over seeds, with n) beside the paper's number.
#pragma once
#include <string>
#include <vector>

#include "core/store.hpp"

namespace ldae {

struct TableRow {
  int row = 0;
  std::string label;
  std::vector<double> values;   // top-1 of each finished seed
  int pending = 0;              // runs not done yet (failed, running, missing)
  std::map<std::string, double> paper;
  double mean() const;
  double std() const;           // sample std (n - 1); 0 for n < 2
};

struct Table {
  std::string sweep, profile, title;
  std::vector<TableRow> rows;
};

std::vector<Table> collect_tables(Store& store, const std::string& sweep_filter = "");
std::string to_markdown(const Table& t);
std::string to_latex(const Table& t);
std::string to_csv(const Table& t);

}  // namespace ldae
