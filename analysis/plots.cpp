#include "analysis/plots.hpp"

#include "analysis/gnuplot.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"
#include "core/records/records.hpp"

namespace ldae {
namespace fs = std::filesystem;
namespace {

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "NaN"; }

std::string csv_text(const std::string& s) {
  std::string o = "\"";
  for (char c : s) o += c == '"' ? '\'' : c;
  return o + "\"";
}

std::string shorten(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

double paper_acc(const TableRow& r) {
  auto it = r.paper.find("acc");
  return it == r.paper.end() ? NAN : it->second;
}
double ours_mean(const TableRow& r) { return r.top1.values.empty() ? NAN : r.top1.mean(); }
double ours_std(const TableRow& r) { return r.top1.values.size() > 1 ? r.top1.std() : 0.0; }

// The common head of a script: PNG first; `finish` adds the PDF replot.
std::string head(const std::string& png, int w, int h, const std::string& title) {
  return fmt::format(
      "# drawn by make_tables --figures; run `gnuplot {}` to redraw\n"
      "set datafile separator \",\"\n"
      "set terminal pngcairo noenhanced size {},{} font \"DejaVu Sans,10\"\n"
      "{}"
      "set title {}\n"
      "set key outside bottom center horizontal\n"
      "set grid\n",
      fs::path(png).replace_extension(".gp").filename().string(), w, h,
      gp_output(fs::path(png).filename().string(), 0), gp_string(title));
}
std::string finish(const std::string& pdf, int w, int h) {
  return fmt::format(
      "set terminal pdfcairo noenhanced size {:.2f}in,{:.2f}in font \"DejaVu Sans,9\"\n"
      "{}replot\nunset output\n",
      w / 100.0, h / 100.0, gp_output(fs::path(pdf).filename().string(), 1));
}

void write_text(const std::string& path, const std::string& text) { write_text_atomically(path, text); }

bool all_numeric(const std::vector<std::string>& v, std::vector<double>* out) {
  for (const auto& s : v) {
    char* end = nullptr;
    double x = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') return false;
    out->push_back(x);
  }
  return true;
}


// "probe.block=3" -> "3": a group's value on the heatmap's y axis.
std::string group_value(const std::string& g) {
  auto eq = g.rfind('=');
  return eq == std::string::npos ? g : g.substr(eq + 1);
}
// "probe.block=3" -> "probe.block" (the rows' grid key), "" for other groups.
std::string group_key(const std::vector<std::string>& groups) {
  auto eq = groups.empty() ? std::string::npos : groups[0].rfind('=');
  if (eq == std::string::npos) return "";
  auto comma = groups[0].rfind(", ", eq);
  return groups[0].substr(comma == std::string::npos ? 0 : comma + 2, eq - (comma == std::string::npos ? 0 : comma + 2));
}

// Cells of the heatmap: x, y (1-based column and group), the mean top-1 (NaN
// when no seed finished), its std and n; block 1 (index 1) is the best cell.
std::string heatmap_data(const Matrix& m) {
  std::string data = "# x,y,column,group,ours_mean,ours_std,n\n", best;
  double best_v = -1;
  for (size_t g = 0; g < m.groups.size(); ++g)
    for (size_t c = 0; c < m.columns.size(); ++c) {
      auto it = m.cell.find({m.groups[g], m.columns[c]});
      const TableRow* r = it == m.cell.end() ? nullptr : it->second;
      const double v = r ? ours_mean(*r) : NAN;
      const std::string line = fmt::format("{},{},{},{},{},{},{}\n", c + 1, g + 1, csv_text(m.columns[c]),
                                           csv_text(m.groups[g]), num(v), num(r ? ours_std(*r) : NAN),
                                           r ? r->top1.values.size() : 0);
      data += line;
      if (std::isfinite(v) && v > best_v) best_v = v, best = line;
    }
  return data + "\n\n# the best cell\n" + best;
}

std::string heatmap_script(const Table& t, const Matrix& m, const std::string& base) {
  const std::string csv = gp_string(fs::path(base + ".heatmap.csv").filename().string());
  std::string xt, yt;
  for (size_t c = 0; c < m.columns.size(); ++c) xt += fmt::format("{}{} {}", c ? ", " : "", gp_string(m.columns[c]), c + 1);
  for (size_t g = 0; g < m.groups.size(); ++g)
    yt += fmt::format("{}{} {}", g ? ", " : "", gp_string(group_value(m.groups[g])), g + 1);
  const std::string ykey = group_key(m.groups);
  return fmt::format(
      "set xlabel {1}\nset ylabel {2}\n"
      "set xtics ({3})\nset ytics ({4})\n"
      "set xrange [0.5:{5}.5]\nset yrange [0.5:{6}.5]\nunset grid\nunset key\n"
      "set cblabel \"linear-probe top-1 (%), mean over seeds\"\n"
      "set palette defined (0 \"#f7fbff\", 1 \"#9ecae1\", 2 \"#4292c6\")\n"
      "set style fill solid 1.0 noborder\n"
      "plot {0} index 0 using 1:2:(0.5):(0.5):5 with boxxyerror fc palette notitle, \\\n"
      "  {0} index 0 using 1:2:(sprintf(\"%.1f\", $5)) with labels font \",9\" notitle, \\\n"
      "  {0} index 1 using 1:2:(0.46):(0.46) with boxxyerror fs empty lc rgb \"#d62728\" lw 3 "
      "title \"best\"\n",
      csv, gp_string(axis_name(t)), gp_string(ykey.empty() ? "row" : ykey), xt, yt, m.columns.size(), m.groups.size());
}

// Where a table's figures go: their common file stem and title, the gnuplot
// to draw them with and the files written so far.
struct FigureSink {
  std::string gnuplot, base, title;
  std::vector<std::string> written;

  // One figure `kind`: its data (.csv) and script (.gp), drawn as .png and .pdf.
  void emit(const std::string& kind, const std::string& data, const std::string& body, int w, int h) {
    const std::string csv = base + "." + kind + ".csv", gpf = base + "." + kind + ".gp";
    const std::string png = base + "." + kind + ".png", pdf = base + "." + kind + ".pdf";
    write_text(csv, data);
    write_text(gpf, head(png, w, h, title) + body + finish(pdf, w, h));
    run_gnuplot(gnuplot, gpf, {png, pdf});
    for (const auto& f : {csv, gpf, png, pdf}) written.push_back(f);
  }
};

// 1. Accuracy bars, first row on top: ours (mean, std over seeds) and the paper's.
void accuracy_figure(const Table& t, FigureSink& sink) {
  const int n = int(t.rows.size());
  std::string data = "# y,label,ours_mean,ours_std,n,paper\n";
  for (int i = 0; i < n; ++i) {
    const auto& r = t.rows[size_t(i)];
    data += fmt::format("{},{},{},{},{},{}\n", n - i, csv_text(shorten(fmt::format("{}. {}", r.row, r.label), 60)),
                        num(ours_mean(r)), num(ours_std(r)), r.top1.values.size(), num(paper_acc(r)));
  }
  const std::string csv = gp_string(fs::path(sink.base + ".acc.csv").filename().string());
  const std::string body = fmt::format(
      "set xlabel \"linear-probe top-1 (%)\"\nset xrange [0:100]\nset yrange [0.4:{1}.6]\n"
      "set ytics scale 0\nset grid noytics\nset style fill solid 0.85 border -1\n"
      "plot {0} using (0):1:ytic(2) with dots lc rgb \"white\" notitle, \\\n"
      "  {0} using ($3/2):($1+0.18):($3/2):(0.16) with boxxyerror lc rgb \"#1f77b4\" title \"ours (mean, std over seeds)\", \\\n"
      "  {0} using 3:($1+0.18):4 with xerrorbars lc rgb \"black\" pt 0 notitle, \\\n"
      "  {0} using ($6/2):($1-0.18):($6/2):(0.16) with boxxyerror lc rgb \"#bbbbbb\" title \"paper (ImageNet-1K)\"\n",
      csv, n);
  sink.emit("acc", data, body, 1000, 140 + 34 * n);
}

// The series of a grid sweep: one data block and line per group over the
// grid values (numeric values on the x axis, log 2 when they span >= 8x;
// others as named tics). Fills *data and *body (the plot part of the script).
void grid_series(const Table& t, const Matrix& m, const std::string& base, std::string* data, std::string* body) {
  const auto& groups = m.groups;
  const auto& columns = m.columns;
  std::vector<double> xs;
  const bool numeric = all_numeric(columns, &xs);
  *data = "# x,group,ours_mean,ours_std,n,paper\n";
  for (size_t g = 0; g < groups.size(); ++g) {
    if (g) *data += "\n\n";  // gnuplot data blocks, addressed by `index`
    for (const auto& r : t.rows)
      if (r.group == groups[g]) {
        const size_t c = size_t(std::find(columns.begin(), columns.end(), r.column) - columns.begin());
        *data += fmt::format("{},{},{},{},{},{}\n", numeric ? num(xs[c]) : std::to_string(c + 1),
                             csv_text(r.group), num(ours_mean(r)), num(ours_std(r)),
                             r.top1.values.size(), num(paper_acc(r)));
      }
  }
  const std::string csv = gp_string(fs::path(base + ".series.csv").filename().string());
  const double lo = numeric ? *std::min_element(xs.begin(), xs.end()) : 1.0;
  const double hi = numeric ? *std::max_element(xs.begin(), xs.end()) : double(columns.size());
  *body += "set ylabel \"linear-probe top-1 (%)\"\n";
  *body += fmt::format("set xlabel {}\n", gp_string(axis_name(t)));
  if (numeric && lo > 0 && hi / lo >= 8) *body += "set logscale x 2\n";
  if (!numeric) {
    *body += "set xtics (";
    for (size_t c = 0; c < columns.size(); ++c)
      *body += fmt::format("{}{} {}", c ? ", " : "", gp_string(columns[c]), c + 1);
    *body += ")\n";
  }
  *body += "plot ";
  for (size_t g = 0; g < groups.size(); ++g)
    *body += fmt::format(
        "{}{} index {} using 1:3:4 with yerrorlines lc {} lw 2 title {}, \\\n"
        "  {} index {} using 1:6 with linespoints lc {} dt 2 title {}",
        g ? ", \\\n  " : "", csv, g, g + 1, gp_string("ours: " + groups[g]), csv, g, g + 1,
        gp_string("paper: " + groups[g]));
  *body += "\n";
}

// The series of any other sweep: one line over the rows in order, labelled
// tics. Fills *data and *body (the plot part of the script).
void row_series(const Table& t, const std::string& base, std::string* data, std::string* body) {
  const int n = int(t.rows.size());
  *data = "# x,label,ours_mean,ours_std,n,paper\n";
  for (int i = 0; i < n; ++i) {
    const auto& r = t.rows[size_t(i)];
    *data += fmt::format("{},{},{},{},{},{}\n", i + 1, csv_text(shorten(fmt::format("{}. {}", r.row, r.label), 28)),
                         num(ours_mean(r)), num(ours_std(r)), r.top1.values.size(), num(paper_acc(r)));
  }
  const std::string csv = gp_string(fs::path(base + ".series.csv").filename().string());
  *body = fmt::format(
      "set ylabel \"linear-probe top-1 (%)\"\nset xrange [0.5:{1}.5]\nset xtics rotate by -30\n"
      "set bmargin 10\n"
      "plot {0} using 1:3:4:xtic(2) with yerrorlines lc 1 lw 2 title \"ours (mean, std over seeds)\", \\\n"
      "  {0} using 1:6 with linespoints lc 2 dt 2 title \"paper (ImageNet-1K)\"\n",
      csv, n);
}

// 2. The rows as a series: grid sweeps one line per group over the grid
//    values; others one line over the rows in order.
void series_figure(const Table& t, FigureSink& sink) {
  const Matrix m = matrix_of(t);
  const bool grid = t.mode == "grid" && !m.columns.empty() && !m.columns[0].empty();
  std::string data, body;
  if (grid)
    grid_series(t, m, sink.base, &data, &body);
  else
    row_series(t, sink.base, &data, &body);
  sink.emit("series", data, body, 1000, 600);
}

// 3. Two-axis grid sweeps (DDAE's block x t map): a heatmap of the mean
//    top-1, each cell labelled, the best cell outlined.
void heatmap_figure(const Table& t, FigureSink& sink) {
  const Matrix m = matrix_of(t);
  if (t.mode == "grid" && m.groups.size() > 1 && m.columns.size() > 1) 
    sink.emit("heatmap", heatmap_data(m), heatmap_script(t, m, sink.base),
              std::max(700, 160 + 70 * int(m.columns.size())), std::max(500, 160 + 34 * int(m.groups.size())));
}

// 4. Pre-training loss curves, one per row (its first finished seed).
void loss_figure(const Table& t, Store& store, FigureSink& sink) {
  std::string data, plots;
  int blocks = 0;
  for (const auto& r : t.rows) {
    if (r.done_ids.empty()) continue;
    auto curve = store.metric(r.done_ids[0], "train.loss");
    if (curve.empty()) continue;
    if (blocks) data += "\n\n";
    data += fmt::format("# step,loss of run {} ({})\n", r.done_ids[0], r.label);
    for (const auto& p : curve) data += fmt::format("{},{}\n", p.step, num(p.value));
    // A curve of one logged point draws nothing "with lines": it gets a point.
    plots += fmt::format("{}{} index {} using 1:2 with {} lw 1.5 title {}",
                         blocks ? ", \\\n  " : "", gp_string(fs::path(sink.base + ".loss.csv").filename().string()),
                         blocks, curve.size() > 1 ? "lines" : "points pt 7 ps 1.5",
                         gp_string(shorten(fmt::format("{}. {}", r.row, r.label), 50)));
    ++blocks;
  }
  if (blocks > 0)
    sink.emit("loss", data,
              "set xlabel \"step\"\nset ylabel \"training loss (objective of the row)\"\n"
              "set logscale y\nset key outside right top vertical\nplot " + plots + "\n",
              1100, 600);
}

}  // namespace

std::vector<std::string> write_figures(const Table& t, Store& store, const std::string& dir) {
  FigureSink sink;
  sink.gnuplot = require_gnuplot();
  fs::create_directories(dir);
  sink.base = fmt::format("{}/{}.{}", dir, t.sweep, t.profile);
  sink.title = fmt::format("{} ({}, profile {})", t.title.empty() ? t.sweep : t.title, t.sweep, t.profile);
  accuracy_figure(t, sink);
  series_figure(t, sink);
  heatmap_figure(t, sink);
  loss_figure(t, store, sink);
  return sink.written;
}

}  // namespace ldae
