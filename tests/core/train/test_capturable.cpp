// A CPU check that the training step could be recorded as a CUDA graph
// (issue 30, item 5): one step's operators, seen through RecordFunction,
// include no host synchronisation (a device value read on the host, an
// output whose size depends on values) and are the same sequence from one
// step to the next. The GPU records the same body (core/train/graph_step.hpp);
// its device-only branches are checked when a GPU runs test_models.
#include <ATen/record_function.h>
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "backbones/dit.hpp"
#include "core/diffusion/objective.hpp"
#include "core/train/graph_step.hpp"
#include "core/train/trainer.hpp"
#include "tests/core/train/tiny_training.hpp"

using namespace ldae;

namespace {
// Operators seen inside each "ldae::train_step" scope, one list per step:
// those the step calls itself (depth 1), not what an operator calls inside
// its own kernel (the CPU fused AdamW reads its step counters, CPU scalars).
std::mutex seen_mutex;
std::vector<std::vector<std::string>> seen_steps;
bool in_step = false;
thread_local int depth = 0;

std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction& fn) {
  std::lock_guard<std::mutex> lock(seen_mutex);
  const std::string name = fn.name();
  if (name == "ldae::train_step") {
    seen_steps.emplace_back();
    in_step = true, depth = 0;
  } else if (in_step && fn.scope() == at::RecordScope::FUNCTION) {
    if (depth++ == 0) seen_steps.back().push_back(name);
  }
  return nullptr;
}
void on_exit(const at::RecordFunction& fn, at::ObserverContext*) {
  std::lock_guard<std::mutex> lock(seen_mutex);
  if (std::string(fn.name()) == "ldae::train_step") in_step = false;
  else if (in_step && fn.scope() == at::RecordScope::FUNCTION && depth > 0) --depth;
}

// The operators that make the host wait for the device, or whose output
// size depends on values: a graph cannot hold them.
const std::set<std::string> kHostSyncs = {"aten::item",       "aten::_local_scalar_dense", "aten::nonzero",
                                          "aten::masked_select", "aten::unique",          "aten::_unique2",
                                          "aten::unique_consecutive", "aten::is_nonzero", "aten::equal"};

std::vector<std::vector<std::string>> steps_of(RunConfig cfg, int64_t steps) {
  BackboneOptions o;
  o.in_dim = 3, o.out_dim = output_dim(make_objective(cfg.objective), 3, 8), o.grid_h = 4, o.grid_w = 4;
  o.depth = cfg.model.depth, o.width = cfg.model.width, o.heads = cfg.model.heads;
  o.fused_kernels = cfg.train.fused_kernels;
  torch::manual_seed(11);
  Trainer trainer(cfg, make_backbone("dit", o), make_schedule(cfg.noise), torch::kCPU);
  auto data = tiny_training_data();
  seen_steps.clear();
  at::RecordFunctionGuard enable(true);
  auto handle = at::addGlobalCallback(at::RecordFunctionCallback(on_enter, on_exit)
                                          .scopes({at::RecordScope::FUNCTION, at::RecordScope::USER_SCOPE}));
  trainer.train(data, "", nullptr, {}, steps);
  at::removeCallback(handle);
  return seen_steps;
}
}  // namespace

TEST(Capturable, TheTrainingStepHasNoHostSyncAndRepeatsItsOperators) {
  torch::set_num_threads(1);
  auto cfg = tiny_training_config();
  // What a recorded step runs: fused AdamW, clipping and the EMA inside it.
  cfg.train.fused_adamw = true, cfg.train.grad_clip = 1.0, cfg.train.ema = 0.9;
  cfg.train.log_every = 1000;  // sync points (the loss read) are outside the step anyway
  // train.fused_kernels: the fused adaLN functions inside the step too; and
  // DiT's learned variance, whose VLB term indexes its tables on the device.
  for (int variant : {0, 1, 2}) {
    SCOPED_TRACE(variant == 0 ? "train.fused_kernels = false"
                              : variant == 1 ? "train.fused_kernels = true" : "objective.learn_sigma = true");
    cfg.train.fused_kernels = variant == 1;
    if (variant == 2) {
      cfg.objective.target = "eps", cfg.objective.input_scaling = true, cfg.noise.schedule = "ddpm_linear";
      cfg.objective.learn_sigma = true;
    }
    const auto steps = steps_of(cfg, 4);
    ASSERT_EQ(steps.size(), 4u);
    ASSERT_GT(steps[1].size(), 50u) << "the step's operators were not seen";
    for (size_t s = 0; s < steps.size(); ++s)
      for (size_t i = 0; i < steps[s].size(); ++i)
        EXPECT_FALSE(kHostSyncs.count(steps[s][i]))
            << "step " << s << " runs " << steps[s][i] << " after " << (i > 2 ? steps[s][i - 3] : "") << ", "
            << (i > 1 ? steps[s][i - 2] : "") << ", " << (i > 0 ? steps[s][i - 1] : "");
    // After the first step (lazy state: the optimizer's moments), every step
    // runs the same operators in the same order: what one recording replays.
    for (size_t s = 2; s < steps.size(); ++s) {
      EXPECT_EQ(steps[s].size(), steps[1].size()) << "step " << s;
      for (size_t i = 0; i < std::min(steps[s].size(), steps[1].size()); ++i)
        if (steps[s][i] != steps[1][i]) {
          ADD_FAILURE() << "step " << s << " operator " << i << ": " << steps[s][i] << " where step 1 ran "
                        << steps[1][i];
          break;
        }
    }
  }
}

TEST(GraphMemory, ABatchTooLargeToRecordIsRefusedNamingTheBatchThatFits) {
  constexpr uint64_t GiB = uint64_t(1) << 30;
  // The case: l-DAE at batch 256 on an H200: ~72 GiB of activations
  // per eager step, ~60 GiB free beside the weights, optimizer state and cache.
  const auto why = graph_memory_check(72 * GiB, 60 * GiB, 256);
  EXPECT_NE(why.find("about 79.2 GiB"), std::string::npos) << why;
  EXPECT_NE(why.find("60.0 GiB are free"), std::string::npos) << why;
  EXPECT_NE(why.find("batch of 192 would fit"), std::string::npos) << why;  // 256 x 60 / 79.2 = 193.9 -> 192
  EXPECT_EQ(graph_memory_check(40 * GiB, 60 * GiB, 256), "");
  EXPECT_NE(graph_memory_check(10 * GiB, 1 * GiB, 4).find("batch of 0 would fit"), std::string::npos);
}
