#include "core/config/sweep.hpp"
#include "core/base/plural.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace ldae {
namespace {

Origin origin_of(const toml::node& n, const std::string& path) {
  return Origin{path, int(n.source().begin.line)};
}

Value value_of(const toml::node& n, const std::string& key, const std::string& path) {
  if (auto b = n.as_boolean()) return b->get();
  if (auto i = n.as_integer()) return int64_t(i->get());
  if (auto d = n.as_floating_point()) return d->get();
  if (auto s = n.as_string()) return s->get();
  // Sweep-level lists written inside a table: say where they belong.
  const std::string leaf = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
  const std::string where = leaf == "plugins" || leaf == "seeds"
                                ? fmt::format("; `{} = [...]` belongs at the top level or in [sweep] (seeds "
                                              "also in a [profile.NAME])",
                                              leaf)
                                : "";
  throw config_error(origin_of(n, path), key,
                     "expected a boolean, number or string (arrays and tables are not run settings)" + where);
}

// Flatten nested tables: [base] data.name = "x" -> "data.name". Nodes are
// read in place (a copied node loses its source line).
void flatten(const toml::table& t, const std::string& prefix, const std::string& path,
             Overrides& out);
void flatten_entry(const std::string& key, const toml::node& node, const std::string& path,
                   Overrides& out) {
  if (auto sub = node.as_table()) {
    flatten(*sub, key, path, out);
    return;
  }
  // One key in two spellings ("train.epochs" quoted and train.epochs
  // dotted, which TOML keeps apart): an error, as any key set twice.
  const Origin here = origin_of(node, path);
  if (auto it = out.find(key); it != out.end())
    throw config_error(here, key, fmt::format("set twice in one table (also at line {}, spelt another way: a "
                                              "quoted \"{}\" and a dotted {} are the same key here); keep one",
                                              it->second.origin.line, key, key));
  out[key] = Setting{value_of(node, key, path), here};
}
void flatten(const toml::table& t, const std::string& prefix, const std::string& path,
             Overrides& out) {
  for (const auto& [k, node] : t)
    flatten_entry(prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str()), node,
                  path, out);
}

std::vector<int64_t> int_list(const toml::node& n, const std::string& key, const std::string& path) {
  auto arr = n.as_array();
  if (!arr || arr->empty())
    throw config_error(origin_of(n, path), key, "expected a non-empty list of integers, e.g. [0, 1, 2]");
  std::vector<int64_t> out;
  for (const auto& e : *arr) {
    auto i = e.as_integer();
    if (!i) throw config_error(origin_of(e, path), key, "expected integers in the list");
    if (i->get() < 0)
      throw config_error(origin_of(e, path), key, fmt::format("seed {}: seeds are 0 or more", i->get()));
    if (std::find(out.begin(), out.end(), i->get()) != out.end())
      throw config_error(origin_of(e, path), key,
                         fmt::format("seed {} is listed twice; each seed is one run of every row", i->get()));
    out.push_back(i->get());
  }
  return out;
}

