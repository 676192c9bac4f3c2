// run_sweep: sweep file -> validated plan -> runs (skipping done ones,
// resuming interrupted ones) -> results database. Exit codes: 0 all done,
// 1 some run failed, 2 bad input, 130 interrupted. The steps are
// core/run/launch.hpp's; this program parses flags and calls them.
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <filesystem>
#include <iostream>

#include "core/base/plural.hpp"
#include "core/base/build_info.hpp"
#include "core/base/utf8.hpp"
#include "core/records/records.hpp"
#include "core/records/store.hpp"
#include "core/run/cli.hpp"
#include "core/run/launch.hpp"
#include "core/run/plugins.hpp"
#include "core/run/run.hpp"
#include "core/run/run_stages.hpp"
#include "core/run/signals.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

// run_sweep's flags, each bound to its field of o.
void describe(po::options_description& opts, SweepOptions& o) {
  opts.add_options()("help,h", "print this help")(
      "profile,p", po::value(&o.profile), "profile of the sweep file, e.g. tiny")(
      "set", po::value(&o.sets)->composing(), "override a key for every row: --set train.epochs=3 (repeatable)")(
      "only", po::value(&o.only), "run only row N (a number), or the rows whose label contains LABEL")(
      "dry-run", "print the plan (row, run id, status) and exit")(
      "show-config", "print each planned run's resolved config as TOML, headed by its row, seed and run id and the "
                     "derived values (learning rates after scaling, the backbone's shape), and exit (with "
                     "--profile and --only: read a profile against the paper)")(
      "results", po::value(&o.results), "results root (default: results)")(
      "threads", po::value(&o.threads), "CPU threads (default: train.threads, else OMP_NUM_THREADS, else the CPUs this process may use)")(
      "plugin", po::value(&o.plugins)->composing(), "load a plugin shared library first (repeatable)")(
      "run-id", po::value(&o.run_id), "run only the planned run with this id, or the runs with these ids joined by commas, in that order (what a Slurm array task does)")(
      "launcher", po::value(&o.launcher), "local (default: run here) or slurm (write and submit an sbatch array)")(
      "partition", po::value(&o.slurm.partition), "slurm: partition")(
      "gpus-per-run", po::value(&o.slurm.gpus_per_run), "slurm: GPUs per run (--gres=gpu:N)")(
      "cpus-per-run", po::value(&o.slurm.cpus_per_run), "slurm: CPUs per run (--cpus-per-task)")(
      "time", po::value(&o.slurm.time), "slurm: time limit per task (default 24:00:00); runs checkpoint "
                                       "and requeue 120 s before it")(
      "list", "print every registry with its names, and every key with its default")(
      "index", po::value(&o.index_mode),
      "auto (default), on or off: write results.db as runs end. off: only the run folders are "
      "written and the next run_sweep, make_tables or --reindex indexes them (auto: off in a Slurm "
      "array task or with LDAE_INDEX=off, because SQLite cannot be shared across hosts)")(
      "reindex", "rebuild results.db from the run folders and exit")(
      "export", po::value<std::string>(), "write a done run's encoder.safetensors + encoder.json (for python/ldae) "
                                          "and exit: --export RUN_ID [--results R] [--out DIR]")(
      "out", po::value<std::string>(), "--export: the folder to write into (default: the run's own folder)")(
      "version", "print LibTorch, CUDA, cuDNN and NCCL versions, the CPU kernels and the GPUs visible");
}

// --reindex: rebuild results.db from the run folders.
int reindex(const std::string& results) {
  if (!index_writable(results))
    throw InputError(fmt::format("--reindex rewrites {0}/results.db, but {0} (or the file) is read-only; "
                                 "make_tables --results {0} reads a read-only root as it is (into memory)", results));
  std::filesystem::create_directories(results);
  Store store(results + "/results.db");
  std::vector<std::string> bad;
  size_t n = 0;
  try {
    n = store.rebuild(results, &bad);
  } catch (const SQLite::Exception& e) {  // locked, full: named with its path
    throw store_error(store.path(), e);
  }
  fmt::print("reindexed {} from {}/runs\n", count_of(int64_t(n), "run"), results);
  for (const auto& b : bad) fmt::print(stderr, "run_sweep: needs attention: {}\n", b);
  return bad.empty() ? 0 : 2;
}

// --export RUN_ID [--results R] [--out DIR]: a done run's encoder, nothing
// else; a flag or sweep file given with it is an error, not ignored.
int export_only(const po::variables_map& vm, const SweepOptions& o) {
  const std::string id = vm["export"].as<std::string>();
  if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw InputError(fmt::format("--export '{}': give a run id, the 16 hex digits naming a folder under "
                                 "RESULTS/runs/ (run_sweep FILE --dry-run lists them)", id));
  for (const char* other : {"reindex", "dry-run", "show-config", "list", "run-id", "only", "set", "profile",
                            "launcher", "file"})
    if (vm.count(other))
      throw InputError(fmt::format("--export exports one run and does nothing else: drop {} (run it as its own "
                                   "command)", std::string(other) == "file" ? "the sweep file '" + o.file + "'"
                                                                            : "--" + std::string(other)));
  return export_recorded_run(o.results, id, vm.count("out") ? vm["out"].as<std::string>() : std::string());
}

