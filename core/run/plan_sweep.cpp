// Planning a sweep (core/run/launch.hpp): flags and sweep file -> the runs
// this process will start, printed with their status, checked against data.
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_map>

#include "backbones/backbone.hpp"
#include "core/base/plural.hpp"
#include "core/base/errors.hpp"
#include "core/base/threads.hpp"
#include "core/config/keys.hpp"
#include "core/config/preflight.hpp"
#include "core/data/data.hpp"
#include "core/records/records.hpp"
#include "core/run/launch.hpp"
#include "core/run/plugins.hpp"
#include "core/run/run.hpp"
#include "core/run/run_stages.hpp"

namespace ldae {
namespace {

// --only LABEL (a part of a row's label, or its number: a number names the
// row alone, so --only 2 is not also every row whose label holds a "2") and
// --run-id ID.
std::vector<PlannedRun> select_runs(std::vector<PlannedRun> plan, const SweepOptions& o) {
  if (!o.only.empty()) {
    const bool number = o.only.find_first_not_of("0123456789") == std::string::npos;
    std::vector<PlannedRun> kept;
    for (auto& p : plan)
      if (number ? std::to_string(p.row) == o.only : p.label.find(o.only) != std::string::npos) kept.push_back(p);
    if (kept.empty()) throw InputError(fmt::format("--only '{}' matches no row of {}", o.only, o.file));
    plan = kept;
  }
  if (!o.run_id.empty()) {  // one id, or several joined by commas (a Slurm task's runs), run in that order
    std::vector<PlannedRun> kept;
    std::string rest = o.run_id;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string id = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      auto it = std::find_if(plan.begin(), plan.end(), [&](const PlannedRun& p) { return p.id == id; });
      if (it == plan.end())
        throw InputError(fmt::format("--run-id {} is not a run of {} {} with these --set values (see --dry-run "
                                     "for its run ids)",
                                     id.empty() ? "''" : id, o.file,
                                     o.profile.empty() ? std::string("without --profile")
                                                       : fmt::format("under --profile {}", o.profile)));
      kept.push_back(*it);
    }
    plan = kept;
  }
  return plan;
}

// prepared_data_size per distinct data.* section: a grid of 200,000 points
// over one dataset asks once (the dataset's own cache key formats the whole
// config, ~0.1 ms a run).
struct DataSizes {
  std::string results;
  std::vector<const KeyRow*> rows;  // the data.* rows
  std::unordered_map<std::string, DataSize> known;
  DataSize of(const RunConfig& cfg) {
    if (rows.empty())
      for (const KeyRow* r : key_rows())
        if (r->key.rfind("data.", 0) == 0) rows.push_back(r);
    std::string key;
    for (const KeyRow* r : rows) key += value_str(r->get(cfg)) + "\n";
    auto it = known.find(key);
    if (it == known.end()) it = known.emplace(key, prepared_data_size(cfg.data, results)).first;
    return it->second;
  }
};

}  // namespace

SweepPlan plan_sweep(SweepOptions& o) {
  const Overrides cli = parse_sets(o.sets);
  if (const std::string found = find_sweep_file(o.file); found != o.file) {  // a bare name
    fmt::print("sweep file: {}\n", found);
    o.file = found;
  }
  SweepPlan p;
  p.sweep = parse_sweep(o.file);
  for (const auto& [entry, where] : p.sweep.plugins) require_plugin(entry, o.file, where);
  try {
    p.full = expand(p.sweep, o.profile, cli);  // validates every run before any starts
  } catch (const InputError& e) {
    // The plan is recorded whole (the table shows the rows --only skips as
    // pending), so every row must be valid: say so when the row named is
    // perhaps not one of those asked for.
    if (o.only.empty() && o.run_id.empty()) throw;
    throw InputError(std::string(e.what()) + " (every row of the file is checked, also those --only or --run-id "
                                             "leave out: the plan is recorded whole)");
  }
  // Ids follow the data's content where a user's folder is read (the data
  // are loaded now, once; the runs reuse them).
  p.unfingerprinted = attach_data_fingerprints(p.full, o.results, o.dry_run);
  p.runs = select_runs(p.full, o);
  if (o.launcher != "local" && o.launcher != "slurm")
    throw InputError("--launcher '" + o.launcher + "': expected local or slurm");
  if (o.slurm.gpus_per_run < 0 || o.slurm.cpus_per_run < 0)
    throw InputError("--gpus-per-run and --cpus-per-run must be >= 0");
  return p;
}

namespace {
// A failed run's recorded error for the plan listing: at most ~300
// characters, cut at a word; never throws for an odd record.
std::string recorded_error(const std::string& dir) {
  std::string e = "none recorded";
  try {
    const auto j = read_run_json(dir);
    if (j.contains("error") && j["error"].is_string()) e = j["error"].get<std::string>();
  } catch (const InputError& ex) {
    e = ex.what();
  }
  if (e.size() <= 300) return e;
  const auto cut = e.rfind(' ', 300);
  return e.substr(0, cut == std::string::npos ? 300 : cut) + " ...";
}
}  // namespace