[[noreturn]] void unknown(const toml::node& n, const std::string& path, const std::string& key,
                          const std::vector<std::string>& known) {
  std::string hint = closest(key, known);
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw config_error(origin_of(n, path), key,
                     "unknown " + std::string(key.find('.') == std::string::npos ? "entry" : "key") +
                         (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; expected one of: " + list);
}

// Sweep and profile names name files (sweeps/<name>.<profile>.json, tables/
// ...): letters, digits, '_', '-' and '.', not starting with '.', so that no
// name reaches outside the results root or into a sub-folder.
std::string file_name_part(const std::string& v, const Origin& where, const std::string& key) {
  const bool ok = !v.empty() && v.size() <= 100 && v[0] != '.' &&
                  std::all_of(v.begin(), v.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
                  });
  if (!ok)
    throw config_error(where, key, "\"" + v + "\" names files under the results root: use letters, "
                                   "digits, '_', '-' and '.' (not first), at most 100, e.g. \"table3\"");
  return v;
}

// `seed` is not a run setting in a sweep file: the sweep's seeds list runs
// every row once per seed, so a single seed key would be overwritten.
[[noreturn]] void refuse_seed(const Origin& where) {
  throw config_error(where, "seed",
                     "seeds are set by `seeds = [0, 1, 2]` in [sweep] (or [profile.NAME]), each a "
                     "run of every row; write `seeds = [5]` there (or run_sweep --set seed=5)");
}
void refuse_seed_in(const Overrides& o) {
  if (auto it = o.find("seed"); it != o.end()) refuse_seed(it->second.origin);
}

Grid parse_grid(const toml::table& t, const std::string& path) {
  Grid grid;
  std::function<void(const toml::table&, const std::string&)> walk =
      [&](const toml::table& tt, const std::string& prefix) {
        for (const auto& [gk, gn] : tt) {
          std::string gkey = prefix.empty() ? std::string(gk.str()) : prefix + "." + std::string(gk.str());
          if (auto sub = gn.as_table()) {
            walk(*sub, gkey);
            continue;
          }
          auto arr = gn.as_array();
          if (!arr || arr->empty())
            throw config_error(origin_of(gn, path), gkey, "grid values must be a non-empty list");
          if (gkey == "seed") refuse_seed(origin_of(gn, path));
          std::vector<Setting> vals;
          for (const auto& e : *arr) {
            Setting v{value_of(e, gkey, path), origin_of(e, path)};
            for (const auto& w : vals)
              if (value_str(w.value) == value_str(v.value))
                throw config_error(v.origin, gkey, fmt::format("grid value {} is listed twice{}; each "
                                   "value is one column of the table", value_shown(v.value),
                                   w.origin.line != v.origin.line ? fmt::format(" (line {} too)", w.origin.line) : ""));
            vals.push_back(v);
          }
          grid.emplace_back(gkey, vals);
        }
      };
  walk(t, "");
  return grid;
}

// paper.KEY = number | [numbers or nan] (grid rows) | true (uncertain flag).
void parse_paper(const toml::table& t, const std::string& path, SweepRow& r, const std::string& prefix = "") {
  for (const auto& [pk, pn] : t) {
    const std::string key(pk.str()), full = prefix + "paper." + key;
    // The numbers tables print beside ours; a misspelt one would vanish silently.
    if (key != "acc" && key != "ft" && key != "fid" && key != "uncertain")
      throw config_error(origin_of(pn, path), full,
                         "unknown paper number; expected paper.acc (linear-probe top-1), paper.ft (fine-tuning "
                         "top-1), paper.fid or paper.uncertain = true");
    if (auto arr = pn.as_array()) {
      std::vector<double> v;
      for (const auto& e : *arr) {
        if (auto d = e.as_floating_point()) v.push_back(d->get());
        else if (auto i = e.as_integer()) v.push_back(double(i->get()));
        else throw config_error(origin_of(e, path), full, "expected numbers (nan for a missing cell)");
      }
      r.paper_list[key] = v;
    } else if (auto d = pn.as_floating_point()) {
      r.paper[key] = d->get();
    } else if (auto i = pn.as_integer()) {
      r.paper[key] = double(i->get());
    } else if (auto b = pn.as_boolean()) {
      if (key != "uncertain")
        throw config_error(origin_of(pn, path), full, "only paper.uncertain may be true/false");
      if (b->get()) r.paper[key] = 1.0;
    } else {
      throw config_error(origin_of(pn, path), full, "expected a number (the paper's value)");
    }
  }
}

// plugins = ["masking_noise", "path/to/libx.so"]: what the sweep needs loaded.
void parse_plugins(const toml::node& n, const std::string& key, const std::string& path,
                   SweepFile& s) {
  auto arr = n.as_array();
  if (!arr)
    throw config_error(origin_of(n, path), key,
                       "expected a list of plugin names or paths, e.g. [\"masking_noise\"]");
  for (const auto& e : *arr) {
    auto str = e.as_string();
    if (!str || str->get().empty())
      throw config_error(origin_of(e, path), key, "expected plugin names or paths (strings)");
    s.plugins.emplace_back(str->get(), origin_of(e, path));
  }
}

}  // namespace

std::vector<std::string> sweep_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("LDAE_SWEEP_PATH")) {
    std::stringstream ss(env);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.push_back(d);
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "share/ldae/experiments").string());
  dirs.push_back(std::string(LDAE_SOURCE_DIR) + "/experiments");
  return dirs;
}

