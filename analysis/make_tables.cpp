// make_tables: the results database -> one table per sweep and profile,
// printed as Markdown and written as .md/.tex/.csv under RESULTS/tables/;
// with --figures also its plots (gnuplot) under RESULTS/figures/.
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <filesystem>
#include <iostream>

#include "analysis/plots.hpp"
#include "analysis/tables.hpp"
#include "core/base/atomic_file.hpp"
#include "core/run/cli.hpp"
#include "core/base/errors.hpp"
#include "core/run/plugins.hpp"
#include "core/records/records.hpp"

namespace po = boost::program_options;
using namespace ldae;

int run(int argc, char** argv) {
  std::string results = "results", sweep, format = "md", out;
  std::vector<std::string> plugins;
  po::options_description opts("make_tables [options]\n\nRegenerate every sweep's table from "
                               "RESULTS/results.db.\nOptions");
  opts.add_options()("help,h", "print this help")(
      "results", po::value(&results), "results root (default: results)")(
      "sweep", po::value(&sweep), "only this sweep (its [sweep] name)")(
      "format", po::value(&format), "what to print: md (default), tex or csv; all three are written")(
      "out", po::value(&out), "write tables/ and figures/ under DIR instead of the results root (a read-only "
                              "results root is read into memory and written nowhere without it)")(
      "figures", "also draw figures with gnuplot (PNG + PDF + CSV + script) under RESULTS/figures/")(
      "plugin", po::value(&plugins)->composing(), "load a plugin shared library (repeatable)");
  po::variables_map vm;
  if (auto rc = parse_flags("make_tables", argc, argv, opts, vm)) return *rc;
  for (const auto& p : plugins) load_plugin(p, "--plugin");
  if (format != "md" && format != "tex" && format != "csv")
    throw InputError("--format '" + format + "': expected md, tex or csv");
  if (vm.count("figures")) require_gnuplot();  // before any table is written
  const std::string db = results + "/results.db";
  // No index yet but run folders (written with run_sweep --index off, e.g.
  // by Slurm array tasks): the index is built from them here.
  if (!std::filesystem::exists(db) && !std::filesystem::exists(results + "/sweeps"))
    throw InputError(db + ": no results database and no sweeps under " + results +
                     "; run a sweep first (make run)");
  // A read-only results root (finished sweeps on read-only media) is read
  // into memory: the tables print, and go to --out if given.
  const bool writable = index_writable(results);
  if (!writable)
    fmt::print(stderr, "make_tables: {} is read-only: its index is read into memory and nothing is written "
               "there{}\n", results, out.empty() ? "; the tables print below (--out DIR writes them to DIR)" : "");
  Store store(db, writable ? Store::Access::ReadWrite : Store::Access::InMemoryCopy);
  sync_index(store, results, "make_tables");
  const std::string root = out.empty() ? results : out;
  const bool write_files = writable || !out.empty();
  auto tables = collect_tables(store, sweep);
  if (tables.empty() && sweep.empty()) throw InputError(db + ": no sweeps recorded yet");
  if (tables.empty()) {  // name the ones there are: the fix is one of them
    std::string names;
    for (const auto& s : store.sweeps())
      if (names.find("'" + s.name + "'") == std::string::npos) names += (names.empty() ? "'" : ", '") + s.name + "'";
    throw InputError(fmt::format("{}: no sweep named '{}'; recorded: {} (--sweep takes the [sweep] name)", db, sweep,
                                 names.empty() ? "none" : names));
  }
  for (const auto& t : tables) {
    const std::string base = fmt::format("{}/tables/{}.{}", root, t.sweep, t.profile);
    fmt::print("{}\n", format == "md" ? to_markdown(t) : format == "tex" ? to_latex(t) : to_csv(t));
    if (write_files) {
      write_text_atomically(base + ".md", to_markdown(t));
      write_text_atomically(base + ".tex", to_latex(t));
      write_text_atomically(base + ".csv", to_csv(t));
      fmt::print("written: {}.{{md,tex,csv}}\n", base);
    }
    if (vm.count("figures") && !write_files)
      fmt::print("figures: not drawn ({} is read-only; --out DIR draws them there)\n", results);
    if (vm.count("figures") && write_files) {
      auto files = write_figures(t, store, root + "/figures");
      fmt::print("figures: {} files under {}/figures/ ({}.{}.*)\n", files.size(), root, t.sweep, t.profile);
    }
    fmt::print("\n");
  }
  return 0;
}

int main(int argc, char** argv) {
  return guarded_main("make_tables", [&] { return run(argc, argv); });
}
