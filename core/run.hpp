// One run, end to end: data -> tokenizer (fitted once, cached) -> DiT
// pre-training -> linear probe -> records (run folder + SQLite index).
#pragma once
#include <atomic>
#include <string>

#include "core/config.hpp"
#include "core/store.hpp"

namespace ldae {

struct RunContext {
  std::string results = "results";
  int threads = 0;                          // 0 = config, then all cores
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM
  int64_t max_steps = 0;                    // tests: stop after N steps
  bool wait_if_busy = false;                // wait for another process's run to end
};

struct RunOutcome {
  // Busy: another process holds the run's lock (a concurrent sweep).
  enum Status { Done, Failed, Stopped, Skipped, Busy } status = Done;
  double top1 = -1;
  double seconds = 0;
  std::string error;
};

// Status recorded in the run folder: "" (never started), running, done,
// failed, interrupted.
std::string run_status(const std::string& results, const std::string& id);

RunOutcome execute_run(const RunConfig& cfg, const std::string& label, const RunContext& ctx,
                       Store& store);

// The commit of the source tree (with -dirty for local changes), read at
// run time so records never carry a stale configure-time value.
std::string git_commit();

// The versions of the libraries this build runs on, for run.json.
std::string library_versions();

}  // namespace ldae