void print_plan(const SweepPlan& p, const SweepOptions& o) {
  fmt::print("sweep {} ({}), profile {}, {}\n", p.sweep.name, p.sweep.mode,
             o.profile.empty() ? "-" : o.profile, count_of(int64_t(p.runs.size()), "run"));
  for (const auto& r : p.runs) {
    const std::string dir = run_dir(o.results, r.id);
    const std::string listed = listed_status(dir), st = listed.empty() ? "pending" : listed;
    fmt::print("  row {:>2}  seed {}  {}  {:<12} {}\n", r.row, r.seed, r.id, st, r.label);
    if (st == "failed")  // why, so the user can fix it before the retry
      fmt::print("           error: {}\n", recorded_error(dir));
    if (st == "damaged") {
      std::string why;
      try {
        why = damage_of(dir, read_run_json(dir));
      } catch (const InputError& e) {
        why = e.what();
      }
      fmt::print("           damaged: {}; run_sweep reruns it\n", why);
    }
  }
}

namespace {
// What the keys resolve to, to read a profile against a paper: the learning
// rates after scaling (lr = base_lr x batch / 256, the trainer's and the
// probe's rule) and the backbone's shape after its preset (the probe reads
// the first `encoder_blocks`). "# derived: KEY = VALUE" lines, TOML comments.
std::string derived_lines(const RunConfig& c) {
  std::string out;
  auto line = [&out](const std::string& key, const std::string& value, const std::string& why) {
    out += fmt::format("# derived: {} = {}  # {}\n", key, value, why);
  };
  line("train.lr", fmt::format("{:g}", c.train.base_lr * double(c.train.batch) / 256.0), "train.base_lr x train.batch / 256");
  line("probe.lr", fmt::format("{:g}", c.probe.base_lr * double(c.probe.batch) / 256.0),
       "probe.base_lr x probe.batch / 256 (the batch capped at the training set)");
  const BackboneOptions bo = backbone_options(c);
  if (c.model.name != "unet") {  // the transformers' shape (the U-Net's depth and width mean other things)
    line("model.blocks", std::to_string(bo.depth), "model.depth, else the preset's");
    line("model.block_width", std::to_string(bo.width), "model.width, else the preset's");
    line("model.block_heads", std::to_string(bo.heads), "model.heads, else the preset's");
  }
  line("model.feature_points", std::to_string(backbone_blocks(c.model.name, bo)), "probe.block's range 0..this");
  line("model.encoder_blocks", std::to_string(bo.split), "model.split, else the backbone's default feature point");
  return out;
}
}  // namespace

void print_configs(const SweepPlan& p) {
  for (const auto& r : p.runs)
    fmt::print("# ---- row {} seed {} run {}: {}\n{}{}\n", r.row, r.seed, r.id, r.label, derived_lines(r.cfg),
               to_toml(r.cfg));
}

namespace {
// A warning's kind: its text with every number replaced by '#', so a grid
// over probe.epochs x probe.batch (whose warnings quote each point's own
// numbers) prints one line per kind, not one per point.
std::string warning_kind(const std::string& text) {
  std::string k;
  k.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' ||
                                 text[i] == 'e' || text[i] == ','))
        ++i;
      k += '#';
    } else {
      k += text[i++];
    }
  }
  return k;
}

