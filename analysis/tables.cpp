#include "analysis/tables.hpp"

#include <fmt/core.h>

#include <cmath>

namespace ldae {

double TableRow::mean() const {
  double s = 0;
  for (double v : values) s += v;
  return values.empty() ? NAN : s / values.size();
}

double TableRow::std() const {
  if (values.size() < 2) return 0;
  double m = mean(), s = 0;
  for (double v : values) s += (v - m) * (v - m);
  return std::sqrt(s / (values.size() - 1));
}

std::vector<Table> collect_tables(Store& store, const std::string& filter) {
  std::vector<Table> out;
  for (const auto& s : store.sweeps()) {
    if (!filter.empty() && s.name != filter) continue;
    Table t{s.name, s.profile, s.title, {}};
    for (const auto& r : s.rows) {
      if (t.rows.empty() || t.rows.back().row != r.row)
        t.rows.push_back(TableRow{r.row, r.label, {}, 0, r.paper});
      auto run = store.run(r.run_id);
      auto top1 = store.metric(r.run_id, "probe.top1");
      if (run && run->status == "done" && !top1.empty()) t.rows.back().values.push_back(top1[0].value);
      else t.rows.back().pending++;
    }
    out.push_back(std::move(t));
  }
  return out;
}

namespace {
std::string ours(const TableRow& r, const char* pm) {
  if (r.values.empty()) return r.pending ? "pending" : "-";
  std::string s = r.values.size() > 1 ? fmt::format("{:.2f} {} {:.2f}", r.mean(), pm, r.std())
                                      : fmt::format("{:.2f}", r.mean());
  return s;
}
std::string paper(const TableRow& r) {
  auto it = r.paper.find("acc");
  return it == r.paper.end() ? "-" : fmt::format("{:.1f}", it->second);
}
std::string tex_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '_' || c == '%' || c == '&' || c == '#') o += '\\';
    o += c;
  }
  return o;
}
}  // namespace

std::string to_markdown(const Table& t) {
  std::string md = fmt::format("### {} ({}, profile {})\n\n", t.sweep, t.title, t.profile);
  md += "| # | row | ours top-1 (%) | n | paper top-1 (%) |\n|---|---|---|---|---|\n";
  for (const auto& r : t.rows)
    md += fmt::format("| {} | {} | {} | {}{} | {} |\n", r.row, r.label, ours(r, "±"),
                      r.values.size(), r.pending ? fmt::format(" (+{} pending)", r.pending) : "",
                      paper(r));
  md += "\nours: linear-probe top-1 on this harness's data (mean ± sample std over seeds); "
        "paper: ImageNet-1K (arXiv:2401.14404).\n";
  return md;
}

std::string to_latex(const Table& t) {
  std::string tex = "\\begin{tabular}{rlrrr}\n\\toprule\n# & row & ours & $n$ & paper \\\\\n\\midrule\n";
  for (const auto& r : t.rows)
    tex += fmt::format("{} & {} & {} & {} & {} \\\\\n", r.row, tex_escape(r.label),
                       ours(r, "$\\pm$"), r.values.size(), paper(r));
  return tex + "\\bottomrule\n\\end{tabular}\n";
}

std::string to_csv(const Table& t) {
  std::string csv = "row,label,mean,std,n,pending,paper_acc\n";
  for (const auto& r : t.rows) {
    std::string label = r.label;
    for (auto& c : label)
      if (c == '"') c = '\'';
    auto it = r.paper.find("acc");
    csv += fmt::format("{},\"{}\",{},{},{},{},{}\n", r.row, label,
                       r.values.empty() ? "" : fmt::format("{:.4f}", r.mean()),
                       r.values.empty() ? "" : fmt::format("{:.4f}", r.std()), r.values.size(),
                       r.pending, it == r.paper.end() ? "" : fmt::format("{}", it->second));
  }
  return csv;
}

}  // namespace ldae
