// LARS (probes/lars.hpp) and the probe's learning-rate schedule against hand
// values from MAE's util/lars.py and util/lr_sched.py; MAE's linear probe
// (LARS, warm-up, an augmented training view) end to end on separable data.
#include <gtest/gtest.h>

#include "probes/lars.hpp"
#include "probes/linear_probe.hpp"
#include "tests/probes/blobs.hpp"

using namespace ldae;

namespace {
void expect_near(const torch::Tensor& t, std::vector<double> want) {
  auto c = t.to(torch::kFloat64).flatten();
  ASSERT_EQ(c.numel(), int64_t(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(c[int64_t(i)].item<double>(), want[i], 1e-12) << i;
}
}  // namespace

TEST(Lars, TrustRatioScalesMatricesAndLeavesVectorsPlain) {
  // W = [[3, 4]] (norm 5), grad [[0.6, 0.8]] (norm 1): q = 0.001 x 5 / 1.
  auto W = torch::tensor({{3.0, 4.0}}, torch::kFloat64).requires_grad_();
  auto b = torch::tensor({1.0}, torch::kFloat64).requires_grad_();
  Lars opt({W, b}, /*weight_decay=*/0.1);  // decays W only; W's grad below is set without it
  auto set_grads = [&] {
    W.mutable_grad() = torch::tensor({{0.6, 0.8}}, torch::kFloat64) - 0.1 * W.detach();  // u = [0.6, 0.8]
    b.mutable_grad() = torch::tensor({0.5}, torch::kFloat64);
  };
  set_grads();
  opt.step(2.0);
  // mu = 0.005 [0.6, 0.8]; W -= 2 mu. b: no decay, no ratio: mu = 0.5, b = 1 - 1.
  expect_near(W.detach(), {2.994, 3.992});
  expect_near(b.detach(), {0.0});
  set_grads();
  opt.step(2.0);
  // |W| = 4.99: mu = 0.9 [0.003, 0.004] + 0.00499 [0.6, 0.8]; b: mu = 0.45 + 0.5.
  expect_near(W.detach(), {2.994 - 2 * 0.005694, 3.992 - 2 * 0.007592});
  expect_near(b.detach(), {-1.9});
}

TEST(Lars, AZeroUpdateOrAZeroParameterTakesRatioOne) {
  auto W = torch::tensor({{3.0, 4.0}}, torch::kFloat64).requires_grad_();
  auto Z = torch::zeros({1, 2}, torch::kFloat64).requires_grad_();
  Lars opt({W, Z});
  W.mutable_grad() = torch::zeros({1, 2}, torch::kFloat64);
  Z.mutable_grad() = torch::tensor({{1.0, -1.0}}, torch::kFloat64);
  opt.step(0.5);
  expect_near(W.detach(), {3.0, 4.0});    // nothing to move
  expect_near(Z.detach(), {-0.5, 0.5});   // q = 1: plain momentum SGD
}

TEST(ProbeLr, CosineWithoutWarmupAndMaesWarmupThenCosine) {
  ProbeConfig c;
  c.base_lr = 0.1;
  c.epochs = 10;
  // batch 512: peak 0.2; 5 steps an epoch.
  EXPECT_DOUBLE_EQ(probe_lr(c, 512, 0, 5), 0.2);
  EXPECT_NEAR(probe_lr(c, 512, 25, 5), 0.1, 1e-15);  // half-way: (1 + cos(pi / 2)) / 2
  c.warmup_epochs = 2;
  EXPECT_DOUBLE_EQ(probe_lr(c, 512, 0, 5), 0.0);
  EXPECT_NEAR(probe_lr(c, 512, 5, 5), 0.1, 1e-15);   // epoch 1 of 2
  EXPECT_NEAR(probe_lr(c, 512, 7, 5), 0.14, 1e-15);  // per step: epoch 1.4
  EXPECT_NEAR(probe_lr(c, 512, 10, 5), 0.2, 1e-15);  // the peak at the end of warm-up
  EXPECT_NEAR(probe_lr(c, 512, 30, 5), 0.1, 1e-15);  // epoch 6: half of the 8 cosine epochs
}

TEST(LinearProbe, MaesRecipeLearnsAndTrainsOnItsView) {
  torch::manual_seed(0);
  const int K = 4, F = 20;
  auto [xtr, ytr, xte, yte] = gaussian_blobs(K, F, 2000, 500);
  ProbeConfig c;
  c.optimizer = "lars";
  c.base_lr = 12.8;  // lr 6.4 at batch 128: MAE's rate at its batch of 16,384
  c.batch = 128;
  c.epochs = 10;
  c.warmup_epochs = 2;
  // A view with noise on the training features (an "augmentation"): learns.
  TrainView noisy = [&](const torch::Tensor& idx) { return xtr.index_select(0, idx) + 0.3 * torch::randn({idx.size(0), F}); };
  EXPECT_GE(linear_probe(xtr, ytr, xte, yte, K, c, 0, {}, noisy).top1, 95.0);
  // A view without information: the probe trains on it, not on train_x.
  TrainView blank = [&](const torch::Tensor& idx) { return torch::randn({idx.size(0), F}); };
  EXPECT_LE(linear_probe(xtr, ytr, xte, yte, K, c, 0, {}, blank).top1, 45.0);
}