// train.device = "cuda" where LibTorch sees no GPU: refused before any run
// starts, by the check execute_run makes again before the run's folder exists.
void check_device_available(const RunConfig& cfg, const std::string& where) {
  try {
    pick_device(cfg.train.device, nullptr);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
}
// Keys of a stage no run of the sweep runs (fine-tuning, generation): set
// in the sweep file or by --set, they enter every run id and change nothing
// computed. A sweep where some rows run the stage says nothing (a row that
// opts out inherits the others' keys). Each key named once, from any run.
void idle_key_warnings(const SweepPlan& p, const std::string& file) {
  bool finetunes = false, generates = false;
  std::vector<std::string> ft, gen;
  auto add = [](std::vector<std::string>& to, const std::vector<std::string>& keys) {
    for (const auto& k : keys)
      if (std::find(to.begin(), to.end(), k) == to.end()) to.push_back(k);
  };
  for (const auto& r : p.runs) {
    const bool encodes = r.cfg.probe.features != "raw_pixels";  // raw-pixel rows run neither stage
    finetunes = finetunes || runs_finetuning(r.cfg);
    generates = generates || (encodes && r.cfg.eval.fid_samples > 0);
    add(ft, keys_set_away(r.cfg, {"eval.finetune_"}));
    add(gen, keys_set_away(r.cfg, {"eval.sampler", "eval.sample_steps", "eval.fid_"}));
  }
  auto say = [&](const std::vector<std::string>& keys, const char* stage, const char* how) {
    std::string names;
    for (const auto& k : keys) names += (names.empty() ? "" : ", ") + k;
    const bool one = keys.size() == 1;
    fmt::print(stderr, "run_sweep: warning: {}: {} {} set, but no run {}: {} the run ids and {} nothing computed; {}, "
                       "or leave {} at {} default{}\n", file, names, one ? "is" : "are", stage,
               one ? "it enters" : "they enter", one ? "changes" : "change", how, one ? "it" : "them",
               one ? "its" : "their", one ? "" : "s");
  };
  if (!finetunes && !ft.empty())
    say(ft, "fine-tunes (eval.finetune_epochs = 0, or probe.features = \"raw_pixels\")",
        "set eval.finetune_epochs > 0 to fine-tune");
  if (!generates && !gen.empty())
    say(gen, "generates (eval.fid_samples = 0, or probe.features = \"raw_pixels\")",
        "set eval.fid_samples >= 2 to sample and score FID");
}

// Two rows planned as one run (the same id: every key and the seed equal),
// most often a row copied and not changed: both read the same result. The
// first three pairs of plan rows named (a grid repeats a pair at each of
// its points), then how many more.
void duplicate_row_warnings(const SweepPlan& p, const std::string& file) {
  std::unordered_map<std::string, const PlannedRun*> first;  // id -> the first run planned with it
  std::set<std::pair<int, int>> pairs;
  for (const auto& r : p.runs) {
    auto [it, fresh] = first.try_emplace(r.id, &r);
    if (fresh || it->second->row == r.row || !pairs.insert({it->second->row, r.row}).second) continue;
    if (pairs.size() <= 3)
      fmt::print(stderr, "run_sweep: warning: {}: rows {} '{}' and {} '{}' are the same run ({}): every key equal, "
                         "so they share one result; change what the second should vary, or drop it\n",
                 file, it->second->row, it->second->label, r.row, r.label, r.id);
  }
  if (pairs.size() > 3)
    fmt::print(stderr, "run_sweep: warning: {}: and {} more pairs of rows planned as one run\n", file, pairs.size() - 3);
}
}  // namespace

void check_plan_data(const SweepPlan& p, const SweepOptions& o, bool light) {
  // Warnings grouped by kind (their text, numbers aside, after the row that
  // says it), so a grid of many points prints each kind once: the first
  // row's words and the number of rows it concerns.
  struct Group {
    std::string first_row, text;
    int64_t rows = 0;
    bool numbers_differ = false;
  };
  std::vector<std::string> order;
  std::unordered_map<std::string, Group> warned;  // kind -> group
  DataSizes sizes{o.results, {}, {}};
  for (const auto& r : p.runs) {
    if (light) {  // what is cheap: data present, no image_folder to prepare first
      if (r.cfg.data.name == "image_folder") continue;
      try {
        check_data_available(r.cfg.data);
      } catch (const InputError&) {
        continue;
      }
    } else {
      check_data_available(r.cfg.data);
    }
    const auto where = fmt::format("{}: row {} '{}'", o.file, r.row, r.label);
    if (!light) {
      check_network_files(r.cfg, where);
      check_device_available(r.cfg, where);
      if (o.threads == 0 && r.cfg.train.threads == 0) default_threads();  // a bad OMP_NUM_THREADS: InputError
    }
    for (const auto& w : check_against_data(r.cfg, sizes.of(r.cfg), where)) {
      const std::string text = w.rfind(where + ": ", 0) == 0 ? w.substr(where.size() + 2) : w;
      const std::string kind = warning_kind(text);
      auto [it, fresh] = warned.try_emplace(kind, Group{where, text, 0, false});
      if (fresh) order.push_back(kind);
      ++it->second.rows;
      it->second.numbers_differ = it->second.numbers_differ || text != it->second.text;
    }
  }
  for (const auto& kind : order) {
    const auto& g = warned.at(kind);
    fmt::print(stderr, "run_sweep: warning: {}: {}{}\n", g.first_row, g.text,
               g.rows > 1 ? fmt::format(" (and {} more {}{})", g.rows - 1, g.rows == 2 ? "row" : "rows",
                                        g.numbers_differ ? ", each with its own numbers" : "")
                          : "");
  }
  idle_key_warnings(p, o.file);
  duplicate_row_warnings(p, o.file);
  if (p.unfingerprinted > 0)
    fmt::print("note: {} read data that is not there yet: their ids above lack the data's "
               "fingerprint and change once it is\n", count_of(p.unfingerprinted, "run"));
}

bool plan_on_gpu(const std::vector<PlannedRun>& plan) {
  if (!torch::cuda::is_available()) return false;
  for (const auto& p : plan)
    if (p.cfg.train.device == "cpu") return false;
  return true;
}

}  // namespace ldae
