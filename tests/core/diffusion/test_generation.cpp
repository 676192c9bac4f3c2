// The samplers' update rule against an oracle, and the feature networks
// (harness classifier, TorchScript files) FID reads.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <unistd.h>

#include <filesystem>

#include "core/data/augment.hpp"
#include "core/base/errors.hpp"
#include "core/nn/feature_net.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/sampler.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

TEST(Sampler, RespacedTimestepsSpanTheSchedule) {
  NoiseConfig nc;
  auto s = ddpm_linear(nc);
  auto ts = respaced_timesteps(s, 5);
  EXPECT_EQ(ts, (std::vector<int64_t>{1000, 750, 501, 251, 1}));  // 1 + 999 i / 4, rounded
  nc.T = 10;
  auto lin = linear_gamma2(nc);  // gamma_T = 0: start one step earlier
  ts = respaced_timesteps(lin, 100);
  ASSERT_EQ(ts.size(), 9u);
  EXPECT_EQ(ts.front(), 9);
  EXPECT_EQ(ts.back(), 1);
}

TEST(Sampler, DdimWithAnOracleLandsOnTheData) {
  // Data = one point c. The exact eps for z_t is (z_t - gamma c) / sigma, so
  // deterministic DDIM (and ancestral DDPM) end exactly at c.
  NoiseConfig nc;
  auto s = ddpm_linear(nc);
  const double c = 0.7;
  for (double eta : {0.0, 1.0}) {
    torch::manual_seed(0);
    auto z = torch::randn({8});
    auto ts = respaced_timesteps(s, 20);
    for (size_t k = 0; k < ts.size(); ++k) {
      const int64_t t = ts[k], tn = k + 1 < ts.size() ? ts[k + 1] : 0;
      auto eps = (z - s.gamma[t] * c) / s.sigma[t];
      z = ddim_step(z, eps, s.gamma[t], s.sigma[t], tn ? s.gamma[tn] : 1.0, tn ? s.sigma[tn] : 0.0,
                    eta, torch::randn({8}));
    }
    EXPECT_TRUE(torch::allclose(z, torch::full({8}, c), 1e-4, 1e-4)) << "eta " << eta;
  }
}

TEST(FeatureNet, ClassifierLearnsSeparableImages) {
  torch::manual_seed(0);
  auto labels = torch::randint(2, {256}, torch::kLong);
  // Class 1: bright top half; class 0: bright bottom half; plus noise.
  // (Top/bottom, since training flips images left-right.)
  auto x = torch::randn({256, 1, 8, 8}) * 0.3;
  auto top = labels.view({-1, 1, 1, 1}).to(torch::kFloat32);
  x.slice(2, 0, 4) += top;
  x.slice(2, 4, 8) += 1 - top;
  ClassifierNet net(1, 2);
  double acc = net.train(x, labels, 30, 0, x, labels);
  EXPECT_GT(acc, 90.0);
  EXPECT_EQ(net.pooled(x).size(1), 128);
  EXPECT_EQ(net.layers(x).size(), 3u);
  auto path = test::temp_dir("cls") + "/cls.h5";
  net.save(path);
  ClassifierNet back(1, 2);
  back.load(path);
  EXPECT_TRUE(torch::allclose(back.pooled(x), net.pooled(x)));
  fs::remove(path);
}

TEST(FeatureNet, TorchScriptFileAndItsErrors) {
  // A TorchScript module written from C++ (what torch.jit.save produces).
  torch::jit::Module m("Features");
  m.define(R"(
    def forward(self, x):
        a = torch.avg_pool2d(x, 2)
        return (a, a.mean([2, 3]))
  )");
  auto path = test::temp_dir("feat") + "/feat.pt";
  m.save(path);
  auto net = load_torchscript_net(path);
  auto x = torch::randn({3, 1, 8, 8});
  EXPECT_EQ(net->layers(x).size(), 1u);  // the 4-D output
  EXPECT_EQ(net->pooled(x).sizes(), (std::vector<int64_t>{3, 1}));
  EXPECT_THROW(load_torchscript_net(path + ".missing"), InputError);
  {
    std::ofstream bad(path);
    bad << "not a zip";
  }
  EXPECT_THROW(load_torchscript_net(path), InputError);
  fs::remove(path);
}

TEST(Augment, RandomResizedCropFlipKeepsShapeAndRangeAndIsSeeded) {
  auto x = torch::linspace(-1, 1, 8 * 8).reshape({1, 1, 8, 8}).repeat({4, 1, 1, 1});
  torch::manual_seed(3);
  auto a = random_resized_crop_flip(x);
  torch::manual_seed(3);
  auto b = random_resized_crop_flip(x);
  EXPECT_EQ(a.sizes(), x.sizes());
  EXPECT_TRUE(a.equal(b));
  EXPECT_LE(a.max().item<double>(), 1.0 + 1e-6);
  EXPECT_GE(a.min().item<double>(), -1.0 - 1e-6);
  EXPECT_FALSE(a.equal(x));
  // Full-area crops of aspect 1 are the image or its mirror.
  torch::manual_seed(0);
  auto full = random_resized_crop_flip(torch::ones({2, 1, 4, 4}), 1.0);
  EXPECT_TRUE(torch::allclose(full, torch::ones({2, 1, 4, 4}), 1e-5, 1e-5));
}

// SiT's ODE sampler with the exact velocity of a toy distribution: data
// x0 ~ N(mu, tau^2) per coordinate, z_s = gamma x0 + sigma eps, so
// E[x0 | z] = mu + gamma tau^2 (z - gamma mu) / (gamma^2 tau^2 + sigma^2),
// E[eps | z] = sigma (z - gamma mu) / (gamma^2 tau^2 + sigma^2), and the
// velocity is d gamma E[x0 | z] + d sigma E[eps | z]. Integrated from noise
// at s = 1 to s = 0 (Heun, 100 steps), the samples must have the data's
// mean and spread: the probability-flow ODE carries N(0, 1) onto N(mu, tau^2).
TEST(Sampler, HeunWithTheExactVelocityLandsOnTheData) {
  const double mu = 0.7, tau = 0.3;
  NoiseConfig c;
  for (const Schedule& s : {linear_interp(c), gvp(c)}) {
    auto velocity = [&](const torch::Tensor& z, int64_t t) {
      const double g = s.gamma[t], sg = s.sigma[t], var = g * g * tau * tau + sg * sg;
      auto x0 = mu + g * tau * tau * (z - g * mu) / var;
      auto eps = sg * (z - g * mu) / var;
      return s.dgamma[t] * x0 + s.dsigma[t] * eps;
    };
    torch::manual_seed(0);
    auto z1 = torch::randn({20000, 1, 1}, torch::kFloat64);
    for (bool heun : {true, false}) {
      auto x = integrate_velocity(z1, s.T, 100, heun, velocity);
      EXPECT_NEAR(x.mean().item<double>(), mu, 0.01) << s.name << (heun ? " heun" : " euler");
      EXPECT_NEAR(x.std().item<double>(), tau, heun ? 0.01 : 0.03) << s.name << (heun ? " heun" : " euler");
    }
    // The ODE is deterministic: one noise sample maps to one data point, in order.
    auto a = integrate_velocity(z1.slice(0, 0, 3), s.T, 100, true, velocity);
    EXPECT_EQ(a[0].item<double>() < a[1].item<double>(), z1[0].item<double>() < z1[1].item<double>());
  }
}
