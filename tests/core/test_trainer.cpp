// An interrupted-then-resumed run ends with the same weights as an
// uninterrupted one (CPU); non-finite losses fail the run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/filesystem.hpp"
#include "backbones/dit.hpp"
#include "core/trainer.hpp"
#include "tests/core/tiny_training.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
RunConfig tiny_cfg() { return tiny_training_config(); }
TrainData tiny_data() { return tiny_training_data(); }
Backbone tiny_model(const RunConfig& c) {
  BackboneOptions o;
  o.in_dim = 3, o.out_dim = 8, o.grid_h = 4, o.grid_w = 4;
  o.depth = c.model.depth, o.width = c.model.width, o.heads = c.model.heads;
  torch::manual_seed(11);
  return make_backbone("dit", o);
}
}  // namespace

TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  torch::set_num_threads(1);
  auto cfg = tiny_cfg();
  auto data = tiny_data();
  Trainer straight(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  auto full = straight.train(data, "", nullptr, {});
  ASSERT_EQ(full.status, TrainResult::Done);
  EXPECT_EQ(full.steps, 12);  // 3 epochs x 64 / 16

  auto ckpt = (fs::temp_directory_path() / fmt::format("ldae-ckpt-{}", getpid()) / "last.pt").string();
  remove_tree(fs::path(ckpt).parent_path());
  {
    Trainer first(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
    auto part = first.train(data, ckpt, nullptr, {}, /*max_steps=*/5);
    ASSERT_EQ(part.status, TrainResult::Stopped);
    EXPECT_EQ(part.steps, 5);
  }
  // A fresh process would build a fresh model; the checkpoint restores it.
  RunConfig cfg2 = cfg;
  Trainer second(cfg2, tiny_model(cfg2), make_schedule(cfg.noise), torch::kCPU);
  auto rest = second.train(data, ckpt, nullptr, {});
  ASSERT_EQ(rest.status, TrainResult::Done);
  EXPECT_EQ(rest.steps, 12);
  auto a = straight.model()->parameters(), b = second.model()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  straight.use_ema();
  second.use_ema();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "EMA " << i;
  remove_tree(fs::path(ckpt).parent_path());
}

TEST(Trainer, CheckpointOfAnotherConfigIsRejected) {
  auto cfg = tiny_cfg();
  auto data = tiny_data();
  auto ckpt = (fs::temp_directory_path() / fmt::format("ldae-ckpt2-{}", getpid()) / "last.pt").string();
  Trainer a(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  a.train(data, ckpt, nullptr, {}, 2);
  auto other = cfg;
  other.train.base_lr = 5e-4;
  Trainer b(other, tiny_model(other), make_schedule(other.noise), torch::kCPU);
  EXPECT_THROW(b.train(data, ckpt, nullptr, {}), InputError);
  remove_tree(fs::path(ckpt).parent_path());
}

TEST(Trainer, NonFiniteLossFailsWithStepAndValue) {
  auto cfg = tiny_cfg();
  cfg.train.base_lr = 1e30;  // diverges at once
  cfg.train.warmup_epochs = 0;
  auto data = tiny_data();
  // The loss is read at sync points (every log_every steps): the error names
  // the steps since the last one, or the step itself when that is every step.
  for (int every : {50, 1}) {
    cfg.train.log_every = every;
    Trainer t(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
    auto r = t.train(data, "", nullptr, {});
    ASSERT_EQ(r.status, TrainResult::Failed);
    EXPECT_NE(r.error.find("non-finite loss"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(every == 1 ? "at step 2 " : "in steps 1.."), std::string::npos) << r.error;
    EXPECT_TRUE(r.loss_curve.empty() || std::isfinite(r.loss_curve.back()[1]));
  }
}

TEST(Trainer, GradientClippingMatchesLibTorchWithoutReadingTheNorm) {
  for (double max_norm : {0.05, 1e6}) {  // clipped, and left alone
    torch::manual_seed(7);
    torch::nn::Linear a(5, 3), b(5, 3);
    b->weight.set_data(a->weight.detach().clone());
    b->bias.set_data(a->bias.detach().clone());
    auto x = torch::randn({4, 5});
    a->forward(x).pow(2).sum().backward();
    b->forward(x).pow(2).sum().backward();
    torch::nn::utils::clip_grad_norm_(a->parameters(), max_norm);
    clip_grad_norm(b->parameters(), max_norm);
    for (size_t k = 0; k < 2; ++k)
      EXPECT_TRUE(torch::allclose(a->parameters()[k].grad(), b->parameters()[k].grad(), 1e-6, 1e-8));
  }
}

TEST(Trainer, WarmupThenHalfCycleCosine) {
  auto cfg = tiny_cfg();
  Trainer t(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  const double peak = 1e-3 * 16 / 256.0;
  EXPECT_NEAR(t.lr_at(0, 12, 4), peak / 4, 1e-12);
  EXPECT_NEAR(t.lr_at(3, 12, 4), peak, 1e-12);
  EXPECT_NEAR(t.lr_at(4, 12, 4), peak, 1e-12);                // cosine starts at peak
  EXPECT_NEAR(t.lr_at(8, 12, 4), peak * 0.5, 1e-12);          // halfway
}

// On a GPU machine (tools/gpu_session.sh runs this suite there): the CUDA
// path agrees with the CPU and trains, in fp32 and bf16, and resumes. Skipped
// where no GPU is visible (CI, the development VM).
TEST(TrainerOnGpu, MatchesTheCpuTrainsAndResumes) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto cfg = tiny_cfg();
  auto data = tiny_data();
  // One forward pass, fp32 products (no TF32 here), CPU vs GPU.
  Backbone cpu_model = tiny_model(cfg), gpu_model = tiny_model(cfg);
  gpu_model->to(torch::kCUDA);
  auto t = torch::full({4}, 100.0f);
  auto x = data.z0.slice(0, 0, 4);
  auto y_cpu = cpu_model->forward(x, t, {});
  auto y_gpu = gpu_model->forward(x.cuda(), t.cuda(), {}).cpu();
  EXPECT_TRUE(torch::allclose(y_cpu, y_gpu, 1e-4, 1e-5)) << (y_cpu - y_gpu).abs().max().item<float>();
  for (bool bf16 : {false, true}) {
    cfg.train.bf16 = bf16;
    Trainer straight(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
    auto full = straight.train(data, "", nullptr, {});
    ASSERT_EQ(full.status, TrainResult::Done) << full.error;
    auto ckpt = (fs::temp_directory_path() / fmt::format("ldae-gpu-ckpt-{}", getpid()) / "last.pt").string();
    remove_tree(fs::path(ckpt).parent_path());
    {
      Trainer first(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
      ASSERT_EQ(first.train(data, ckpt, nullptr, {}, /*max_steps=*/5).status, TrainResult::Stopped);
    }
    Trainer second(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
    ASSERT_EQ(second.train(data, ckpt, nullptr, {}).status, TrainResult::Done);
    auto a = straight.model()->parameters(), b = second.model()->parameters();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(a[i].is_cuda());
      // GPU kernels may reduce in another order after a restart: equal to
      // float rounding, not bit for bit.
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-4, 1e-6)) << "bf16 " << bf16 << " parameter " << i;
    }
    remove_tree(fs::path(ckpt).parent_path());
  }
}
