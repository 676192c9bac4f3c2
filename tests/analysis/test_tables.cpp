// Tables from an index: cumulative sweeps show each row's change against
// the row it modifies, with Welch's p over seeds, beside the paper's change.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/base/filesystem.hpp"
#include "analysis/stats.hpp"
#include "analysis/tables.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
// An index with one sweep: rows of (parent, paper acc, per-seed top-1).
struct FakeRow {
  int parent;
  double paper_acc;
  std::vector<double> top1;
  std::vector<double> fid = {};  // per seed, where the sweep generates
};
std::unique_ptr<Store> index_of(const std::string& name, const std::string& mode, const std::vector<FakeRow>& rows) {
  auto dir = fs::path(test::temp_dir("tables-" + std::string(name)));
  auto store = std::make_unique<Store>((dir / "results.db").string());
  SweepRecord s{name, "tiny", "title", "f.toml", mode, {}};
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t k = 0; k < rows[i].top1.size(); ++k) {
      RunRow r;
      r.id = fmt::format("r{}s{}", i + 1, k);
      r.status = "done";
      r.seed = int64_t(k);
      std::map<std::string, std::vector<MetricPoint>> metrics = {{"probe.top1", {{0, rows[i].top1[k]}}}};
      if (k < rows[i].fid.size()) metrics["eval.fid"] = {{0, rows[i].fid[k]}};
      store->put_run(r, {}, metrics);
      std::map<std::string, double> paper;
      if (rows[i].paper_acc > 0) paper["acc"] = rows[i].paper_acc;
      s.rows.push_back({int(i + 1), fmt::format("row {}", i + 1), int64_t(k), r.id, paper, rows[i].parent});
    }
  }
  store->put_sweep(s);
  return store;
}

std::string line_of(const std::string& text, const std::string& start) {
  auto at = text.find(start);
  return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
}
}  // namespace