std::string find_sweep_file(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(name, ec)) return name;
  if (fs::is_directory(name, ec))
    throw InputError(name + ": a folder, not a sweep file; give a .toml file (e.g. " + name +
                     "/quickstart.toml)");
  const bool bare = name.find('/') == std::string::npos;
  std::vector<std::string> names = {name};
  if (fs::path(name).extension() != ".toml") names.push_back(name + ".toml");
  std::string searched;
  if (bare)
    for (const auto& dir : sweep_search_path()) {
      for (const auto& n : names)
        if (fs::is_regular_file(fs::path(dir) / n, ec)) return (fs::path(dir) / n).string();
      searched += "\n  " + dir;
    }
  if (!bare && names.size() > 1 && fs::is_regular_file(names[1], ec)) return names[1];
  throw InputError(fmt::format(
      "{}: no such sweep file{}{}", name,
      bare ? "; looked here and in (LDAE_SWEEP_PATH, then the installed and the source experiments/):" : "",
      bare ? searched + "\ngive a path, or list the sweeps with `ls` in one of those folders"
           : " (check the path; a bare name such as ablation_table1.toml is looked up in experiments/)"));
}

SweepFile parse_sweep(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw InputError(path + ": cannot open sweep file (check the path and its permissions)");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_sweep_text(ss.str(), path);
}

