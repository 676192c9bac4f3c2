// run_sweep's steps, from flags to finished runs (experiments/run_sweep.cpp
// only parses flags and calls these):
//   plan_sweep        sweep file -> validated plan, data fingerprints, --only / --run-id
//   print_plan        one line a run with its status (and why it failed or is damaged)
//   check_plan_data   the config against the data's size (errors before any run starts)
//   launch_local      the runs, here, one after another (rank 0 of data parallel too)
//   launch_slurm      an sbatch array of the pending runs
//   follow_sweep      data parallel, ranks > 0: join each run rank 0 announces
// Exit codes: 0 all done, 1 a run failed, 2 bad input (InputError), 130 interrupted.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/config/sweep.hpp"
#include "core/nn/distributed.hpp"
#include "core/records/store.hpp"
#include "core/run/slurm.hpp"

namespace ldae {

// run_sweep's flags (run_sweep --help says each).
struct SweepOptions {
  std::string file, profile, only, results = "results", launcher = "local", run_id, index_mode = "auto";
  std::vector<std::string> sets, plugins;
  int threads = 0;
  bool dry_run = false;
  bool show_config = false;  // print each run's resolved config and exit (implies dry_run)
  SlurmOptions slurm;
};

struct SweepPlan {
  SweepFile sweep;
  std::vector<PlannedRun> full;  // every run of the sweep under the profile (what is recorded)
  std::vector<PlannedRun> runs;  // those this process runs (--only, --run-id)
  size_t unfingerprinted = 0;    // runs whose data is not there yet (ids change once it is)
};

// Parses o.file (a bare name is looked up: find_sweep_file), loads its
// plugins, expands and validates every run, attaches data fingerprints and
// keeps what --only / --run-id select. InputError (exit 2) for bad flags or
// a bad sweep file, naming file:line and key.
SweepPlan plan_sweep(SweepOptions& o);
void print_plan(const SweepPlan& p, const SweepOptions& o);
// --show-config: each planned run's resolved config (to_toml), headed by a
// comment with its row, seed, run id and label, as Hydra's --cfg job.
void print_configs(const SweepPlan& p);
// Each run's config against its data: missing data and impossible sizes are
// InputError; runs too short to train are warnings (printed once each). A
// light check (dry run, Slurm submission) skips what needs prepared data,
// the network files and the device (train.device = "cuda" with no GPU
// visible), which the machines that run the sweep may have.
void check_plan_data(const SweepPlan& p, const SweepOptions& o, bool light);
// The sweep's record (results/sweeps/NAME.PROFILE.json) for the whole plan;
// check_sweep_name_free on it is what a run refuses, and a dry run says too.
SweepRecord sweep_record(const SweepPlan& p, const SweepOptions& o);
int launch_local(const SweepPlan& p, const SweepOptions& o, const DistEnv& dist);
int launch_slurm(const SweepPlan& p, const SweepOptions& o);
// The Slurm arrays' tasks for the pending runs, each a run id (what
// --run-id takes). `first`: the first pending run of each trained model
// (results/models/, trained_model_path) not kept yet, or the one of them
// with a checkpoint (model_trainers), which trains it, and
// every run that trains none (raw pixels, an untrained encoder) or reads a
// model already kept. `after`: the other runs sharing a model that `first`
// trains, one task each, for the array submitted to start once the first
// has succeeded (so a probe grid such as ddae_block_t trains each model
// once, then probes in parallel). Order: plan order within each.
// The pending run that trains each model its runs share (key: the model's
// path, trained_model_path): the one with the furthest checkpoint
// (runs/<id>/ckpt/last.pt: an interrupted training of that model, which it
// resumes; how far by the steps its run.json records; the first in plan
// order among equals), else the first. Models kept already, and runs that train none,
// have no entry.
std::map<std::string, std::string> model_trainers(const std::vector<PlannedRun>& pending, const std::string& results);
// The order a local sweep runs the plan: plan order, except that the run
// training a model (model_trainers) comes before the other runs sharing it,
// so an interrupted training resumes instead of being trained anew by a
// run listed before it. Indexes into `plan`.
std::vector<size_t> local_run_order(const std::vector<PlannedRun>& plan, const std::string& results);
// A Slurm sweep's arrays: `first`, a task per model to train (its trainer,
// model_trainers) and per run that trains none or reads a kept model; and,
// per model the first array trains that other pending runs share, those
// runs (`after`, in plan order of their models' trainers), an array each,
// submitted to start once that model's task succeeded.
struct SlurmGroup {
  size_t trainer = 0;             // the task of `first` that trains the model
  std::vector<std::string> runs;  // the other runs reading it, a task each
};
struct SlurmTasks {
  std::vector<std::string> first;
  std::vector<SlurmGroup> after;
  size_t after_runs() const;  // runs over all of `after`
};
SlurmTasks slurm_tasks(const std::vector<PlannedRun>& pending, const std::string& results);
int follow_sweep(const SweepPlan& p, const SweepOptions& o, const DistEnv& dist);

// Data parallel over NCCL when every run of the plan trains on a GPU, else Gloo.
bool plan_on_gpu(const std::vector<PlannedRun>& plan);
// What rank 0 broadcasts instead of a plan index when the sweep ends.
constexpr int64_t kSweepDone = -1, kSweepStopped = -2, kSweepFailed = -3;
// Rank 0 of a data-parallel sweep ending before launch_local (a check of
// the plan failed, a read-only results folder): connects and broadcasts
// `code` (kSweepDone: the followers exit 0; kSweepFailed: 1) instead of
// leaving them waiting for it; errors are swallowed.
void tell_followers_the_sweep_ended(const SweepPlan& p, const DistEnv& dist, int64_t code);

// run_sweep --list: every registry's names, each method and its keys, each
// backbone's feature points, every key with its default, the plugins'.
void print_registries();

}  // namespace ldae
