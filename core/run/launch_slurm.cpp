// A sweep as a Slurm array (core/run/launch.hpp): one task per trained model
// of the pending runs (the runs sharing it, in order), each task running this
// program with --run-id; the plan is recorded first, so make_tables sees
// every row while the tasks run.
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/base/plural.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"
#include "core/records/records.hpp"
#include "core/records/store.hpp"
#include "core/run/launch.hpp"
#include "core/run/run.hpp"
#include "core/run/run_stages.hpp"

namespace ldae {

std::vector<std::string> slurm_tasks(const std::vector<PlannedRun>& pending, const std::string& results) {
  std::vector<std::string> tasks, keys;  // keys[i]: task i's trained model ("" = trains none)
  for (const auto& p : pending) {
    const std::string key = p.cfg.probe.features == "encoder" ? trained_model_path(p.cfg, results) : "";
    const auto it = key.empty() ? keys.end() : std::find(keys.begin(), keys.end(), key);
    if (it == keys.end()) {
      tasks.push_back(p.id), keys.push_back(key);
    } else {
      tasks[size_t(it - keys.begin())] += "," + p.id;
    }
  }
  return tasks;
}

int launch_slurm(const SweepPlan& sp, const SweepOptions& opt) {
  namespace fs = std::filesystem;
  const SweepFile& sweep = sp.sweep;
  const std::vector<PlannedRun>& plan = sp.runs;
  const std::string &profile = opt.profile, &file = opt.file, &results = opt.results;
  SlurmOptions o = opt.slurm;
  // A task runs one run id, and ids hold the data's fingerprint: planned
  // without the data, they would name runs no task can find.
  if (sp.unfingerprinted > 0)
    throw InputError(fmt::format(
        "--launcher slurm: {} read data that is not there on this machine (see the note above), so their ids "
        "lack the data's fingerprint and the array's tasks would look for runs that do not exist. Plan the "
        "submission where the data is visible (e.g. `srun --pty run_sweep FILE ... --launcher slurm --dry-run` on a "
        "compute node), or copy or prepare the data first",
        count_of(sp.unfingerprinted, "run")));
  // GPUs asked for runs that train on the CPU sit idle for the whole job.
  if (o.gpus_per_run > 0 &&
      std::none_of(plan.begin(), plan.end(), [](const PlannedRun& p) { return p.cfg.train.device != "cpu"; }))
    fmt::print(stderr, "run_sweep: warning: --gpus-per-run {} asks Slurm for GPUs, but every run trains on the CPU "
                       "(train.device = \"cpu\"); add --set train.device=cuda, or drop --gpus-per-run\n",
               o.gpus_per_run);
  std::vector<PlannedRun> pending;
  for (const auto& p : plan)
    if (run_status(results, p.id) != "done" &&
        std::none_of(pending.begin(), pending.end(), [&](const PlannedRun& q) { return q.id == p.id; }))
      pending.push_back(p);
  if (pending.empty()) {
    fmt::print("every run is done; nothing to submit\n");
    return 0;
  }
  // #SBATCH lines are not shell words: a value with spaces or shell
  // characters would be cut or misread there.
  auto plain = [](const std::string& v, const char* extra) {
    return std::all_of(v.begin(), v.end(), [&](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(extra, c) != nullptr;
    });
  };
  if (!plain(o.partition, "_-.,"))
    throw InputError("--partition '" + o.partition + "': expected a Slurm partition name (letters, "
                     "digits, '_', '-', '.', ',' between several)");
  if (!plain(fs::absolute(results).string(), "/_-.+=@:,%"))
    throw InputError("--results " + results + ": the sbatch script's #SBATCH --output line cannot hold "
                     "this path (spaces or shell characters); use a results folder without them");
  if (!valid_slurm_time(o.time))
    throw InputError("--time '" + o.time + "': expected a Slurm time such as 30, 4:00:00 or 1-12:00:00");
  const std::string prof = profile.empty() ? "default" : profile;
  const fs::path root = fs::absolute(results);
  fs::create_directories(root / "slurm" / "logs");
  o.job_name = fmt::format("ldae-{}-{}", sweep.name, prof);
  o.log_dir = (root / "slurm" / "logs").string();
  o.command = {fs::read_symlink("/proc/self/exe").string(), fs::absolute(file).string(),
               "--results", root.string(), "--index", "off"};
  if (!profile.empty()) o.command.insert(o.command.end(), {"--profile", profile});
  if (opt.threads > 0) o.command.insert(o.command.end(), {"--threads", std::to_string(opt.threads)});
  for (const auto& s : opt.sets) o.command.insert(o.command.end(), {"--set", s});
  for (const auto& p : opt.plugins) o.command.insert(o.command.end(), {"--plugin", fs::absolute(p).string()});
  const std::string script = (root / "slurm" / fmt::format("{}.{}.sbatch", sweep.name, prof)).string();
  SweepRecord rec{sweep.name, prof, sweep.title, fs::absolute(file).string(), sweep.mode, {}, opt.sets};
  for (const auto& p : sp.full) rec.rows.push_back({p.row, p.label, p.seed, p.id, p.paper, p.parent});
  check_sweep_name_free(root.string(), rec);
  const std::vector<std::string> tasks = slurm_tasks(pending, root.string());
  write_text_atomically(script, sbatch_script(o, tasks));
  // The sweep's plan goes into the index now, so make_tables sees every row
  // while the tasks run.
  Store store(root.string() + "/results.db");
  record_sweep_plan(root.string(), &store, rec);
  fmt::print("wrote {} ({} for {}: the runs sharing a trained model run in one task)\n", script,
             count_of(tasks.size(), "array task"), count_of(pending.size(), "pending run"));
  if (opt.dry_run) {
    fmt::print("--dry-run: not submitted; submit with `sbatch {}`\n", shell_quote(script));
    return 0;
  }
  if (std::system("command -v sbatch > /dev/null 2>&1") != 0)
    throw InputError("--launcher slurm: sbatch is not on PATH (not a Slurm login node?); use "
                     "--dry-run to write the script and submit it where Slurm runs");
  const int rc = std::system(("sbatch " + shell_quote(script)).c_str());
  if (rc != 0) throw InputError(fmt::format("sbatch {} failed (exit {})", script, rc));
  return 0;
}

}  // namespace ldae
