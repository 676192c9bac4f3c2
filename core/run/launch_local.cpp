// The local launcher (core/run/launch.hpp): the plan's runs here, one after
// another, each skipped when done, resumed when interrupted, left for a
// second pass while another process trains it. Under data parallel this is
// rank 0, which announces each run to the followers.
#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "core/base/plural.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/stop.hpp"
#include "core/records/records.hpp"
#include "core/records/store.hpp"
#include "core/run/launch.hpp"
#include "core/run/run.hpp"
#include "core/run/signals.hpp"

namespace ldae {

SweepRecord sweep_record(const SweepPlan& p, const SweepOptions& o) {
  SweepRecord rec{p.sweep.name, o.profile.empty() ? "default" : o.profile, p.sweep.title,
                  std::filesystem::absolute(o.file).string(), p.sweep.mode, {}, o.sets};
  for (const auto& r : p.full) rec.rows.push_back({r.row, r.label, r.seed, r.id, r.paper, r.parent});
  return rec;
}

namespace {

// Rank 0's last word to the followers: the sweep's end code, then the
// barrier follow_sweep passes before returning (rank 0 serves the store).
void announce_sweep_end(Communicator& comm, int64_t code) {
  comm.broadcast(code, 60);
  comm.barrier();
}

// A plan with other --set values than the one recorded replaces it in the
// sweep's table (its rows are other runs): said, so a table never changes
// what it shows without a word.
void say_if_the_table_changes(const std::string& results, const SweepRecord& now) {
  const auto before = read_sweep_json(sweep_json_path(results, now.name, now.profile));
  if (!before || before->overrides == now.overrides) return;
  auto sets = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "--set " : ", --set ") + x;
    return s;
  };
  if (now.overrides.empty())
    fmt::print("note: the table of sweep {} (profile {}) shows the sweep file's own runs again (it showed those of "
               "{})\n", now.name, now.profile, sets(before->overrides));
  else
    fmt::print("note: the table of sweep {} (profile {}) now shows the runs planned with {} (the table says so); "
               "run the sweep file without them to show its own runs again (finished runs are kept)\n",
               now.name, now.profile, sets(now.overrides));
}

// The index: one SQLite file that must never be written from two hosts
// (WAL needs shared memory; network file systems break POSIX locks). Array
// tasks write their run folders only; whoever reads the index next syncs it.
std::optional<Store> open_index(const SweepOptions& o) {
  const char* index_env = std::getenv("LDAE_INDEX");
  if (index_env && *index_env && std::string(index_env) != "off" && std::string(index_env) != "on")
    throw InputError(fmt::format("LDAE_INDEX={}: expected off (run folders only, as Slurm array tasks write) or "
                                 "on; unset it for the default",
                                 index_env));
  const bool write_index = o.index_mode == "on" ||
                           (o.index_mode == "auto" && !std::getenv("SLURM_ARRAY_TASK_ID") &&
                            !(index_env && std::string(index_env) == "off"));
  std::optional<Store> store;
  if (write_index) {
    store.emplace(o.results + "/results.db");
    sync_index(*store, o.results, "run_sweep");
  }
  return store;
}


// The whole plan is recorded (--only runs part of it; the table shows the
// rest pending), except by Slurm array tasks: their launcher recorded it.
void record_plan(const SweepPlan& p, const SweepOptions& o, std::optional<Store>& store) {
  if (!o.run_id.empty()) return;
  const SweepRecord rec = sweep_record(p, o);
  check_sweep_name_free(o.results, rec);
  say_if_the_table_changes(o.results, rec);
  record_sweep_plan(o.results, store ? &*store : nullptr, rec);
}

// One pass over the plan's runs, printing each outcome.
class LocalLoop {
 public:
  LocalLoop(const SweepPlan& p, RunContext& ctx, Store* store) : plan_(p.runs), ctx_(ctx), store_(store) {}

