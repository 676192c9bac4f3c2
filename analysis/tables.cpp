#include "analysis/tables.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>

#include "analysis/stats.hpp"

namespace ldae {

std::string tex_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '#': case '$': case '%': case '&': case '_': case '{': case '}': o += '\\'; o += c; break;
      case '~': o += "\\textasciitilde{}"; break;
      case '^': o += "\\textasciicircum{}"; break;
      case '\\': o += "\\textbackslash{}"; break;
      case '\n': case '\r': o += ' '; break;
      default: o += c;
    }
  }
  return o;
}

std::string md_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n' || c == '\r') o += ' ';
    else o += c;
  }
  return o;
}

double Stat::mean() const {
  double s = 0;
  for (double v : values) s += v;
  return values.empty() ? NAN : s / values.size();
}

double Stat::std() const {
  if (values.size() < 2) return 0;
  double m = mean(), s = 0;
  for (double v : values) s += (v - m) * (v - m);
  return std::sqrt(s / (values.size() - 1));
}

bool Table::has_fid() const {
  for (const auto& r : rows)
    if (!r.fid.values.empty() || r.paper.count("fid")) return true;
  return false;
}

bool Table::has_knn() const {
  for (const auto& r : rows)
    if (!r.knn.values.empty()) return true;
  return false;
}

bool Table::has_ft() const {
  for (const auto& r : rows)
    if (!r.ft.values.empty() || r.paper.count("ft")) return true;
  return false;
}

bool Table::shows_budget() const {
  bool any = false;
  for (const auto& r : rows) {
    if (r.method != rows.front().method) any = true;
  }
  if (!any) return false;
  for (const auto& r : rows)
    if (!r.images.values.empty()) return true;
  return false;
}

bool Table::has_deltas() const {
  for (const auto& r : rows)
    if (parent_of(r)) return true;
  return false;
}

const TableRow* Table::parent_of(const TableRow& r) const {
  if (r.parent <= 0) return nullptr;
  for (const auto& p : rows)
    if (p.row == r.parent) return &p;
  return nullptr;
}

bool uses_labels(const std::map<std::string, std::string>& p) {
  auto is = [&](const char* key, const char* value) {
    auto it = p.find(key);
    return it != p.end() && it->second == value;
  };
  auto positive = [&](const char* key) {
    auto it = p.find(key);
    return it != p.end() && std::strtod(it->second.c_str(), nullptr) > 0;
  };
  return is("model.class_cond", "true") ||
         (positive("tokenizer.perceptual_weight") && is("tokenizer.perceptual_net", "\"classifier\"")) ||
         (positive("objective.align_weight") && is("objective.align_target", "\"classifier\""));
}

