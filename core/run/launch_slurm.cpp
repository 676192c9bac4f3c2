// A sweep as Slurm arrays (core/run/launch.hpp): a task per model to train
// and per run that trains none, then, per model that other runs share, an
// array of those runs submitted to start once the task training it
// succeeded; each task runs this program with --run-id. The plan is recorded first, so make_tables sees
// every row while the tasks run.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/base/plural.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"
#include "core/base/stop.hpp"
#include "core/records/records.hpp"
#include "core/records/store.hpp"
#include "core/run/launch.hpp"
#include "core/run/run.hpp"
#include "core/run/run_stages.hpp"
#include "core/run/signals.hpp"

namespace ldae {
namespace fs = std::filesystem;

namespace {
// The model each run trains ("" when it trains none or the model is kept),
// by index into `runs`.
std::vector<std::string> models_to_train(const std::vector<PlannedRun>& runs, const std::string& results) {
  std::vector<std::string> models;
  for (const auto& p : runs) {
    std::error_code ec;
    const std::string model = p.cfg.probe.features == "encoder" ? trained_model_path(p.cfg, results) : "";
    models.push_back(model.empty() || fs::exists(model, ec) ? "" : model);
  }
  return models;
}

// model_trainers, as indexes into `runs`, for the models of models_to_train.
std::map<std::string, size_t> trainer_indexes(const std::vector<PlannedRun>& runs,
                                              const std::vector<std::string>& models, const std::string& results) {
  std::map<std::string, size_t> trainer;
  std::map<std::string, int64_t> resumes_at;  // the trainer's checkpoint step; -1: none
  for (size_t i = 0; i < runs.size(); ++i) {
    if (models[i].empty()) continue;
    const std::string dir = run_dir(results, runs[i].id);
    std::error_code ec;
    int64_t step = -1;
    if (fs::exists(dir + "/ckpt/last.pt", ec)) {
      step = 0;  // how far: the steps its record says it was stopped at
      try {
        step = read_run_json(dir).value("steps", int64_t(0));
      } catch (const std::exception&) {
      }
    }
    if (!trainer.count(models[i]) || step > resumes_at[models[i]]) trainer[models[i]] = i, resumes_at[models[i]] = step;
  }
  return trainer;
}
}  // namespace

std::map<std::string, std::string> model_trainers(const std::vector<PlannedRun>& pending, const std::string& results) {
  std::map<std::string, std::string> ids;
  for (const auto& [model, i] : trainer_indexes(pending, models_to_train(pending, results), results))
    ids[model] = pending[i].id;
  return ids;
}

std::vector<size_t> local_run_order(const std::vector<PlannedRun>& plan, const std::string& results) {
  const auto models = models_to_train(plan, results);
  const auto trainer = trainer_indexes(plan, models, results);
  std::vector<size_t> order;
  std::vector<bool> placed(plan.size(), false);
  for (size_t i = 0; i < plan.size(); ++i)  // a model's trainer where its first run was
    for (size_t k : {models[i].empty() ? i : trainer.at(models[i]), i})
      if (!placed[k]) order.push_back(k), placed[k] = true;
  return order;
}

size_t SlurmTasks::after_runs() const {
  size_t n = 0;
  for (const auto& g : after) n += g.runs.size();
  return n;
}

SlurmTasks slurm_tasks(const std::vector<PlannedRun>& pending, const std::string& results) {
  SlurmTasks t;
  const auto models = models_to_train(pending, results);
  const auto trainer = trainer_indexes(pending, models, results);
  std::map<size_t, std::vector<std::string>> followers;  // by the trainer's index in `pending`
  std::map<size_t, size_t> task_of;                     // pending index -> its task in `first`
  for (size_t i = 0; i < pending.size(); ++i) {
    if (models[i].empty() || trainer.at(models[i]) == i) {
      task_of[i] = t.first.size();
      t.first.push_back(pending[i].id);
    } else {
      followers[trainer.at(models[i])].push_back(pending[i].id);
    }
  }
  for (auto& [i, runs] : followers) t.after.push_back({task_of.at(i), std::move(runs)});
  return t;
}

namespace {

// What the shell command `cmd` printed on its standard output, and its
// wait status (-1: it could not be started).
std::string command_output(const std::string& cmd, int* status) {
  FILE* f = ::popen(cmd.c_str(), "r");
  *status = -1;
  if (!f) return "";
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  *status = ::pclose(f);
  return out;
}

// Whether `program` is on PATH.
bool on_path(const std::string& program) {
  return std::system(("command -v " + program + " > /dev/null 2>&1").c_str()) == 0;
}

// `sbatch ARGS` run by the shell; its standard output. InputError naming
// the command when it fails.
std::string sbatch(const std::string& args) {
  const std::string cmd = "sbatch " + args;
  int status = 0;
  const std::string out = command_output(cmd, &status);
  if (status == -1) throw InputError(fmt::format("{}: cannot start it ({})", cmd, std::strerror(errno)));
  if (status != 0)
    throw InputError(fmt::format("{} failed (exit {}){}{}", cmd, WIFEXITED(status) ? WEXITSTATUS(status) : status,
                                 out.empty() ? "" : ": ", first_sentence(out)));
  return out;
}

// The job id `sbatch --parsable` printed: "JOB" or "JOB;CLUSTER".
// (Slurm's plain "Submitted batch job JOB" is taken too.)
std::string parsable_job_id(const std::string& out, const std::string& script) {
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (const std::string plain = "Submitted batch job "; id.rfind(plain, 0) == 0) id.erase(0, plain.size());
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw InputError(fmt::format("sbatch --parsable {} printed '{}', not a job id; it may have queued it: check "
                                 "squeue before submitting it again",
                                 script, first_sentence(out)));
  return id;
}

// Job ids an earlier submission of these scripts recorded (<script>.jobs)
// that Slurm still lists (squeue); empty when none, or without squeue.
std::string jobs_still_queued(const std::string& jobs_file) {
  std::ifstream in(jobs_file);
  std::string ids, id;
  while (in >> id)
    if (id.find_first_not_of("0123456789") == std::string::npos) ids += (ids.empty() ? "" : ",") + id;
  if (ids.empty() || !on_path("squeue")) return "";
  int status = 0;
  const std::string out = command_output("squeue -h -o %A -j " + ids + " 2> /dev/null", &status);
  return out.find_first_of("0123456789") == std::string::npos ? "" : ids;
}

// Before anything is written: sbatch is there, and no job of an earlier
// submission of `script` is still queued (InputError naming them).
void check_can_submit(const std::string& script) {
  if (!on_path("sbatch"))
    throw InputError("--launcher slurm: sbatch is not on PATH (not a Slurm login node?); use "
                     "--dry-run to write the script and submit it where Slurm runs");
  const std::string jobs_file = script + ".jobs";
  if (const std::string queued = jobs_still_queued(jobs_file); !queued.empty())
    throw InputError(fmt::format("jobs {} of an earlier submission of {} are still queued or running (squeue -j {}): "
                                 "they run the same pending runs; wait for them, or cancel them (scancel {}), then "
                                 "rerun (or delete {} to submit anyway); nothing was written or submitted",
                                 queued, script, queued, queued, jobs_file));
}

// The sbatch arguments of group g of the arrays after the first, whose job
// id is `job` (a shell expression in a dry run's command).
std::string after_args(const SlurmTasks& tasks, size_t g, const std::string& job, const std::string& after_script) {
  return fmt::format("--array=0-{} --dependency=afterok:{}_{} --kill-on-invalid-dep=yes {} {}",
                     tasks.after[g].runs.size() - 1, job, tasks.after[g].trainer, shell_quote(after_script), g);
}

// Submits the arrays: the first with --parsable, then each group after it
// with afterok on the task of the first that trains its model; their ids go
// to <script>.jobs as each is queued. A stop request (Ctrl-C, which sbatch
// may share) or a failed sbatch after the first was queued says what is
// queued and the commands that finish the submission.
void submit(const std::string& script, const std::string& after_script, const SlurmTasks& tasks) {
  const std::string jobs_file = script + ".jobs";
  std::string job;
  try {
    job = parsable_job_id(sbatch("--parsable " + shell_quote(script)), script);
  } catch (const InputError&) {
    check_stop("the submission (check squeue: nothing may have been queued)");
    throw;
  }
  std::vector<std::string> ids{job};
  write_text_atomically(jobs_file, fmt::format("{}\n", fmt::join(ids, "\n")));
  fmt::print("submitted {} as job {}\n", script, job);
  std::fflush(stdout);
  // What is queued before group g, and the commands still to run from it on
  // (each recording its job id as this program does): said only when the
  // submission stops there.
  const auto queued = [&](size_t g) {
    return g == 0 ? fmt::format("the first array is queued as job {}", job)
                  : fmt::format("the first array and {} after it are queued (jobs {})", count_of(g, "array"),
                                fmt::join(ids, ", "));
  };
  const auto rest = [&](size_t g) {
    std::string cmds;
    for (size_t k = g; k < tasks.after.size(); ++k)
      cmds += fmt::format("{}sbatch --parsable {} | cut -d';' -f1 >> {}", k > g ? "; " : "",
                          after_args(tasks, k, job, after_script), shell_quote(jobs_file));
    return cmds;
  };
  for (size_t g = 0; g < tasks.after.size(); ++g) {
    const auto halfway = [&] { return fmt::format("the submission: {}; finish it with `{}`", queued(g), rest(g)); };
    if (stop_requested()) check_stop(halfway().c_str());
    std::string after_job;
    try {
      after_job = parsable_job_id(sbatch("--parsable " + after_args(tasks, g, job, after_script)), after_script);
    } catch (const InputError& e) {
      if (stop_requested()) check_stop(halfway().c_str());
      throw InputError(fmt::format("{}; {}: submit the rest with `{}`, or rerun this command once those jobs have "
                                   "ended (it submits what is still pending)", e.what(), queued(g), rest(g)));
    }
    ids.push_back(after_job);
    write_text_atomically(jobs_file, fmt::format("{}\n", fmt::join(ids, "\n")));
    fmt::print("submitted {} {} ({}) as job {}, after task {}_{} succeeds\n", after_script, g,
               count_of(tasks.after[g].runs.size(), "run"), after_job, job, tasks.after[g].trainer);
    std::fflush(stdout);
  }
}

// Says what was written and submits the arrays (--dry-run: prints the
// commands). Returns 0; InputError when sbatch is missing or fails.
int submit_arrays(const std::string& script, const std::string& after_script, const SlurmTasks& tasks,
                  size_t pending, bool dry_run) {
  fmt::print("wrote {} ({} for {})\n", script, count_of(tasks.first.size(), "array task"),
             count_of(pending - tasks.after_runs(), "pending run"));
  if (!tasks.after.empty())
    fmt::print("wrote {} ({} in {}: the other runs sharing a model the first array trains, each array started once "
               "the task training its model succeeded)\n",
               after_script, count_of(tasks.after_runs(), "array task"), count_of(tasks.after.size(), "array"));
  std::fflush(stdout);
  if (dry_run) {
    if (tasks.after.empty()) {
      fmt::print("--dry-run: not submitted; submit with `sbatch {}`\n", shell_quote(script));
      return 0;
    }
    std::string cmd = fmt::format("JOB=$(sbatch --parsable {}) && JOB=${{JOB%%;*}}", shell_quote(script));
    for (size_t g = 0; g < tasks.after.size(); ++g) cmd += " && sbatch " + after_args(tasks, g, "${JOB}", after_script);
    fmt::print("--dry-run: not submitted; submit with `{}`\n", cmd);
    return 0;
  }
  submit(script, after_script, tasks);
  return 0;
}

}  // namespace

int launch_slurm(const SweepPlan& sp, const SweepOptions& opt) {
  install_signal_handlers();  // Ctrl-C between the two submissions is told, not a silent half
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
  const std::string prof = profile.empty() ? "default" : profile;
  const fs::path root = fs::absolute(results);
  const std::string script = (root / "slurm" / fmt::format("{}.{}.sbatch", sweep.name, prof)).string();
  const std::string after_script = (root / "slurm" / fmt::format("{}.{}.after.sbatch", sweep.name, prof)).string();
  if (pending.empty()) {
    // Scripts of an earlier submission would run nothing now: removed.
    std::error_code ec;
    fs::remove(script, ec), fs::remove(after_script, ec);
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
  if (!plain(root.string(), "/_-.+=@:,%"))
    throw InputError("--results " + results + ": the sbatch script's #SBATCH --output line cannot hold "
                     "this path (spaces or shell characters); use a results folder without them");
  if (!valid_slurm_time(o.time))
    throw InputError("--time '" + o.time + "': expected a Slurm time such as 30, 4:00:00 or 1-12:00:00");
  fs::create_directories(root / "slurm" / "logs");
  o.job_name = fmt::format("ldae-{}-{}", sweep.name, prof);
  o.log_dir = (root / "slurm" / "logs").string();
  o.command = {fs::read_symlink("/proc/self/exe").string(), fs::absolute(file).string(),
               "--results", root.string(), "--index", "off"};
  if (!profile.empty()) o.command.insert(o.command.end(), {"--profile", profile});
  if (opt.threads > 0) o.command.insert(o.command.end(), {"--threads", std::to_string(opt.threads)});
  for (const auto& s : opt.sets) o.command.insert(o.command.end(), {"--set", s});
  for (const auto& p : opt.plugins) o.command.insert(o.command.end(), {"--plugin", fs::absolute(p).string()});
  SweepRecord rec{sweep.name, prof, sweep.title, fs::absolute(file).string(), sweep.mode, {}, opt.sets};
  for (const auto& p : sp.full) rec.rows.push_back({p.row, p.label, p.seed, p.id, p.paper, p.parent});
  check_sweep_name_free(root.string(), rec);
  if (!opt.dry_run) check_can_submit(script);
  const SlurmTasks tasks = slurm_tasks(pending, root.string());
  write_text_atomically(script, sbatch_script(o, tasks.first));
  std::error_code ec;  // a second array of an earlier submission is not this one's
  fs::remove(after_script, ec);
  if (!tasks.after.empty()) {
    std::vector<std::vector<std::string>> groups;
    for (const auto& g : tasks.after) groups.push_back(g.runs);
    write_text_atomically(after_script, sbatch_after_script(o, groups));
  }
  // The sweep's plan goes into the index now, so make_tables sees every row
  // while the tasks run.
  Store store(root.string() + "/results.db");
  record_sweep_plan(root.string(), &store, rec);
  return submit_arrays(script, after_script, tasks, pending.size(), opt.dry_run);
}

}  // namespace ldae