TEST(Tables, CumulativeRowsShowTheirChangeAndWelchP) {
  // Row 3 is a standalone anchor; row 4 modifies row 2 (the chain skips it).
  auto store = index_of("chain", "cumulative",
                        {{0, 57.5, {80.0, 80.2, 79.8}},
                         {1, 62.5, {78.0, 78.6, 77.4}},
                         {0, -1, {82.3}},
                         {2, 58.4, {78.05, 78.3, 77.7}},
                         {4, 59.0, {90.0, 90.1, 89.9}}});
  auto tables = collect_tables(*store);
  ASSERT_EQ(tables.size(), 1u);
  const auto& t = tables[0];
  ASSERT_TRUE(t.has_deltas());
  EXPECT_EQ(t.parent_of(t.rows[3])->row, 2);
  EXPECT_EQ(t.parent_of(t.rows[2]), nullptr);
  const auto md = to_markdown(t);
  EXPECT_NE(md.find("| ours change (p) | paper change |"), std::string::npos) << md;
  const double p2 = welch_t_test({78.0, 78.6, 77.4}, {80.0, 80.2, 79.8}).p;
  const double p4 = welch_t_test({78.05, 78.3, 77.7}, {78.0, 78.6, 77.4}).p;
  EXPECT_GT(p2, 0.001);
  EXPECT_LT(p2, 0.05);  // two points against stds of 0.2 and 0.6: a change
  EXPECT_GT(p4, 0.5);   // 0.02 points: noise
  EXPECT_NE(line_of(md, "| 2 | row 2 |").find(fmt::format("| -2.00 vs 1 (p {:.3f}) | +5.0 |", p2)),
            std::string::npos) << md;
  EXPECT_NE(line_of(md, "| 3 | row 3 |").find("| - | - |"), std::string::npos) << md;
  EXPECT_NE(line_of(md, "| 4 | row 4 |").find(fmt::format("| +0.02 vs 2 (p {:.3f}) | -4.1 |", p4)),
            std::string::npos) << md;
  EXPECT_NE(line_of(md, "| 5 | row 5 |").find("| +11.98 vs 4 (p < 0.001) | +0.6 |"), std::string::npos) << md;
  EXPECT_NE(md.find("Welch's t-test"), std::string::npos);
  // CSV: parent, change and p as numbers; LaTeX: the same columns.
  const auto csv = to_csv(t);
  EXPECT_NE(csv.find(",parent,change,change_p,fid_change,fid_change_p,failed,uses_labels,ft_mean,ft_std,paper_ft,"
                     "ft_change,ft_change_p,images_seen,train_flops,train_s,method,overrides\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(fmt::format(",1,-2.0000,{:.6f},,,0,0,,,,,,,,,denoise,\n", p2)), std::string::npos) << csv;
  // One seed: its std is empty (undefined), not a measured 0.
  EXPECT_NE(csv.find("\"row 3\",82.3000,,1,0,,,,,0,,,,,,,,0,0,,,,,,,,,denoise,\n"), std::string::npos) << csv;
  EXPECT_EQ(to_markdown(t).find("FID change"), std::string::npos);  // no FID in this sweep
  EXPECT_NE(to_latex(t).find("& ours change ($p$) & paper change"), std::string::npos);
  // Three changes with a p: Holm's correction in the footnote (rows 2, 4, 5).
  const double p5 = welch_t_test({90.0, 90.1, 89.9}, {78.05, 78.3, 77.7}).p;
  const auto adj = holm_adjust({p2, p4, p5});
  EXPECT_NE(md.find(fmt::format("(family-wise error, compare with 0.05): row 2 {:.3f}, row 4 {:.3f}, row 5 {:.3f}.",
                                adj[0], adj[1], adj[2])), std::string::npos) << md;
  EXPECT_NE(md.find("Holm: the 3 top-1 changes with a p are 3 tests at once"), std::string::npos) << md;
}

TEST(Tables, SweepsThatGenerateTestTheirFidChangeToo) {
  auto store = index_of("fid", "cumulative",
                        {{0, 57.5, {80.0, 80.2}, {190.0, 186.0}}, {1, 62.5, {80.1, 80.0}, {170.0, 176.0}}});
  const auto t = collect_tables(*store).at(0);
  const auto md = to_markdown(t);
  EXPECT_NE(md.find("| ours FID | paper FID | ours FID change (p) | paper FID change |"), std::string::npos) << md;
  const double p = welch_t_test({170.0, 176.0}, {190.0, 186.0}).p;
  EXPECT_NE(line_of(md, "| 2 | row 2 |").find(fmt::format("| -15.0 vs 1 (p {:.3f}) | - |", p)), std::string::npos)
      << md;
  EXPECT_NE(to_csv(t).find(fmt::format(",-15.0000,{:.6f},0,0,,,,,,,,,denoise,\n", p)), std::string::npos) << to_csv(t);
  EXPECT_NE(to_latex(t).find("& FID change ($p$) & paper FID change"), std::string::npos);
}

TEST(Tables, OneSeedGivesTheChangeWithoutP) {
  auto store = index_of("single", "cumulative", {{0, 65.1, {80.0}}, {1, 64.5, {81.25}}});
  const auto md = to_markdown(collect_tables(*store).at(0));
  EXPECT_NE(line_of(md, "| 2 | row 2 |").find("| +1.25 vs 1 | -0.6 |"), std::string::npos) << md;
}

TEST(Tables, IndependentSweepsHaveNoChangeColumn) {
  auto store = index_of("indep", "independent", {{0, 65.1, {80.0, 80.1}}, {0, 64.5, {81.0, 81.1}}});
  const auto t = collect_tables(*store).at(0);
  EXPECT_FALSE(t.has_deltas());
  EXPECT_EQ(to_markdown(t).find("change"), std::string::npos);
}

// Issue 14 item 12: every LaTeX special character escaped (text mode).
TEST(Tables, TexEscapeEveryTenSpecialCharacters) {
  EXPECT_EQ(tex_escape("lambda = gamma^2"), "lambda = gamma\\textasciicircum{}2");
  EXPECT_EQ(tex_escape("# $ % & _ { }"), "\\# \\$ \\% \\& \\_ \\{ \\}");
  EXPECT_EQ(tex_escape("a~b\\c"), "a\\textasciitilde{}b\\textbackslash{}c");
  EXPECT_EQ(tex_escape("plain text 1.0 [U]"), "plain text 1.0 [U]");
}

// Issue 14 item 5: rows without a finished run name why (failed, running,
// pending), failed runs' errors are listed, and the CSV counts failures.
TEST(Tables, UnfinishedRowsSayFailedRunningOrPending) {
  auto store = index_of("unfinished", "independent", {{0, 60, {50}}});
  SweepRecord s = store->sweeps().at(0);
  RunRow failed, running;
  failed.id = "rf", failed.status = "failed", failed.error = "tokenizer diverged";
  running.id = "rr", running.status = "running";
  store->put_run(failed, {}, {});
  store->put_run(running, {}, {});
  s.rows.push_back({2, "row 2", 0, "rf", {}, 0});
  s.rows.push_back({3, "row 3", 0, "rr", {}, 0});
  s.rows.push_back({4, "row 4", 0, "never-started", {}, 0});
  store->put_sweep(s);
  const auto t = collect_tables(*store).at(0);
  const std::string md = to_markdown(t);
  EXPECT_NE(line_of(md, "| 2 |").find("| failed | 0 (+1 failed) |"), std::string::npos) << md;
  EXPECT_NE(line_of(md, "| 3 |").find("| running | 0 (+1 running) |"), std::string::npos) << md;
  EXPECT_NE(line_of(md, "| 4 |").find("| pending | 0 (+1 pending) |"), std::string::npos) << md;
  EXPECT_NE(md.find("- row 2, seed 0 (rf): tokenizer diverged"), std::string::npos) << md;
  const std::string csv = to_csv(t);
  // failed, uses_labels, then the fine-tuning and budget columns (empty), the method and the overrides (none)
  auto tail = [&](const std::string& start) {
    const std::string l = line_of(csv, start);
    const auto end = l.size() - std::string(",,,,,,,,,denoise,").size();
    return l.substr(l.rfind(',', l.rfind(',', end - 1) - 1), end - l.rfind(',', l.rfind(',', end - 1) - 1));
  };
  EXPECT_EQ(tail("2,"), ",1,0") << csv;
  EXPECT_EQ(tail("3,"), ",0,0") << csv;
}

// Issue 14 item 12: a generated table compiles with pdflatex (Debian's
// texlive-latex-base + booktabs) when present, labels full of specials.
TEST(Tables, LatexTableCompilesWithPdflatex) {
  if (std::system("command -v pdflatex > /dev/null 2>&1 && kpsewhich booktabs.sty > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "pdflatex or booktabs.sty not installed (texlive-latex-base, texlive-latex-recommended)";
  auto store = index_of("latex", "cumulative", {{0, 65.1, {60, 61}}, {1, 62.4, {58, 59}}});
  SweepRecord s = store->sweeps().at(0);
  s.rows[2].label = s.rows[3].label = "lambda = gamma^2 ~ $x$ \\ {a} _b 50% & #1";
  s.rows[0].paper["uncertain"] = 1;
  store->put_sweep(s);
  const std::string dir = test::temp_dir("pdflatex");
  {
    std::ofstream f(dir + "/t.tex");
    f << "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
      << to_latex(collect_tables(*store).at(0)) << "\\end{document}\n";
  }
  const int rc = std::system(("cd " + dir + " && pdflatex -interaction=nonstopmode -halt-on-error t.tex > log.txt 2>&1").c_str());
  EXPECT_EQ(rc, 0) << std::ifstream(dir + "/log.txt").rdbuf();
  EXPECT_TRUE(fs::exists(dir + "/t.pdf"));
  remove_tree(dir);
}

// A plan made with --set values (other runs than the sweep file alone
// plans) says so in every format; the file's own plan says nothing.
TEST(Tables, APlanWithSetValuesSaysSo) {
  auto store = index_of("sets", "independent", {{0, 60, {50}}});
  EXPECT_EQ(to_markdown(collect_tables(*store).at(0)).find("Planned with"), std::string::npos);
  SweepRecord s = store->sweeps().at(0);
  s.overrides = {"train.epochs=1", "seed=5"};
  store->put_sweep(s);
  ASSERT_EQ(store->sweeps().at(0).overrides, s.overrides);  // kept by the index
  const auto t = collect_tables(*store).at(0);
  EXPECT_NE(to_markdown(t).find("Planned with `--set train.epochs=1`, `--set seed=5`: each row is the run of the "
                                "sweep file with them."),
            std::string::npos) << to_markdown(t);
  EXPECT_NE(to_latex(t).find("% Planned with"), std::string::npos) << to_latex(t);
  EXPECT_NE(to_csv(t).find(",denoise,\"train.epochs=1; seed=5\"\n"), std::string::npos) << to_csv(t);
}

// Labels with the tables' own syntax: Markdown pipes and line breaks, CSV
// quotes (RFC 4180: doubled).
TEST(Tables, MarkdownAndCsvEscapeOddLabels) {
  EXPECT_EQ(md_escape("a | b\nc"), "a \\| b c");
  auto store = index_of("odd", "independent", {{0, 60, {50}}});
  SweepRecord s = store->sweeps().at(0);
  s.rows[0].label = "a | b, \"c\"";
  store->put_sweep(s);
  const auto t = collect_tables(*store).at(0);
  EXPECT_NE(to_markdown(t).find("| a \\| b, \"c\" |"), std::string::npos) << to_markdown(t);
  EXPECT_NE(to_csv(t).find("1,\"a | b, \"\"c\"\"\",50.0000"), std::string::npos) << to_csv(t);
}