namespace {

// [sweep]: name, title, mode, seeds, description, plugins.
void parse_sweep_table(const toml::node& node, const std::string& path, SweepFile& s) {
  auto t = node.as_table();
  if (!t) throw config_error(origin_of(node, path), "sweep", "expected a table [sweep]");
  for (const auto& [sk, sn] : *t) {
    const std::string skey = "sweep." + std::string(sk.str());
    if (skey == "sweep.seeds") {
      s.seeds = int_list(sn, skey, path);
      continue;
    }
    if (skey == "sweep.plugins") {
      parse_plugins(sn, skey, path, s);
      continue;
    }
    auto str = sn.as_string();
    if (skey != "sweep.name" && skey != "sweep.title" && skey != "sweep.mode" &&
        skey != "sweep.description")
      unknown(sn, path, skey, {"sweep.name", "sweep.title", "sweep.mode", "sweep.seeds",
                               "sweep.description", "sweep.plugins"});
    if (!str) throw config_error(origin_of(sn, path), skey, "expected a string");
    if (skey == "sweep.name") s.name = file_name_part(str->get(), origin_of(sn, path), skey);
    if (skey == "sweep.title") s.title = str->get();
    if (skey == "sweep.mode") {
      s.mode = str->get();
      if (s.mode != "cumulative" && s.mode != "independent" && s.mode != "grid")
        throw config_error(origin_of(sn, path), skey,
                           "unknown mode \"" + s.mode + "\"; expected cumulative, independent or grid");
    }
  }
}

// [profile.NAME] tables: overrides, and a profile's own seeds and grid.
void parse_profiles(const toml::node& node, const std::string& path, SweepFile& s) {
  auto t = node.as_table();
  if (!t) throw config_error(origin_of(node, path), "profile", "expected tables [profile.NAME]");
  for (const auto& [pk, pn] : *t) {
    auto pt = pn.as_table();
    const std::string pname = file_name_part(std::string(pk.str()), origin_of(pn, path), "profile");
    if (!pt) throw config_error(origin_of(pn, path), "profile." + pname, "expected a table");
    Overrides o;
    for (const auto& [ek, en] : *pt) {
      if (ek.str() == "seeds") {
        s.profile_seeds[pname] = int_list(en, "profile." + pname + ".seeds", path);
        continue;
      }
      if (ek.str() == "extends") {
        auto str = en.as_string();
        if (!str) throw config_error(origin_of(en, path), "profile." + pname + ".extends",
                                     "expected the name of another profile, e.g. extends = \"paper\"");
        s.profile_extends[pname] = {str->get(), origin_of(en, path)};
        continue;
      }
      if (ek.str() == "grid") {
        auto gt = en.as_table();
        if (!gt) throw config_error(origin_of(en, path), "profile." + pname + ".grid", "expected a table");
        s.profile_grid[pname] = parse_grid(*gt, path);
        continue;
      }
      flatten_entry(std::string(ek.str()), en, path, o);
    }
    s.profiles[pname] = o;
  }
}

// A row's own fields (label, standalone, compare) out of its flat keys; the
// rest are config keys.
void take_row_fields(Overrides& flat, SweepRow& r) {
  for (auto& [fk, fv] : flat) {
    if (fk == "label") {
      if (!std::holds_alternative<std::string>(fv.value))
        throw config_error(fv.origin, fk, "expected a string");
      r.label = std::get<std::string>(fv.value);
    } else if (fk == "standalone") {
      if (!std::holds_alternative<bool>(fv.value))
        throw config_error(fv.origin, fk, "expected true or false");
      r.standalone = std::get<bool>(fv.value);
    } else if (fk == "compare") {
      if (!std::holds_alternative<int64_t>(fv.value))
        throw config_error(fv.origin, fk, "expected the number of another [[row]] (1, 2, ...)");
      const int64_t n = std::get<int64_t>(fv.value);
      if (n < 1 || n > 1000000)
        throw config_error(fv.origin, fk, fmt::format("{} is not a [[row]] number (rows count from 1)", n));
      r.compare = int(n);
      r.compare_origin = fv.origin;
    } else {
      r.keys[fk] = fv;
    }
  }
}

// [[row]] entries: keys, paper numbers, per-profile keys, label.
void parse_rows(const toml::node& node, const std::string& path, SweepFile& s) {
  auto arr = node.as_array();
  if (!arr) throw config_error(origin_of(node, path), "row", "expected [[row]] entries");
  int index = 0;
  for (const auto& rn : *arr) {
    auto rt = rn.as_table();
    if (!rt) throw config_error(origin_of(rn, path), "row", "expected [[row]] tables");
    SweepRow r;
    r.index = ++index;
    r.origin = origin_of(rn, path);
    Overrides flat;
    for (const auto& [ek, en] : *rt) {
      if (ek.str() == "paper" && en.as_table()) {
        parse_paper(*en.as_table(), path, r);
      } else if (ek.str() == "profile" && en.as_table()) {
        for (const auto& [pk, pn] : *en.as_table()) {
          auto pt = pn.as_table();
          if (!pt) throw config_error(origin_of(pn, path), "profile." + std::string(pk.str()),
                                      "expected row keys for that profile");
          const std::string pname(pk.str());
          Overrides& keys = r.profile_keys[pname];
          for (const auto& [k, n] : *pt) {
            if (k.str() != "paper" || !n.as_table()) {
              flatten_entry(std::string(k.str()), n, path, keys);
              continue;
            }
            // profile.NAME.paper.KEY: the paper's number beside that profile's runs.
            SweepRow numbers;
            parse_paper(*n.as_table(), path, numbers, "profile." + pname + ".");
            if (!numbers.paper_list.empty())
              throw config_error(origin_of(n, path), "profile." + pname + ".paper",
                                 "expected single numbers (lists of grid cells belong to the row's paper.KEY)");
            r.profile_paper[pname] = numbers.paper;
          }
        }
      } else {
        flatten_entry(std::string(ek.str()), en, path, flat);
      }
    }
    take_row_fields(flat, r);
    if (r.label.empty())
      throw config_error(r.origin, "label", "every [[row]] needs a label");
    s.rows.push_back(std::move(r));
  }
}

// What the whole file must hold: a name, rows or a grid, profiles that
// exist, no seed among the keys (seeds are an axis of their own).
void check_sweep_file(const SweepFile& s, const std::string& path) {
  if (s.name.empty()) throw InputError(path + ": [sweep] needs name = \"...\" (used by make_tables)");
  if (s.rows.empty() && s.grid.empty())
    throw InputError(path + ": no [[row]] entries and no [grid]: nothing to run");
  for (const auto& r : s.rows)
    for (const auto& [pname, keys] : r.profile_keys)
      if (!s.profiles.count(pname))
        throw config_error(r.origin, "profile." + pname,
                           "row '" + r.label + "' sets keys for a profile the file does not define");
  for (const auto& [pname, ext] : s.profile_extends) {
    if (ext.first == pname)
      throw config_error(ext.second, "profile." + pname + ".extends", "a profile cannot extend itself");
    if (!s.profiles.count(ext.first)) {
      std::string known;
      for (const auto& [k, v] : s.profiles)
        if (k != pname) known += (known.empty() ? "" : ", ") + k;
      throw config_error(ext.second, "profile." + pname + ".extends",
                         "no profile '" + ext.first + "' in this file to extend (profiles: " +
                             (known.empty() ? "none" : known) + ")");
    }
    profile_chain(s, pname);  // refuses a loop
  }
  refuse_seed_in(s.base);
  for (const auto& [pname, o] : s.profiles) refuse_seed_in(o);
  for (const auto& r : s.rows) {
    refuse_seed_in(r.keys);
    for (const auto& [pname, o] : r.profile_keys) refuse_seed_in(o);
  }
  if (s.mode == "grid" && s.grid.empty())
    throw InputError(path + ": mode = \"grid\" needs a [grid] table of key = [values]");
}

}  // namespace

