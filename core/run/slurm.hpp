// Slurm sweeps: sbatch arrays of the pending runs (core/run/launch.hpp,
// slurm_tasks). Each task runs `run_sweep FILE ... --run-id ID` for its run, so on a shared file
// system tasks write only their own run folders (and the SQLite index under
// its busy timeout; `run_sweep --reindex` rebuilds it from the folders).
// Slurm sends SIGUSR1 120 s before the time limit (--signal=B:USR1@120):
// run_sweep checkpoints and requeues the task, which resumes the run.
#pragma once
#include <string>
#include <vector>

namespace ldae {

struct SlurmOptions {
  std::string job_name;         // e.g. "ldae-table3-tiny"
  std::string partition;        // "" = the cluster's default
  int gpus_per_run = 0;         // --gres=gpu:N; N > 1: N data-parallel ranks (srun)
  int cpus_per_run = 0;         // --cpus-per-task (0 = the cluster's default)
  std::string time = "24:00:00";
  std::string log_dir;          // slurm's own stdout/stderr per task
  // The command a task runs, without --run-id (absolute paths, quoted).
  std::vector<std::string> command;
};

// The sbatch script of a sweep's first array for `run_ids` (task i runs
// run_ids[i]: one id, or ids joined by commas, which --run-id runs in
// order): a task per model to train and per run that trains none or reads
// a kept model. Deterministic, so it is golden-tested.
std::string sbatch_script(const SlurmOptions& o, const std::vector<std::string>& run_ids);

// The sbatch script of the arrays after it: group g (the script's first
// argument) holds the other pending runs sharing one model the first array
// trains, task i running groups[g][i]. Each group is submitted as its own
// array, `sbatch --array=0-(N-1) --dependency=afterok:JOB_TASK
// --kill-on-invalid-dep=yes THIS_FILE g`, so it starts once the task that
// trains its model succeeded, whatever the other tasks do. No #SBATCH
// --array line: the command line gives each group's.
std::string sbatch_after_script(const SlurmOptions& o, const std::vector<std::vector<std::string>>& groups);

// Quote one word for bash ('...' with embedded quotes escaped).
std::string shell_quote(const std::string& word);

// Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
bool valid_slurm_time(const std::string& t);

}  // namespace ldae
