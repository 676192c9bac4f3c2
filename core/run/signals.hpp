// How a sweep hears signals: the first Ctrl-C (SIGINT, SIGTERM) checkpoints
// and stops at the next step, a second stops now (a killed run resumes from
// its last checkpoint); Slurm's warning before the time limit (SIGUSR1, from
// sbatch --signal=B:USR1@120) checkpoints and asks for the array task to be
// requeued. While connecting to data-parallel peers a signal ends the
// process at once (there is no step to stop at and nothing to save).
#pragma once
#include <memory>

#include "core/nn/distributed.hpp"

namespace ldae {

void install_signal_handlers();
// connect() (core/nn/distributed.hpp) with a signal ending the process at
// once while it waits for its peers.
std::shared_ptr<Communicator> connect_interruptibly(const DistEnv& dist, bool cuda);
// SIGUSR1 arrived: the stop was Slurm's time-limit warning.
bool requeue_requested();
// Requeue this Slurm array task (it resumes from the checkpoint). False when
// not under Slurm or scontrol fails.
bool requeue_slurm_task();

}  // namespace ldae
