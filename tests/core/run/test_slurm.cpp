// The sbatch script of a Slurm sweep, golden; quoting and time formats.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/run/launch.hpp"
#include "core/run/run_stages.hpp"
#include "core/run/slurm.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;

TEST(Slurm, ScriptIsOneArrayTaskPerRun) {
  SlurmOptions o;
  o.job_name = "ldae-table3-small";
  o.partition = "gpu";
  o.gpus_per_run = 1;
  o.cpus_per_run = 8;
  o.time = "12:00:00";
  o.log_dir = "/shared/results/slurm/logs";
  o.command = {"/opt/ldae/bin/run_sweep", "/shared/exp/ablation_table3.toml", "--results",
               "/shared/results", "--profile", "small", "--set", "probe.name=linear",
               "--set", "data.path=/data/my cifar"};
  const std::string expected =
      "#!/bin/bash\n"
      "# Written by run_sweep --launcher slurm: a task per trained model to train\n"
      "# (its first pending run) and per run that trains none or reads a kept model.\n"
      "# Submit with `sbatch --parsable THIS_FILE`; the other runs sharing those\n"
      "# models are the .after.sbatch arrays beside it, if any.\n"
      "# Rerunning run_sweep --launcher slurm writes new scripts for the runs still pending.\n"
      "#SBATCH --job-name=ldae-table3-small\n"
      "#SBATCH --array=0-4\n"
      "#SBATCH --partition=gpu\n"
      "#SBATCH --gres=gpu:1\n"
      "#SBATCH --cpus-per-task=8\n"
      "#SBATCH --time=12:00:00\n"
      "#SBATCH --ntasks=1\n"
      "#SBATCH --signal=B:USR1@120\n"
      "#SBATCH --requeue\n"
      "#SBATCH --output=/shared/results/slurm/logs/%A_%a.out\n"
      "set -euo pipefail\n"
      "RUN_IDS=(a1 b2,b3 c3 d4 \\\n  e5)\n"
      ": \"${SLURM_ARRAY_TASK_ID:?set by sbatch --array}\"\n"
      "exec /opt/ldae/bin/run_sweep /shared/exp/ablation_table3.toml --results /shared/results "
      "--profile small --set probe.name=linear --set 'data.path=/data/my cifar' "
      "--run-id \"${RUN_IDS[$SLURM_ARRAY_TASK_ID]}\"\n";
  EXPECT_EQ(sbatch_script(o, {"a1", "b2,b3", "c3", "d4", "e5"}), expected);
  // The arrays after it: its own job name, no --array line (each group's
  // sbatch gives it), and the group's runs chosen by the script's argument.
  const std::string after = sbatch_after_script(o, {{"t50", "t100"}, {"a1", "b2", "c3", "d4", "e5"}});
  const std::string after_expected =
      "#!/bin/bash\n"
      "# Written by run_sweep --launcher slurm: the other pending runs sharing a\n"
      "# model that the first array trains, reading the kept model: an array per\n"
      "# model (group G, this script's argument), a task per run, submitted with\n"
      "# `sbatch --array=0-(N-1) --dependency=afterok:JOB_TASK --kill-on-invalid-dep=yes\n"
      "# THIS_FILE G`, JOB_TASK being the first array's task that trains the model.\n"
      "# Rerunning run_sweep --launcher slurm writes new scripts for the runs still pending.\n"
      "#SBATCH --job-name=ldae-table3-small-after\n" +
      // The first script's #SBATCH lines after its --array line, as they are.
      expected.substr(expected.find("#SBATCH --partition"),
                      expected.find("RUN_IDS=(") - expected.find("#SBATCH --partition")) +
      "case \"${1:?the group of runs: run_sweep --launcher slurm passes it}\" in\n"
      "  0) RUN_IDS=(t50 t100) ;;\n"
      "  1) RUN_IDS=(a1 b2 c3 d4 \\\n  e5) ;;\n"
      "  *) echo \"no group $1 in this script (0-1)\" >&2; exit 2 ;;\n"
      "esac\n";
  EXPECT_EQ(after.substr(0, after_expected.size()), after_expected);
  EXPECT_EQ(after.substr(after_expected.size()), expected.substr(expected.find(": \"${SLURM_ARRAY_TASK_ID")));
}