std::vector<Table> collect_tables(Store& store, const std::string& filter) {
  std::vector<Table> out;
  for (const auto& s : store.sweeps()) {
    if (!filter.empty() && s.name != filter) continue;
    Table t{s.name, s.profile, s.title, s.mode, {}, s.overrides};
    for (const auto& r : s.rows) {
      if (t.rows.empty() || t.rows.back().row != r.row) {
        TableRow tr;
        tr.row = r.row, tr.label = r.label, tr.paper = r.paper, tr.parent = r.parent;
        const auto params = store.params(r.run_id);
        tr.uses_labels = uses_labels(params);
        if (auto m = params.find("method.name"); m != params.end()) tr.method = m->second.size() >= 2 && m->second.front() == '"' ? m->second.substr(1, m->second.size() - 2) : m->second;
        tr.group = r.label;
        if (s.mode == "grid") {  // "conv VAE, tokenizer.d=16" -> group, "16"
          auto comma = r.label.rfind(", "), eq = r.label.rfind('=');
          if (eq != std::string::npos) {
            tr.column = r.label.substr(eq + 1);
            tr.group = comma != std::string::npos && comma < eq ? r.label.substr(0, comma) : "";
          }
        }
        t.rows.push_back(tr);
      }
      auto& row = t.rows.back();
      auto run = store.run(r.run_id);
      auto top1 = store.metric(r.run_id, "probe.top1");
      if (run && run->status == "done" && !top1.empty()) {
        row.top1.values.push_back(top1[0].value);
        row.done_ids.push_back(r.run_id);
        auto fid = store.metric(r.run_id, "eval.fid");
        if (!fid.empty()) row.fid.values.push_back(fid[0].value);
        auto knn = store.metric(r.run_id, "probe.knn_top1");
        if (!knn.empty()) row.knn.values.push_back(knn[0].value);
        for (auto [name, stat] : {std::pair<const char*, Stat*>{"finetune.top1", &row.ft},
                                  {"budget.images_seen", &row.images},
                                  {"budget.train_flops", &row.flops},
                                  {"budget.train_s", &row.train_s}})
          if (auto m = store.metric(r.run_id, name); !m.empty()) stat->values.push_back(m[0].value);
      } else {
        row.pending++;
        const std::string status = run ? run->status : "pending";
        row.unfinished[status == "unknown" ? "pending" : status]++;
        if (run && (status == "failed" || status == "damaged"))
          row.errors.push_back(fmt::format("seed {} ({}): {}", r.seed, r.run_id,
                                           run->error.empty() ? "no error recorded" : run->error));
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

namespace {

// What a row without a finished run shows: the status of its unfinished
// runs, the most telling first (a failure before a run still going).
std::string unfinished_word(const TableRow& r) {
  for (const char* st : {"failed", "damaged", "running", "interrupted", "pending"})
    if (r.unfinished.count(st)) return st;
  return r.unfinished.empty() ? "pending" : r.unfinished.begin()->first;
}

std::string ours(const Stat& s, const TableRow& r, const char* pm) {
  if (s.values.empty()) return r.pending ? unfinished_word(r) : "-";
  return s.values.size() > 1 ? fmt::format("{:.2f} {} {:.2f}", s.mean(), pm, s.std())
                             : fmt::format("{:.2f}", s.mean());
}

std::string paper(const TableRow& r, const std::string& key) {
  auto it = r.paper.find(key);
  const std::string mark = r.paper.count("uncertain") ? " [U]" : "";
  return it == r.paper.end() ? "-" + mark : fmt::format("{:.1f}", it->second) + mark;
}


// The row r modifies and Welch's test of r's metric (top-1, FID) against it
// over seeds; parent null when r modifies no row, no test when either row
// has no finished run.
struct Change {
  const TableRow* parent = nullptr;
  std::optional<WelchTest> test;
};
Change change_of(const Table& t, const TableRow& r, Stat TableRow::*metric = &TableRow::top1) {
  Change c{t.parent_of(r), std::nullopt};
  if (c.parent && !(r.*metric).values.empty() && !(c.parent->*metric).values.empty())
    c.test = welch_t_test((r.*metric).values, (c.parent->*metric).values);
  return c;
}

// "+1.20 vs 3 (p 0.041)"; no p where a row has fewer than two seeds.
std::string delta(const Table& t, const TableRow& r, Stat TableRow::*metric, bool tex = false) {
  const Change c = change_of(t, r, metric);
  if (!c.test) return "-";
  std::string s = fmt::format(metric == &TableRow::fid ? "{:+.1f} vs {}" : "{:+.2f} vs {}", c.test->diff,
                              c.parent->row);
  if (c.test->p >= 0)
    s += c.test->p < 0.001 ? (tex ? " ($p < 0.001$)" : " (p < 0.001)")
                           : fmt::format(tex ? " ($p$ {:.3f})" : " (p {:.3f})", c.test->p);
  return s;
}

// The paper's change of paper.KEY between the same two rows: "+4.4".
std::string paper_delta(const Table& t, const TableRow& r, const std::string& key) {
  const TableRow* p = t.parent_of(r);
  if (!p || !r.paper.count(key) || !p->paper.count(key)) return "-";
  return fmt::format("{:+.1f}", r.paper.at(key) - p->paper.at(key));
}

// "3", or "1 (+1 failed, +1 pending)".
std::string seeds_note(const TableRow& r) {
  std::string more;
  for (const auto& [status, n] : r.unfinished) more += fmt::format("{}+{} {}", more.empty() ? "" : ", ", n, status);
  return fmt::format("{}{}", r.top1.values.size(), more.empty() ? "" : " (" + more + ")");
}

// One column of the row table, shared by the Markdown and LaTeX writers:
// its two headers, its LaTeX alignment and its cell (tex: escaped, $\pm$).
struct Column {
  std::string md, tex;
  char align;
  std::function<std::string(const TableRow&, bool tex)> cell;
};

// The columns t has: # row ours n paper, then the changes (cumulative
// sweeps), kNN (where measured) and FID (+ its changes) where present.
std::vector<Column> row_columns(const Table& t) {
  auto pm = [](bool tex) { return tex ? "$\\pm$" : "±"; };
  auto esc = [](const std::string& s, bool tex) { return tex ? tex_escape(s) : md_escape(s); };
  std::vector<Column> c = {
      {"#", "\\#", 'r', [](const TableRow& r, bool) { return std::to_string(r.row); }},
      {"row", "row", 'l', [esc](const TableRow& r, bool tex) { return esc(r.label, tex) + (r.uses_labels ? " [L]" : ""); }},
      {"ours top-1 (%)", "ours", 'r', [pm](const TableRow& r, bool tex) { return ours(r.top1, r, pm(tex)); }},
      {"n", "$n$", 'r',
       [](const TableRow& r, bool tex) { return tex ? std::to_string(r.top1.values.size()) : seeds_note(r); }},
      {"paper top-1 (%)", "paper", 'r', [esc](const TableRow& r, bool tex) { return esc(paper(r, "acc"), tex); }},
  };
  const bool deltas = t.has_deltas();
  if (deltas) {
    c.push_back({"ours change (p)", "ours change ($p$)", 'l',
                 [&t](const TableRow& r, bool tex) { return delta(t, r, &TableRow::top1, tex); }});
    c.push_back({"paper change", "paper change", 'l',
                 [&t](const TableRow& r, bool) { return paper_delta(t, r, "acc"); }});
  }
  if (t.has_knn())
    c.push_back({"ours kNN (%)", "ours kNN", 'r',
                 [pm](const TableRow& r, bool tex) { return ours(r.knn, r, pm(tex)); }});
  if (t.has_ft()) {
    c.push_back({"ours fine-tune (%)", "ours fine-tune", 'r',
                 [pm](const TableRow& r, bool tex) { return ours(r.ft, r, pm(tex)); }});
    if (deltas)
      c.push_back({"fine-tune change (p)", "fine-tune change ($p$)", 'l',
                   [&t](const TableRow& r, bool tex) { return delta(t, r, &TableRow::ft, tex); }});
    c.push_back({"paper fine-tune", "paper fine-tune", 'r',
                 [esc](const TableRow& r, bool tex) { return esc(paper(r, "ft"), tex); }});
  }
  if (t.shows_budget()) {
    auto mean_of = [](const Stat& s, double unit, const char* f) {
      return s.values.empty() ? std::string("-") : fmt::format(fmt::runtime(f), s.mean() / unit);
    };
    c.push_back({"images seen (k)", "images (k)", 'r',
                 [mean_of](const TableRow& r, bool) { return mean_of(r.images, 1e3, "{:.4g}"); }});
    c.push_back({"pre-train TFLOPs", "TFLOPs", 'r',
                 [mean_of](const TableRow& r, bool) { return mean_of(r.flops, 1e12, "{:.3g}"); }});
    c.push_back({"pre-train s", "seconds", 'r',
                 [mean_of](const TableRow& r, bool) { return mean_of(r.train_s, 1, "{:.3g}"); }});
  }
  if (t.has_fid()) {
    c.push_back({"ours FID", "ours FID", 'r',
                 [pm](const TableRow& r, bool tex) { return ours(r.fid, r, pm(tex)); }});
    c.push_back({"paper FID", "paper FID", 'r',
                 [esc](const TableRow& r, bool tex) { return esc(paper(r, "fid"), tex); }});
    if (deltas) {
      c.push_back({"ours FID change (p)", "FID change ($p$)", 'l',
                   [&t](const TableRow& r, bool tex) { return delta(t, r, &TableRow::fid, tex); }});
      c.push_back({"paper FID change", "paper FID change", 'l',
                   [&t](const TableRow& r, bool) { return paper_delta(t, r, "fid"); }});
    }
  }
  return c;
}

}  // namespace

// Grid sweeps: groups in order of appearance x columns in order of appearance.
Matrix matrix_of(const Table& t) {
  Matrix m;
  for (const auto& r : t.rows) {
    if (std::find(m.groups.begin(), m.groups.end(), r.group) == m.groups.end()) m.groups.push_back(r.group);
    if (std::find(m.columns.begin(), m.columns.end(), r.column) == m.columns.end()) m.columns.push_back(r.column);
    m.cell[{r.group, r.column}] = &r;
  }
  return m;
}

std::string axis_name(const Table& t) {
  for (const auto& r : t.rows) {
    auto comma = r.label.rfind(", "), eq = r.label.rfind('=');
    if (eq != std::string::npos)
      return r.label.substr(comma == std::string::npos ? 0 : comma + 2,
                            eq - (comma == std::string::npos ? 0 : comma + 2));
  }
  return "grid";
}


namespace {
// The plan's --set values as one line ("" for the sweep file's own plan):
// its rows are other runs than the file alone plans, so a table says so.
std::string overrides_note(const Table& t) {
  if (t.overrides.empty()) return "";
  std::string sets;
  for (const auto& o : t.overrides) sets += (sets.empty() ? "`--set " : ", `--set ") + o + "`";
  return "Planned with " + sets + ": each row is the run of the sweep file with " +
         (t.overrides.size() == 1 ? "it" : "them") + ".";
}
}  // namespace

std::string to_markdown(const Table& t) {
  const bool fid = t.has_fid();
  std::string md = t.title.empty() ? fmt::format("### {} (profile {})\n\n", t.sweep, t.profile)
                                    : fmt::format("### {} ({}, profile {})\n\n", t.sweep, t.title, t.profile);
  if (const auto note = overrides_note(t); !note.empty()) md += md_escape(note) + "\n\n";
  if (t.mode == "grid") {
    const Matrix m = matrix_of(t);
    md += "| " + axis_name(t) + " |";
    for (const auto& c : m.columns) md += " " + md_escape(c) + " |";
    md += "\n|---|";
    for (size_t i = 0; i < m.columns.size(); ++i) md += "---|";
    md += "\n";
    for (const auto& g : m.groups) {
      md += "| " + md_escape(g) + " |";
      for (const auto& c : m.columns) {
        auto it = m.cell.find({g, c});
        md += it == m.cell.end() ? " |"
                                 : fmt::format(" {} ({}) |", ours(it->second->top1, *it->second, "±"),
                                               paper(*it->second, "acc"));
      }
      md += "\n";
    }
    md += "\ncells: ours top-1 (paper top-1). Every cell as a row:\n\n";
  }
  const bool knn = t.has_knn(), deltas = t.has_deltas();
  const auto cols = row_columns(t);
  md += "|";
  for (const auto& c : cols) md += " " + c.md + " |";
  md += "\n|";
  for (size_t i = 0; i < cols.size(); ++i) md += "---|";
  md += "\n";
  for (const auto& r : t.rows) {
    md += "|";
    for (const auto& c : cols) md += " " + c.cell(r, false) + " |";
    md += "\n";
  }
  md += "\nours: linear-probe top-1 on this harness's data (mean ± sample std over seeds); "
        "paper: ImageNet-1K (arXiv:2401.14404); [U]: unclear in the paper.\n";
  if (std::any_of(t.rows.begin(), t.rows.end(), [](const TableRow& r) { return r.uses_labels; }))
    md += "[L]: labels entered pre-training (class conditioning, or the harness's classifier as perceptual "
          "loss or alignment target): not self-supervised, as the paper's Table 1 rows 1-2.\n";
  if (deltas)
    md += "change: our top-1 minus that of the row this one modifies or is compared with (vs k), with the two-sided p of "
          "Welch's t-test over seeds (none with fewer than 2 seeds per row); paper change: the same "
          "difference of the paper's numbers. With 3 seeds per row, p < 0.05 needs a change of "
          "several stds: a larger p means the change is within what another seed could do.\n";
  if (deltas && fid) md += "FID change: the same test on FID (lower is better).\n";
  if (deltas && t.has_ft()) md += "fine-tune change: the same test on fine-tuning top-1 (not in Holm's correction below).\n";
  if (t.shows_budget())
    md += "budget: images drawn in pre-training (steps x batch, thousands), model FLOPs of those steps (2 per "
          "multiply-add, backward = 2 forwards, every pass of the method and its heads; '-' where not counted) "
          "and pre-training seconds (mean over seeds; wall time, shared machines make it noisy).\n";
  if (deltas) {  // several changes tested at once: Holm's correction, in the footnote
    std::vector<double> ps;
    std::vector<int> rows;
    for (const auto& r : t.rows) {
      const Change c = change_of(t, r);
      if (c.test && c.test->p >= 0) ps.push_back(c.test->p), rows.push_back(r.row);
    }
    if (ps.size() > 1) {
      const auto adj = holm_adjust(ps);
      md += fmt::format("Holm: the {} top-1 changes with a p are {} tests at once; their Holm-adjusted p "
                        "(family-wise error, compare with 0.05):", ps.size(), ps.size());
      for (size_t i = 0; i < ps.size(); ++i) md += fmt::format(" row {} {:.3f}{}", rows[i], adj[i], i + 1 < ps.size() ? "," : ".\n");
    }
  }
  if (knn)
    md += "kNN: weighted k-nearest-neighbour top-1 on the same features (probe.knn_k, "
          "probe.knn_t; cosine similarity), no training; '-' for runs without it.\n";
  if (fid)
    md += "FID: ours from the sweep's eval.fid_samples generated images vs real images "
          "(eval.fid_reference: the test images, or every training image) in its eval.fid_net "
          "features; the paper's is FID-50K (Inception) on ImageNet, so compare trends, not values.\n";
  std::string failed;
  for (const auto& r : t.rows)
    for (const auto& e : r.errors) failed += fmt::format("- row {}, {}\n", r.row, e);
  if (!failed.empty())
    md += "\nfailed runs (rerun the sweep after fixing; run_sweep retries failed runs):\n" + failed;
  return md;
}

std::string to_latex(const Table& t) {
  std::string tex;
  if (const auto note = overrides_note(t); !note.empty()) tex += "% " + note + "\n";
  if (t.mode == "grid") {
    const Matrix m = matrix_of(t);
    tex += "\\begin{tabular}{l" + std::string(m.columns.size(), 'r') + "}\n\\toprule\n" +
           tex_escape(axis_name(t));
    for (const auto& c : m.columns) tex += " & " + tex_escape(c);
    tex += " \\\\\n\\midrule\n";
    for (const auto& g : m.groups) {
      tex += tex_escape(g);
      for (const auto& c : m.columns) {
        auto it = m.cell.find({g, c});
        tex += it == m.cell.end() ? " & "
                                  : fmt::format(" & {} ({})", ours(it->second->top1, *it->second, "$\\pm$"),
                                                tex_escape(paper(*it->second, "acc")));
      }
      tex += " \\\\\n";
    }
    tex += "\\bottomrule\n\\end{tabular}\n\n";
  }
  const auto cols = row_columns(t);
  std::string align, header;
  for (const auto& c : cols) {
    align += c.align;
    header += (header.empty() ? "" : " & ") + c.tex;
  }
  tex += "\\begin{tabular}{" + align + "}\n\\toprule\n" + header + " \\\\\n\\midrule\n";
  for (const auto& r : t.rows) {
    std::string line;
    for (const auto& c : cols) line += (line.empty() ? "" : " & ") + c.cell(r, true);
    tex += line + " \\\\\n";
  }
  return tex + "\\bottomrule\n\\end{tabular}\n";
}

std::string to_csv(const Table& t) {
  std::string csv =
      "row,label,mean,std,n,pending,paper_acc,fid_mean,fid_std,paper_fid,paper_uncertain,knn_mean,knn_std,"
      "parent,change,change_p,fid_change,fid_change_p,failed,uses_labels,ft_mean,ft_std,paper_ft,ft_change,"
      "ft_change_p,images_seen,train_flops,train_s,method,overrides\n";
  std::string sets;  // the plan's --set values, one field ("a=1; b=2"), the same on every row
  for (const auto& o : t.overrides) sets += (sets.empty() ? "" : "; ") + o;
  for (char& c : sets) c = c == '"' ? '\'' : c;
  auto num = [](const TableRow& r, const char* k) {
    auto it = r.paper.find(k);
    return it == r.paper.end() ? std::string() : fmt::format("{}", it->second);
  };
  for (const auto& r : t.rows) {
    std::string label;  // RFC 4180: a quote inside a quoted field is doubled
    for (char c : r.label) label += c == '"' ? std::string("\"\"") : std::string(1, c);
    // Empty where undefined: no value, or a std of one seed (not a measured 0).
    auto stat = [](const Stat& s, bool sd) {
      if (s.values.empty() || (sd && s.values.size() < 2)) return std::string();
      return fmt::format("{:.4f}", sd ? s.std() : s.mean());
    };
    // "change,p" of a metric against the row r modifies; empty where undefined.
    auto change_cols = [&](Stat TableRow::*metric) {
      const Change c = change_of(t, r, metric);
      return fmt::format("{},{}", c.test ? fmt::format("{:.4f}", c.test->diff) : "",
                         c.test && c.test->p >= 0 ? fmt::format("{:.6f}", c.test->p) : "");
    };
    const TableRow* parent = t.parent_of(r);
    csv += fmt::format("{},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.row, label, stat(r.top1, false),
                       stat(r.top1, true), r.top1.values.size(), r.pending, num(r, "acc"),
                       stat(r.fid, false), stat(r.fid, true), num(r, "fid"),
                       r.paper.count("uncertain") ? 1 : 0, stat(r.knn, false), stat(r.knn, true),
                       parent ? std::to_string(parent->row) : "", change_cols(&TableRow::top1),
                       change_cols(&TableRow::fid),
                       r.unfinished.count("failed") ? r.unfinished.at("failed") : 0, r.uses_labels ? 1 : 0,
                       stat(r.ft, false), stat(r.ft, true), num(r, "ft"), change_cols(&TableRow::ft),
                       stat(r.images, false), stat(r.flops, false), stat(r.train_s, false), r.method,
                       sets.empty() ? "" : "\"" + sets + "\"");
  }
  return csv;
}

}  // namespace ldae
