// The process's stop request. run_sweep's signal handlers set it (SIGINT,
// SIGTERM, and Slurm's time-limit warning SIGUSR1); every long phase polls it
// at its safe points: the pre-training loop (which then checkpoints), and the
// tokenizer and classifier fits, data preparation, feature extraction, the
// linear and kNN probes and sampling, which throw Interrupted. A run stopped
// there is recorded "interrupted" and resumes where its saved state allows
// (a finished pre-training is kept in results/models/ and reused).
#pragma once
#include <atomic>
#include <stdexcept>
#include <string>

namespace ldae {

// Thrown at a safe point after a stop request; programs exit 130 (run_sweep
// first records the run interrupted and requeues a Slurm task).
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The flag itself (lock-free: a signal handler may store to it).
std::atomic<bool>& stop_flag();

inline bool stop_requested() { return stop_flag().load(std::memory_order_relaxed); }

// Throws Interrupted("stopped during <phase>") once a stop was requested.
inline void check_stop(const char* phase) {
  if (stop_requested()) throw Interrupted(std::string("stopped during ") + phase);
}

}  // namespace ldae