std::vector<std::string> profile_chain(const SweepFile& s, const std::string& profile) {
  std::vector<std::string> chain;
  for (std::string p = profile; !p.empty();) {
    if (!s.profiles.count(p)) {
      std::string known;
      for (const auto& [k, v] : s.profiles) known += (known.empty() ? "" : ", ") + k;
      throw InputError(fmt::format("{}: no profile '{}' (profiles: {})", s.path, p, known.empty() ? "none" : known));
    }
    if (std::find(chain.begin(), chain.end(), p) != chain.end()) {
      std::string loop;
      for (const auto& q : chain) loop += q + " -> ";
      throw config_error(s.profile_extends.at(p).second, "profile." + p + ".extends",
                         "profiles extend each other in a loop (" + loop + p + "); one must stand alone");
    }
    chain.push_back(p);
    auto it = s.profile_extends.find(p);
    p = it == s.profile_extends.end() ? "" : it->second.first;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

namespace {

using GridPoint = std::vector<std::pair<std::string, Setting>>;

// Grid points: the product of every axis (a profile may replace axes); one
// empty point without a grid.
std::vector<GridPoint> grid_points(const SweepFile& s, const std::vector<std::string>& chain) {
  Grid grid = s.grid;
  for (const auto& profile : chain)
    if (s.profile_grid.count(profile))
      for (const auto& [key, vals] : s.profile_grid.at(profile)) {
        auto it = std::find_if(grid.begin(), grid.end(), [&](const auto& g) { return g.first == key; });
        if (it != grid.end()) it->second = vals;
        else grid.emplace_back(key, vals);
      }
  std::vector<GridPoint> points{{}};
  for (const auto& [key, vals] : grid) {
    std::vector<GridPoint> next;
    for (const auto& p : points)
      for (const auto& v : vals) {
        auto q = p;
        q.emplace_back(key, v);
        next.push_back(q);
      }
    points = next;
  }
  return points;
}

// compare = N: row r is tested against row N (a cumulative row keeps its parent).
void apply_compare(const SweepFile& s, const std::vector<SweepRow>& rows, const std::map<int, int>& plan_row_of,
                   std::vector<PlannedRun>& plan) {
  for (const auto& r : rows) {
    if (r.compare == 0) continue;
    const auto where = fmt::format("{}:{}", r.compare_origin.file, r.compare_origin.line);
    if (s.mode == "cumulative" && !r.standalone)
      throw InputError(where + ": key 'compare': a cumulative row is tested against the row it modifies; "
                       "use compare in an independent sweep or on a standalone row");
    if (!plan_row_of.count(r.index) || !plan_row_of.count(r.compare) || r.compare == r.index)
      throw InputError(fmt::format("{}: key 'compare': {} is not another [[row]] of this sweep without grid "
                                   "points (rows 1..{})", where, r.compare, rows.size()));
    for (auto& p : plan)
      if (p.row == plan_row_of.at(r.index)) p.parent = plan_row_of.at(r.compare);
  }
}

}  // namespace

SweepFile parse_sweep_text(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}:{}: TOML syntax error: {}", path, e.source().begin.line,
                                 e.source().begin.column, e.description()));
  }
  SweepFile s;
  s.path = path;
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (key == "sweep") {
      parse_sweep_table(node, path, s);
    } else if (key == "plugins") {
      parse_plugins(node, key, path, s);
    } else if (key == "base") {
      auto t = node.as_table();
      if (!t) throw config_error(origin_of(node, path), key, "expected a table [base]");
      flatten(*t, "", path, s.base);
    } else if (key == "profile") {
      parse_profiles(node, path, s);
    } else if (key == "row") {
      parse_rows(node, path, s);
    } else if (key == "grid") {
      auto t = node.as_table();
      if (!t) throw config_error(origin_of(node, path), key, "expected a table [grid]");
      s.grid = parse_grid(*t, path);
    } else {
      unknown(node, path, key, {"sweep", "base", "profile", "row", "grid"});
    }
  }
  check_sweep_file(s, path);
  return s;
}

