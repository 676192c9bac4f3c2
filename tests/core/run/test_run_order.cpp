// Which run trains a model its runs share: one with a checkpoint of it (an
// interrupted training) comes first, locally and in the Slurm arrays, so
// the training resumes instead of starting anew under another run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/base/filesystem.hpp"
#include "core/records/records.hpp"
#include "core/run/launch.hpp"
#include "core/run/run_stages.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

TEST(RunOrder, ARunWithACheckpointOfTheSharedModelTrainsIt) {
  const auto results = test::temp_dir("run-order");
  remove_tree(results);
  RunConfig a;
  RunConfig t50 = a, t100 = a, pixels = a, other = a;
  t50.probe.t = 50;
  t100.probe.t = 100;
  pixels.probe.features = "raw_pixels";
  other.train.epochs = a.train.epochs + 1;
  std::vector<PlannedRun> plan;
  for (const auto& [id, cfg] : std::vector<std::pair<std::string, RunConfig>>{
           {"a", a}, {"px", pixels}, {"other", other}, {"t50", t50}, {"t100", t100}}) {
    PlannedRun p;
    p.id = id, p.cfg = cfg;
    plan.push_back(p);
  }
  // No checkpoint: plan order, the first run of a model trains it.
  EXPECT_EQ(local_run_order(plan, results), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(model_trainers(plan, results).at(trained_model_path(a, results)), "a");
  // t100 was interrupted while training the shared model.
  fs::create_directories(run_dir(results, "t100") + "/ckpt");
  std::ofstream(run_dir(results, "t100") + "/ckpt/last.pt") << "a checkpoint";
  EXPECT_EQ(model_trainers(plan, results).at(trained_model_path(a, results)), "t100");
  EXPECT_EQ(local_run_order(plan, results), (std::vector<size_t>{4, 0, 1, 2, 3}));
  const auto tasks = slurm_tasks(plan, results);
  EXPECT_EQ(tasks.first, (std::vector<std::string>{"px", "other", "t100"}));
  ASSERT_EQ(tasks.after.size(), 1u);
  EXPECT_EQ(tasks.after[0].trainer, 2u);  // t100, which resumes the training
  EXPECT_EQ(tasks.after[0].runs, (std::vector<std::string>{"a", "t50"}));
  // t50 was stopped too, at fewer steps than t100: t100's training goes on.
  fs::create_directories(run_dir(results, "t50") + "/ckpt");
  std::ofstream(run_dir(results, "t50") + "/ckpt/last.pt") << "a checkpoint";
  write_run_json(run_dir(results, "t50"), {{"id", "t50"}, {"status", "interrupted"}, {"steps", 111}});
  write_run_json(run_dir(results, "t100"), {{"id", "t100"}, {"status", "interrupted"}, {"steps", 279}});
  EXPECT_EQ(model_trainers(plan, results).at(trained_model_path(a, results)), "t100");
  write_run_json(run_dir(results, "t50"), {{"id", "t50"}, {"status", "interrupted"}, {"steps", 300}});
  EXPECT_EQ(model_trainers(plan, results).at(trained_model_path(a, results)), "t50");
  EXPECT_EQ(local_run_order(plan, results), (std::vector<size_t>{3, 0, 1, 2, 4}));
  // Kept already: no trainer, plan order.
  fs::create_directories(fs::path(trained_model_path(a, results)).parent_path());
  std::ofstream(trained_model_path(a, results)) << "a kept model";
  EXPECT_EQ(model_trainers(plan, results).count(trained_model_path(a, results)), 0u);
  EXPECT_EQ(local_run_order(plan, results), (std::vector<size_t>{0, 1, 2, 3, 4}));
  remove_tree(results);
}
