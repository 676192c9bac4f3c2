// Sweep files -> run configs. Pure: parsing and expansion never touch the
// results folder; the launcher (run_sweep) only executes the plan.
//
//   [sweep]   name, title, mode = cumulative | independent | grid, seeds
//   [base]    a run config (any key of `run_sweep --list`)
//   [profile.NAME]  overrides (e.g. tiny for CPU minutes), optional seeds
//   [[row]]   label, paper.* numbers, keys; standalone = true applies the
//             row to base only (anchors such as the raw-pixel baseline)
//   [grid]    key = [values...]: grid mode runs every row x grid point;
//             a row's paper.KEY may then be a list, one value per point
//             (nan = the paper has no number there); [profile.NAME.grid]
//             replaces grid values for that profile (small images, other d)
//   profile.NAME.KEY = v inside a [[row]] replaces the row's KEY under that
//             profile (e.g. tiny trains 5 epochs where the paper trains 400)
//   extends = "OTHER" in [profile.NAME]: NAME is OTHER plus its own keys
//             (Table 4's ViT-L profile is its ViT-B one at another size)
//   plugins = ["name" | "path.so"]  plugins the sweep needs (see core/run/plugins.hpp)
//   paper.uncertain = true marks a row whose paper numbers are unclear in
//             the source ([U] in paper/ldae.md); tables print them with [U]
//
// A run = defaults <- base <- profile <- row(s) <- grid point <- --set.
// Seeds: `seeds` lists (no duplicates) run every row once per seed; a `seed`
// key in the file is refused (it would be overwritten), --set seed=N runs
// seed N alone. Duplicate grid values are refused too (file:line).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace ldae {

struct SweepRow {
  int index = 0;  // 1-based, as printed
  std::string label;
  bool standalone = false;
  std::map<std::string, double> paper;
  std::map<std::string, std::vector<double>> paper_list;  // grid mode: per point
  Overrides keys;
  std::map<std::string, Overrides> profile_keys;  // profile name -> row keys under it
  Origin origin;
  // compare = N: the table tests this row against [[row]] N (Welch's t over
  // seeds, as a cumulative row against the row it modifies); 0 = none.
  int compare = 0;
  Origin compare_origin;
  std::map<std::string, std::map<std::string, double>> profile_paper;  // profile -> paper.KEY under it
};

using Grid = std::vector<std::pair<std::string, std::vector<Setting>>>;

struct SweepFile {
  std::string path, name, title, mode = "independent";
  std::vector<int64_t> seeds{0};
  Overrides base;
  std::map<std::string, Overrides> profiles;
  std::map<std::string, std::vector<int64_t>> profile_seeds;
  std::vector<SweepRow> rows;
  Grid grid;
  std::map<std::string, Grid> profile_grid;
  // [profile.NAME] extends = "OTHER": NAME starts from OTHER (its overrides,
  // seeds, grid and the rows' profile.OTHER keys), then applies its own.
  std::map<std::string, std::pair<std::string, Origin>> profile_extends;
  // plugins = [...] (top level or in [sweep]): names or paths to load first.
  std::vector<std::pair<std::string, Origin>> plugins;
};

struct PlannedRun {
  int row = 0;
  std::string label;
  int64_t seed = 0;
  RunConfig cfg;
  std::string id;
  std::map<std::string, double> paper;
  int parent = 0;  // cumulative sweeps: the row this one modifies (0: the base config)
};

// Where run_sweep looks for a sweep file given by a bare name (no '/'),
// like Hydra's config path: each folder of $LDAE_SWEEP_PATH (colon-separated),
// then <prefix>/share/ldae/experiments beside the installed program, then the
// source tree's experiments/.
std::vector<std::string> sweep_search_path();
// The sweep file `name` names: the path itself when it exists, else a bare
// name (".toml" optional) found on sweep_search_path(). InputError listing
// the folders searched otherwise.
std::string find_sweep_file(const std::string& name);

// Throws InputError with file:line:column for syntax errors and file:line +
// key for unknown sections, keys and types.
SweepFile parse_sweep(const std::string& path);
SweepFile parse_sweep_text(const std::string& text, const std::string& path);

// The profiles `profile` is made of, the one it extends first (["paper",
// "paper_l"]); empty for "". InputError naming the known ones for an
// unknown profile.
std::vector<std::string> profile_chain(const SweepFile& s, const std::string& profile);

// Expand rows x seeds (x grid) for a profile ("" = none) and validate every
// config before returning. Unknown profile -> InputError listing the known ones.
std::vector<PlannedRun> expand(const SweepFile& s, const std::string& profile, const Overrides& cli);

}  // namespace ldae