std::vector<PlannedRun> expand(const SweepFile& s, const std::string& profile, const Overrides& cli) {
  const std::vector<std::string> profiles = profile_chain(s, profile);
  std::vector<int64_t> seeds = s.seeds;
  for (const auto& p : profiles)
    if (s.profile_seeds.count(p)) seeds = s.profile_seeds.at(p);
  // --set seed=N runs every row with seed N alone (instead of the sweep's seeds).
  Overrides cli_keys = cli;
  if (auto it = cli_keys.find("seed"); it != cli_keys.end()) {
    seeds = {seed_of(it->second)};
    cli_keys.erase(it);
  }
  // Rows (a single unnamed row when only a grid is given).
  std::vector<SweepRow> rows = s.rows;
  if (rows.empty()) rows.push_back(SweepRow{1, "", false, {}, {}, {}, {}, Origin{s.path, 0}});
  const std::vector<GridPoint> points = grid_points(s, profiles);

  std::vector<PlannedRun> plan;
  // A row's keys, with its overrides for the active profile.
  auto apply_row = [&](RunConfig& cfg, const SweepRow& r) {
    apply_overrides(cfg, r.keys);
    for (const auto& p : profiles)
      if (auto it = r.profile_keys.find(p); it != r.profile_keys.end()) apply_overrides(cfg, it->second);
  };
  std::vector<const SweepRow*> chain;  // cumulative rows so far
  int out_row = 0, chain_row = 0;      // chain_row: the last of them, as a plan row
  std::map<int, int> plan_row_of;      // [[row]] index -> its plan row (rows without grid points)
  for (const auto& r : rows) {
    for (const auto& [key, list] : r.paper_list)
      if (list.size() != points.size())
        throw InputError(fmt::format("{}:{}: row '{}': paper.{} has {} for {}",
                                     s.path, r.origin.line, r.label, key, count_of(int64_t(list.size()), "value"),
                                     count_of(int64_t(points.size()), "grid point")));
    for (size_t k = 0; k < points.size(); ++k) {
      const auto& point = points[k];
      auto paper = r.paper;
      for (const auto& [key, list] : r.paper_list)
        if (!std::isnan(list[k])) paper[key] = list[k];
      for (const auto& p : profiles)
        if (auto it = r.profile_paper.find(p); it != r.profile_paper.end())
          for (const auto& [key, v] : it->second) paper[key] = v;
      ++out_row;
      RunConfig cfg;
      apply_overrides(cfg, s.base);
      for (const auto& p : profiles) apply_overrides(cfg, s.profiles.at(p));
      if (s.mode == "cumulative" && !r.standalone)
        for (const auto* prev : chain) apply_row(cfg, *prev);
      apply_row(cfg, r);
      std::string label = r.label;
      for (const auto& [k, v] : point) {
        apply_overrides(cfg, Overrides{{k, v}});
        label += (label.empty() ? "" : ", ") + k + "=" + value_str(v.value);
      }
      apply_overrides(cfg, cli_keys);
      for (int64_t seed : seeds) {
        RunConfig c = cfg;
        c.seed = seed;
        // A grid without rows has one unnamed row: point at the grid's line.
        const int line = r.origin.line > 0 || point.empty() ? r.origin.line : point[0].second.origin.line;
        validate(c, r.origin.line > 0 || point.empty()
                        ? fmt::format("{}:{}: row {} '{}'", s.path, line, r.index, label)
                        : fmt::format("{}:{}: grid point '{}'", s.path, line, label),
                 &cli_keys);
        // A row modifies the chain's last row when it is one (no grid point on top).
        const int parent = s.mode == "cumulative" && !r.standalone && points.size() == 1 ? chain_row : 0;
        plan.push_back(PlannedRun{out_row, label, seed, c, run_id(c), paper, parent});
      }
    }
    if (s.mode == "cumulative" && !r.standalone) chain.push_back(&r), chain_row = out_row;
    if (points.size() == 1) plan_row_of[r.index] = out_row;
  }
  apply_compare(s, rows, plan_row_of, plan);
  return plan;
}

}  // namespace ldae