// A results root this process cannot write (read-only media, or another
// user's): nothing to do when every planned run is done (0, said so; the
// plan above lists them), else exit 2 naming how many are not and what to do.
int read_only_root(const SweepPlan& plan, const SweepOptions& o) {
  size_t not_done = 0;
  for (const auto& r : plan.runs) not_done += run_status(o.results, r.id) != "done";
  if (not_done == 0) {
    fmt::print("{} done; {} is read-only, so nothing was recorded (make_tables --results {} "
               "reads it in memory)\n", plan.runs.size() == 1 ? "the planned run is" : fmt::format("all {} planned runs are", plan.runs.size()),
               o.results, o.results);
    return 0;
  }
  throw InputError(fmt::format("--results {}: the folder (or its results.db) is read-only and {} of the {} planned "
                               "runs are not done; give a writable --results (copy the finished run folders "
                               "there to keep them) or make this one writable", o.results, not_done,
                               plan.runs.size()));
}

// Plan, print, check, then hand the plan to its launcher.
int sweep(SweepOptions& o) {
  check_threads_flag(o.threads);
  if (o.index_mode != "auto" && o.index_mode != "on" && o.index_mode != "off")
    throw InputError("--index '" + o.index_mode + "': expected auto, on or off");
  // Planning prepares the data it fingerprints (minutes for a large folder):
  // Ctrl-C there stops at the next chunk and says so (exit 130), as later.
  const bool light = o.dry_run || o.launcher == "slurm";
  if (!light) install_signal_handlers();
  SweepPlan plan = plan_sweep(o);
  // Data parallel (torchrun --no-python, or srun with several tasks): every
  // rank runs this program; rank 0 walks the plan and the others follow.
  const DistEnv dist = dist_env_from_process();
  if (dist.world > 1 && o.launcher == "slurm")
    throw InputError("--launcher slurm submits a sweep from a login node; run it outside torchrun/srun");
  if (dist.rank != 0) return follow_sweep(plan, o, dist);
  if (o.show_config) {
    print_configs(plan);
    return 0;
  }
  print_plan(plan, o);
  // Constraints of the config against the data's size (exit 2 before any
  // run starts) and runs too short to train (warnings). A dry run or a
  // Slurm submission checks what is cheap.
  std::fflush(stdout);                    // the plan above its warnings
  if (o.launcher == "slurm" || o.dry_run) {
    check_plan_data(plan, o, light);
    if (o.launcher == "slurm") return launch_slurm(plan, o);
    // A dry run refuses what the run would: a [sweep] name another file recorded here.
    if (o.run_id.empty()) check_sweep_name_free(o.results, sweep_record(plan, o));
    return 0;
  }
  // Data parallel: however rank 0 ends before launch_local connects (a plan
  // check failed, a read-only results folder), the followers hear it too.
  const bool leads = dist.world > 1;
  try {
    check_plan_data(plan, o, light);
    if (!index_writable(o.results)) {
      const int rc = read_only_root(plan, o);
      if (leads) tell_followers_the_sweep_ended(plan, dist, rc == 0 ? kSweepDone : kSweepFailed);
      return rc;
    }
  } catch (const InputError&) {
    if (leads) tell_followers_the_sweep_ended(plan, dist, kSweepFailed);
    throw;
  }
  return launch_local(plan, o, dist);
}

int run(int argc, char** argv) {
  SweepOptions o;
  po::options_description opts(
      "run_sweep FILE.toml [options]\n\nRun every row of a sweep file (see experiments/*.toml) and "
      "index the results.\nOptions");
  describe(opts, o);
  po::options_description hidden;
  hidden.add_options()("file", po::value(&o.file));
  po::variables_map vm;
  const std::string examples =
      "\nExamples:\n  run_sweep experiments/quickstart.toml --profile tiny\n"
      "  run_sweep experiments/ablation_table3.toml --profile small --launcher slurm "
      "--partition gpu --gpus-per-run 1 --time 12:00:00\n";
  if (auto rc = parse_flags("run_sweep", argc, argv, opts, vm, examples, &hidden, "file")) return *rc;
  if (vm.count("version")) {
    fmt::print("{}", version_report("run_sweep"));
    return 0;
  }
  // Paths go into records (JSON, SQLite text), which hold UTF-8 only.
  require_utf8(o.results, "--results");
  require_utf8(o.file, "the sweep file's path");
  for (const auto& p : o.plugins) require_utf8(p, "--plugin");
  for (const auto& p : o.plugins) load_plugin(p, "--plugin");
  if (vm.count("list")) {
    print_registries();
    return 0;
  }
  if (vm.count("export")) return export_only(vm, o);
  if (vm.count("out")) throw InputError("--out DIR goes with --export RUN_ID (see --help)");
  if (vm.count("reindex")) return reindex(o.results);
  if (o.file.empty()) {
    fmt::print(stderr, "run_sweep: give a sweep file, e.g. run_sweep experiments/quickstart.toml (see --help)\n");
    return 2;
  }
  o.dry_run = vm.count("dry-run") > 0 || vm.count("show-config") > 0;
  o.show_config = vm.count("show-config") > 0;
  // The Slurm script's settings mean nothing to a local sweep: refused, not ignored.
  if (o.launcher != "slurm")
    for (const char* flag : {"partition", "gpus-per-run", "cpus-per-run", "time"})
      if (vm.count(flag) && !vm[flag].defaulted())
        throw InputError(fmt::format("--{} sets the Slurm script: it goes with --launcher slurm", flag));
  return sweep(o);
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("run_sweep", [&] { return run(argc, argv); });
}
