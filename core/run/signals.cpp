#include "core/run/signals.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>

#include "core/base/stop.hpp"
#include "core/run/slurm.hpp"

namespace ldae {
namespace {

std::atomic<bool> g_requeue{false}, g_connecting{false};

void on_signal(int sig) {
  if (stop_requested() || g_connecting) std::_Exit(128 + sig);
  stop_flag() = true;
}

void on_usr1(int) {
  g_requeue = true;
  stop_flag() = true;
}

}  // namespace

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_usr1);
}

std::shared_ptr<Communicator> connect_interruptibly(const DistEnv& dist, bool cuda) {
  g_connecting = true;
  struct Reset {
    ~Reset() { g_connecting = false; }
  } reset;
  return connect(dist, cuda);
}

bool requeue_requested() { return g_requeue; }

bool requeue_slurm_task() {
  const char* job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* plain = std::getenv("SLURM_JOB_ID");
  std::string id = job && task ? std::string(job) + "_" + task : plain ? plain : "";
  // Outside Slurm (a SLURM_JOB_ID left in a shell) there is no scontrol: no
  // requeue, and no "scontrol: not found" from the shell either.
  if (id.empty() || std::system("command -v scontrol > /dev/null 2>&1") != 0) return false;
  return std::system(("scontrol requeue " + shell_quote(id)).c_str()) == 0;
}

}  // namespace ldae
