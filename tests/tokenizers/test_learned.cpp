// The losses behind the learned tokenizers against their formulas, and the
// conv VAE's optional perceptual and adversarial terms end to end.
#include <gtest/gtest.h>

#include "core/nn/feature_net.hpp"
#include "tokenizers/conv_vae.hpp"
#include "tokenizers/losses.hpp"
#include "tokenizers/patch_vae.hpp"

using namespace ldae;

TEST(Losses, KlMatchesTheClosedForm) {
  // KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2) per dimension.
  auto mu = torch::zeros({2, 3});
  auto logvar = torch::zeros({2, 3});
  EXPECT_NEAR(kl_standard_normal(mu, logvar).item<double>(), 0.0, 1e-12);
  mu.fill_(1.0);  // 3 dims x 0.5 each, averaged over the batch of 2
  EXPECT_NEAR(kl_standard_normal(mu, logvar).item<double>(), 1.5, 1e-6);
  torch::manual_seed(0);
  mu = torch::randn({4, 5}, torch::kFloat64);
  logvar = torch::randn({4, 5}, torch::kFloat64);
  double naive = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) {
      double m = mu[i][j].item<double>(), lv = logvar[i][j].item<double>();
      naive += 0.5 * (m * m + std::exp(lv) - 1 - lv);
    }
  EXPECT_NEAR(kl_standard_normal(mu, logvar).item<double>(), naive / 4, 1e-12);
}

TEST(Losses, HingeLosses) {
  auto confident_real = torch::full({2, 1, 3, 3}, 2.0), confident_fake = torch::full({2, 1, 3, 3}, -2.0);
  EXPECT_DOUBLE_EQ(hinge_d_loss(confident_real, confident_fake).item<double>(), 0.0);
  auto undecided = torch::zeros({2, 1, 3, 3});
  EXPECT_DOUBLE_EQ(hinge_d_loss(undecided, undecided).item<double>(), 2.0);
  // relu(1 - 0.5) + relu(1 + 0.25) = 0.5 + 1.25
  EXPECT_NEAR(hinge_d_loss(torch::full({4}, 0.5), torch::full({4}, 0.25)).item<double>(), 1.75, 1e-6);
  EXPECT_NEAR(hinge_g_loss(torch::tensor({1.0, 3.0})).item<double>(), -2.0, 1e-6);
}

TEST(Losses, PerceptualDistanceIsZeroForEqualFeaturesAndScaleInvariant) {
  torch::manual_seed(1);
  std::vector<torch::Tensor> a = {torch::randn({2, 4, 5, 5}), torch::randn({2, 8, 3, 3})};
  EXPECT_NEAR(perceptual_distance(a, a).item<double>(), 0.0, 1e-10);
  std::vector<torch::Tensor> b = {a[0] * 3.0, a[1] * 0.5};  // unit-normed over channels
  EXPECT_NEAR(perceptual_distance(a, b).item<double>(), 0.0, 1e-6);
  std::vector<torch::Tensor> c = {-a[0], a[1]};  // opposite unit vectors: |2u|^2 = 4
  EXPECT_NEAR(perceptual_distance(a, c).item<double>(), 4.0, 1e-4);
}

namespace {
torch::Tensor blobs(int n, int side) {
  torch::manual_seed(5);
  auto yy = torch::arange(side).view({1, 1, side, 1}).to(torch::kFloat32);
  auto xx = torch::arange(side).view({1, 1, 1, side}).to(torch::kFloat32);
  auto cy = torch::rand({n, 1, 1, 1}) * side, cx = torch::rand({n, 1, 1, 1}) * side;
  return torch::exp(-((yy - cy).pow(2) + (xx - cx).pow(2)) / 8.0) * 2 - 1;  // (n, 1, s, s)
}
}  // namespace

TEST(ConvVae, PerceptualAndAdversarialTermsTrain) {
  auto x = blobs(64, 16);
  auto labels = (x.mean({1, 2, 3}) > x.mean()).to(torch::kLong);
  auto net = std::make_shared<ClassifierNet>(1, 2);
  net->train(x, labels, 2, 0);
  TokenizerConfig c;
  c.name = "conv_vae";
  c.downsample = 4, c.patch = 4, c.d = 4, c.width = 8;
  c.steps = 40, c.batch = 16, c.lr = 2e-3;
  c.perceptual_weight = 0.1, c.adv_weight = 0.05, c.adv_start = 20;
  ConvVaeTokenizer tok(c, 1);
  ASSERT_TRUE(tok.wants_perceptual_net());
  EXPECT_THROW(tok.fit(x, 0), InputError);  // no perceptual network set
  tok.set_perceptual_net(net);
  tok.fit(x, 0);
  EXPECT_EQ(tok.encode(x).sizes(), (std::vector<int64_t>{64, 16, 4}));
  for (const auto& r : tok.fit_curve()) {
    EXPECT_TRUE(std::isfinite(r[1]));
    EXPECT_GE(r[1], 0.0 - 1.0);  // the generator's hinge term may be negative, never large
  }
}

// Streamed data: the fit reads its random batches (and the scale's sample)
// from the batches, never the whole split at once, and learns what the
// tensor fit learns, bit for bit.
TEST(PatchVae, FitFromBatchesEqualsFitFromTheWholeSplit) {
  auto x = blobs(96, 8);
  TokenizerConfig c;
  c.name = "patch_vae";
  c.patch = 4, c.d = 4, c.steps = 30, c.batch = 16, c.lr = 3e-3;
  PatchVaeTokenizer whole(c, 1), batched(c, 1);
  whole.fit(x, 3);
  ImageBatches b = image_batches(x);
  int64_t most = 0;
  b.read = [&](const torch::Tensor& idx) {
    most = std::max(most, idx.size(0));
    return x.index_select(0, idx);
  };
  batched.fit_batches(b, 3);
  EXPECT_EQ(most, 16);
  EXPECT_TRUE(torch::equal(whole.encode(x), batched.encode(x)));
}

TEST(PatchVae, KlWeightPullsTheLatentTowardThePrior) {
  auto x = blobs(128, 8);
  TokenizerConfig c;
  c.name = "patch_vae";
  c.patch = 4, c.d = 4, c.steps = 200, c.batch = 64, c.lr = 3e-3, c.scale = false;
  c.kl_weight = 0.0;
  PatchVaeTokenizer free(c, 1);
  free.fit(x, 0);
  c.kl_weight = 1.0;
  PatchVaeTokenizer tight(c, 1);
  tight.fit(x, 0);
  // A strong KL costs reconstruction.
  EXPECT_LT(free.reconstruction_mse(x), tight.reconstruction_mse(x));
}
