// Data-parallel followers (core/run/launch.hpp): ranks other than 0 of
// torchrun or srun expand the same plan and join each run rank 0 starts.
#include <fmt/core.h>

#include "core/base/stop.hpp"
#include "core/run/launch.hpp"
#include "core/run/run.hpp"
#include "core/run/signals.hpp"

namespace ldae {

// Data parallel, ranks other than 0: join each run rank 0 announces (by its
// index in the plan, which every rank expands identically) until it says the
// sweep is over. Exit code as rank 0's: 0 done, 130 stopped, 1 otherwise.
int follow_sweep(const SweepPlan& sp, const SweepOptions& o, const DistEnv& dist) {
  if (o.dry_run || o.show_config) return 0;  // rank 0 plans or prints, and runs nothing
  const std::vector<PlannedRun>& plan = sp.runs;
  RunContext ctx;
  ctx.results = o.results;
  ctx.threads = o.threads;
  ctx.stop = &stop_flag();
  install_signal_handlers();
  ctx.comm = connect_interruptibly(dist, plan_on_gpu(plan));
  // The sweep's end: one barrier after rank 0's last word, so rank 0 (which
  // serves the rendezvous store) stays until every follower is through its
  // set-up; a rank 0 that connected only to say the sweep failed would
  // otherwise exit while a follower still talks to its store.
  auto end = [&](int code) {
    try {
      ctx.comm->barrier();
    } catch (...) {  // rank 0 is gone already: the code stands
    }
    return code;
  };
  for (;;) {
    const int64_t k = ctx.comm->broadcast(kSweepFailed, kFollowerWaitS);
    if (k == kSweepDone) return end(0);
    if (k == kSweepStopped) return end(130);
    if (k < 0 || size_t(k) >= plan.size()) return end(1);
    auto out = follow_run(plan[size_t(k)].cfg, ctx);
    if (!out.error.empty()) return 1;  // rank 0 is gone
    if (out.status == RunOutcome::Failed)
      fmt::print(stderr, "rank {}: run {} ended early (rank 0 records why)\n", dist.rank, plan[size_t(k)].id);
  }
}

}  // namespace ldae