TEST(Slurm, RunsSharingAModelToTrainWaitForTheTaskThatTrainsIt) {
  // A probe-only variant (probe.t) reads the model its row trains: the
  // first array trains it once, where a task each would train it on every
  // GPU; the variants are an array after it, probing in parallel, started
  // when the task training their model succeeded, not when the whole first
  // array did. Runs that train nothing are a task each.
  const auto results = std::filesystem::path(test::temp_dir("slurm-tasks"));
  std::filesystem::remove_all(results);
  RunConfig a;
  RunConfig probe_t = a, probe_t2 = a, longer = a, pixels = a, longer_t = a;
  probe_t.probe.t = 50;
  probe_t2.probe.t = 100;
  longer.train.epochs = a.train.epochs + 1;
  longer_t = longer;
  longer_t.probe.t = 50;
  pixels.probe.features = "raw_pixels";
  std::vector<PlannedRun> pending;
  for (const auto& [id, cfg] : std::vector<std::pair<std::string, RunConfig>>{
           {"px1", pixels}, {"a", a}, {"longer", longer}, {"t50", probe_t}, {"longer50", longer_t}, {"px2", pixels},
           {"t100", probe_t2}}) {
    PlannedRun p;
    p.id = id, p.cfg = cfg;
    pending.push_back(p);
  }
  auto t = slurm_tasks(pending, results.string());
  EXPECT_EQ(t.first, (std::vector<std::string>{"px1", "a", "longer", "px2"}));
  ASSERT_EQ(t.after.size(), 2u);
  EXPECT_EQ(t.after[0].trainer, 1u);  // "a", task 1 of the first array
  EXPECT_EQ(t.after[0].runs, (std::vector<std::string>{"t50", "t100"}));
  EXPECT_EQ(t.after[1].trainer, 2u);  // "longer"
  EXPECT_EQ(t.after[1].runs, (std::vector<std::string>{"longer50"}));
  EXPECT_EQ(t.after_runs(), 3u);
  // A model kept already (an earlier submission trained it): its runs need
  // not wait, each is a task of the first array.
  const std::string kept = trained_model_path(a, results.string());
  std::filesystem::create_directories(std::filesystem::path(kept).parent_path());
  std::ofstream(kept) << "a kept model";
  t = slurm_tasks(pending, results.string());
  EXPECT_EQ(t.first, (std::vector<std::string>{"px1", "a", "longer", "t50", "px2", "t100"}));
  ASSERT_EQ(t.after.size(), 1u);
  EXPECT_EQ(t.after[0].trainer, 2u);
  EXPECT_EQ(t.after[0].runs, (std::vector<std::string>{"longer50"}));
  std::filesystem::remove_all(results);
}

TEST(Slurm, SeveralGpusPerRunAreDataParallelRanksUnderSrun) {
  SlurmOptions o;
  o.job_name = "j";
  o.log_dir = "/l";
  o.gpus_per_run = 4;
  o.command = {"run_sweep", "f.toml"};
  auto s = sbatch_script(o, {"x", "y"});
  EXPECT_NE(s.find("#SBATCH --gres=gpu:4\n#SBATCH --time=24:00:00\n#SBATCH --nodes=1\n"
                   "#SBATCH --ntasks-per-node=4\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("--ntasks=1"), std::string::npos);
  EXPECT_NE(s.find("export MASTER_PORT=$(( 20000 + (SLURM_ARRAY_JOB_ID * 7919 + SLURM_ARRAY_TASK_ID) % 40000 ))\n"
                   "exec srun --kill-on-bad-exit=1 run_sweep f.toml --run-id"), std::string::npos) << s;
}

TEST(Slurm, DefaultsLeaveOutPartitionGpusAndCpus) {
  SlurmOptions o;
  o.job_name = "j";
  o.log_dir = "/l";
  o.command = {"run_sweep"};
  auto s = sbatch_script(o, {"x"});
  EXPECT_NE(s.find("#SBATCH --array=0-0\n"), std::string::npos);
  EXPECT_EQ(s.find("--partition"), std::string::npos);
  EXPECT_EQ(s.find("--gres"), std::string::npos);
  EXPECT_EQ(s.find("--cpus-per-task"), std::string::npos);
  EXPECT_NE(s.find("#SBATCH --time=24:00:00\n"), std::string::npos);
}

TEST(Slurm, QuotingAndTimes) {
  EXPECT_EQ(shell_quote("plain/path-1.toml"), "plain/path-1.toml");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("tokenizer.name=\"x\""), "'tokenizer.name=\"x\"'");
  for (const char* t : {"30", "30:00", "4:00:00", "1-12", "1-12:30", "2-00:00:00"})
    EXPECT_TRUE(valid_slurm_time(t)) << t;
  for (const char* t : {"", "4h", "1:2", "12:00:00:00", "-1"}) EXPECT_FALSE(valid_slurm_time(t)) << t;
}
