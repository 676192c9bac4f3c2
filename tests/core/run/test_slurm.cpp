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
      "# models are the .after.sbatch array beside it, if any.\n"
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
  // The array after it: its own job name and how it is submitted; the rest alike.
  const std::string after = sbatch_script(o, {"a1", "b2,b3", "c3", "d4", "e5"}, SlurmArray::After);
  const std::string after_head =
      "#!/bin/bash\n"
      "# Written by run_sweep --launcher slurm: the other pending runs sharing a\n"
      "# model that the first array trains, a task each, reading the kept model.\n"
      "# Submit with `sbatch --dependency=afterok:JOB --kill-on-invalid-dep=yes\n"
      "# THIS_FILE`, JOB being the first array's job id.\n"
      "# Rerunning run_sweep --launcher slurm writes new scripts for the runs still pending.\n"
      "#SBATCH --job-name=ldae-table3-small-after\n";
  EXPECT_EQ(after.substr(0, after_head.size()), after_head);
  EXPECT_EQ(after.substr(after_head.size()), expected.substr(expected.find("#SBATCH --array")));
}

TEST(Slurm, RunsSharingAModelToTrainWaitForTheArrayThatTrainsIt) {
  // A probe-only variant (probe.t) reads the model its row trains: the
  // first array trains it once, where a task each would train it on every
  // GPU; the variant is a task of the array after it, probing in parallel
  // with the other variants. Runs that train nothing are a task each.
  const auto results = std::filesystem::path(test::temp_dir("slurm-tasks"));
  std::filesystem::remove_all(results);
  RunConfig a;
  RunConfig probe_t = a, probe_t2 = a, longer = a, pixels = a;
  probe_t.probe.t = 50;
  probe_t2.probe.t = 100;
  longer.train.epochs = a.train.epochs + 1;
  pixels.probe.features = "raw_pixels";
  std::vector<PlannedRun> pending;
  for (const auto& [id, cfg] : std::vector<std::pair<std::string, RunConfig>>{
           {"a", a}, {"longer", longer}, {"px1", pixels}, {"t50", probe_t}, {"px2", pixels}, {"t100", probe_t2}}) {
    PlannedRun p;
    p.id = id, p.cfg = cfg;
    pending.push_back(p);
  }
  auto t = slurm_tasks(pending, results.string());
  EXPECT_EQ(t.first, (std::vector<std::string>{"a", "longer", "px1", "px2"}));
  EXPECT_EQ(t.after, (std::vector<std::string>{"t50", "t100"}));
  // A model kept already (an earlier submission trained it): its runs need
  // not wait, each is a task of the first array.
  const std::string kept = trained_model_path(a, results.string());
  std::filesystem::create_directories(std::filesystem::path(kept).parent_path());
  std::ofstream(kept) << "a kept model";
  t = slurm_tasks(pending, results.string());
  EXPECT_EQ(t.first, (std::vector<std::string>{"a", "longer", "px1", "t50", "px2", "t100"}));
  EXPECT_TRUE(t.after.empty());
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
