#include "core/run/slurm.hpp"

#include <fmt/core.h>

#include <regex>

namespace ldae {

std::string shell_quote(const std::string& w) {
  if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-./=:,+@%") == std::string::npos)
    return w;
  std::string o = "'";
  for (char c : w) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

bool valid_slurm_time(const std::string& t) {
  static const std::regex re(R"(^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2})$)");
  return std::regex_match(t, re);
}

namespace {
// Run ids as a bash array's words, 4 to a line.
std::string id_words(const std::vector<std::string>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? (i % 4 == 0 ? " \\\n  " : " ") : "") + ids[i];
  return s;
}

// A script's #SBATCH lines from --job-name on (`array`: its --array line,
// or "" for none) up to `set -euo pipefail`.
std::string sbatch_lines(const SlurmOptions& o, const std::string& job_suffix, const std::string& array) {
  std::string s = fmt::format("#SBATCH --job-name={}{}\n", o.job_name, job_suffix) + array;
  if (!o.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", o.partition);
  if (o.gpus_per_run > 0) s += fmt::format("#SBATCH --gres=gpu:{}\n", o.gpus_per_run);
  if (o.cpus_per_run > 0) s += fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_run);
  s += fmt::format("#SBATCH --time={}\n", o.time);
  // Several GPUs per run: one data-parallel rank per GPU on one node, started
  // by srun (which sets SLURM_PROCID/NTASKS/LOCALID and forwards USR1).
  if (o.gpus_per_run > 1) s += fmt::format("#SBATCH --nodes=1\n#SBATCH --ntasks-per-node={}\n", o.gpus_per_run);
  else s += "#SBATCH --ntasks=1\n";
  s += "#SBATCH --signal=B:USR1@120\n";  // checkpoint and requeue before the limit
  s += "#SBATCH --requeue\n";
  s += fmt::format("#SBATCH --output={}/%A_%a.out\n", o.log_dir);
  s += "set -euo pipefail\n";
  return s;
}

// The task's command, once RUN_IDS is set.
std::string task_command(const SlurmOptions& o) {
  std::string s = ": \"${SLURM_ARRAY_TASK_ID:?set by sbatch --array}\"\n";
  if (o.gpus_per_run > 1) {
    // A rendezvous port per task, so tasks sharing a node do not collide.
    s += "export MASTER_PORT=$(( 20000 + (SLURM_ARRAY_JOB_ID * 7919 + SLURM_ARRAY_TASK_ID) % 40000 ))\n";
    s += "exec srun --kill-on-bad-exit=1";
  } else {
    s += "exec";
  }
  for (const auto& w : o.command) s += " " + shell_quote(w);
  s += " --run-id \"${RUN_IDS[$SLURM_ARRAY_TASK_ID]}\"\n";
  return s;
}

const char* kRerunLine = "# Rerunning run_sweep --launcher slurm writes new scripts for the runs still pending.\n";
}  // namespace

std::string sbatch_script(const SlurmOptions& o, const std::vector<std::string>& ids) {
  std::string s = "#!/bin/bash\n";
  s += "# Written by run_sweep --launcher slurm: a task per trained model to train\n";
  s += "# (its first pending run) and per run that trains none or reads a kept model.\n";
  s += "# Submit with `sbatch --parsable THIS_FILE`; the other runs sharing those\n";
  s += "# models are the .after.sbatch arrays beside it, if any.\n";
  s += kRerunLine;
  s += sbatch_lines(o, "", fmt::format("#SBATCH --array=0-{}\n", ids.size() - 1));
  s += "RUN_IDS=(" + id_words(ids) + ")\n";
  return s + task_command(o);
}

std::string sbatch_after_script(const SlurmOptions& o, const std::vector<std::vector<std::string>>& groups) {
  std::string s = "#!/bin/bash\n";
  s += "# Written by run_sweep --launcher slurm: the other pending runs sharing a\n";
  s += "# model that the first array trains, reading the kept model: an array per\n";
  s += "# model (group G, this script's argument), a task per run, submitted with\n";
  s += "# `sbatch --array=0-(N-1) --dependency=afterok:JOB_TASK --kill-on-invalid-dep=yes\n";
  s += "# THIS_FILE G`, JOB_TASK being the first array's task that trains the model.\n";
  s += kRerunLine;
  s += sbatch_lines(o, "-after", "");
  s += "case \"${1:?the group of runs: run_sweep --launcher slurm passes it}\" in\n";
  for (size_t g = 0; g < groups.size(); ++g) s += fmt::format("  {}) RUN_IDS=({}) ;;\n", g, id_words(groups[g]));
  s += fmt::format("  *) echo \"no group $1 in this script (0-{})\" >&2; exit 2 ;;\n", groups.size() - 1);
  s += "esac\n";
  return s + task_command(o);
}

}  // namespace ldae