  // Runs plan[i] (its index is what data-parallel followers are told); false
  // when the sweep must stop (interrupted). Runs another process is training
  // go to `busy`, by index.
  bool run_one(size_t i, std::vector<size_t>& busy) {
    const PlannedRun& p = plan_[i];
    ctx_.dp_index = int64_t(i);
    fmt::print("\n[{}/{}] row {} seed {} {}: {}\n", ++k_, plan_.size(), p.row, p.seed, p.id, p.label);
    std::fflush(stdout);
    auto out = execute_run(p.cfg, p.label, ctx_, store_);
    switch (out.status) {
      case RunOutcome::Skipped: fmt::print("  done earlier: top-1 {:.2f}%\n", out.top1); break;
      case RunOutcome::Done:
        fmt::print("  done in {:.1f} s: top-1 {:.2f}%{}\n", out.seconds, out.top1,
                   out.knn_top1 >= 0 ? fmt::format(", kNN {:.2f}%", out.knn_top1) : "");
        break;
      case RunOutcome::Failed: fmt::print("  FAILED: {}\n", out.error); ++failed_; break;
      case RunOutcome::Busy:
        fmt::print("  {}; coming back to it at the end\n", out.error.empty() ? "running in another process" : out.error);
        busy.push_back(i);
        --k_;
        break;
      case RunOutcome::Stopped:
        if (requeue_requested() && requeue_slurm_task()) {
          fmt::print("  checkpointed before the time limit; task requeued, it resumes there\n");
          requeued_ = true;
        } else {
          fmt::print("  interrupted; rerun the same command to resume (from its checkpoint, if it had trained)\n");
        }
        return false;
    }
    std::fflush(stdout);
    return true;
  }
  int failed() const { return failed_; }
  bool requeued() const { return requeued_; }

 private:
  const std::vector<PlannedRun>& plan_;
  RunContext& ctx_;
  Store* store_;
  size_t k_ = 0;
  int failed_ = 0;
  bool requeued_ = false;
};

}  // namespace

int launch_local(const SweepPlan& p, const SweepOptions& o, const DistEnv& dist) {
  install_signal_handlers();
  RunContext ctx;
  ctx.results = o.results;
  ctx.threads = o.threads;
  ctx.stop = &stop_flag();
  ctx.comm = connect_interruptibly(dist, plan_on_gpu(p.runs));
  if (ctx.comm)
    fmt::print("data parallel: {} {} processes ({}'s environment), rendezvous {}:{}\n", dist.world,
               ctx.comm->backend(), dist.source, dist.master_addr, dist.master_port);
  // However this process leaves the sweep (from here on: a results folder it
  // cannot write or index included), the followers hear it and exit too.
  struct SweepEnd {
    std::shared_ptr<Communicator> comm;
    int64_t code = kSweepFailed;
    ~SweepEnd() {
      try {
        if (comm) announce_sweep_end(*comm, code);
      } catch (...) {
      }
    }
  } sweep_end{ctx.comm};
  std::filesystem::create_directories(o.results);
  // Shared folders: temporaries of processes of this host killed mid-write.
  for (const char* sub : {"", "/sweeps", "/models", "/tokenizers", "/cache", "/tables", "/slurm"})
    remove_stale_temporaries(o.results + sub);
  std::optional<Store> store = open_index(o);
  if (stop_requested()) sweep_end.code = kSweepStopped;  // followers stop as rank 0 does, not as failed
  check_stop("the wait for the index's lock (no run was started)");  // Ctrl-C there: no run begins
  record_plan(p, o, store);
  LocalLoop loop(p, ctx, store ? &*store : nullptr);
  // Runs another process is training (a concurrent sweep, or an orphan of a
  // killed `make`) are left for a second pass that waits for them.
  std::vector<size_t> busy, unused;
  sweep_end.code = kSweepStopped;
  for (size_t i : local_run_order(p.runs, o.results))
    if (!loop.run_one(i, busy)) return loop.requeued() ? 0 : 130;
  ctx.wait_if_busy = true;
  for (size_t i : busy)
    if (!loop.run_one(i, unused)) return loop.requeued() ? 0 : 130;
  sweep_end.code = kSweepDone;
  fmt::print("\nsweep {}: {}, {} failed; tables: make_tables --results {} --sweep {}\n",
             p.sweep.name, count_of(int64_t(p.runs.size()), "run"), loop.failed(), shell_quote(o.results), p.sweep.name);
  return loop.failed() ? 1 : 0;
}

void tell_followers_the_sweep_ended(const SweepPlan& p, const DistEnv& dist, int64_t code) {
  try {
    if (auto comm = connect_interruptibly(dist, plan_on_gpu(p.runs))) announce_sweep_end(*comm, code);
  } catch (...) {  // the reason rank 0 stops is the error it is about to print
  }
}

}  // namespace ldae
