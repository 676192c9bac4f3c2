// Each objective's input, target and weight against the formulas of Table 3.
#include <gtest/gtest.h>

#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"

using namespace ldae;

namespace {
struct Batch {
  torch::Tensor x, z0, eps, V, V_full, gamma, sigma;
};
Batch batch() {
  torch::manual_seed(0);
  Batch b;
  auto q = std::get<0>(torch::linalg_qr(torch::randn({6, 6}, torch::kFloat64)));
  b.V_full = q.t().to(torch::kFloat32);  // orthonormal rows
  b.V = b.V_full.slice(0, 0, 2);         // d = 2 of D = 6
  b.x = torch::randn({3, 4, 6});
  b.z0 = torch::matmul(b.x, b.V.t());
  b.eps = torch::randn({3, 4, 2});
  b.gamma = torch::tensor({0.9f, 0.5f, 0.1f});
  b.sigma = torch::sqrt(1 - b.gamma * b.gamma);
  return b;
}
}  // namespace

TEST(Objective, NoisyLatentWithAndWithoutInputScaling) {
  auto b = batch();
  Objective o;
  auto zt = noisy_latent(o, b.z0, b.eps, b.gamma, b.sigma);
  EXPECT_TRUE(torch::allclose(zt[1], 0.5 * b.z0[1] + b.sigma[1] * b.eps[1]));
  o.input_scaling = false;
  zt = noisy_latent(o, b.z0, b.eps, b.gamma, b.sigma);
  EXPECT_TRUE(torch::allclose(zt[2], b.z0[2] + b.sigma[2] * b.eps[2]));
}

TEST(Objective, ImageSpaceInputIsInversePca) {
  auto b = batch();
  Objective o;
  o.image_space = true;
  auto zt = b.z0 + b.eps;
  auto in = network_input(o, zt, b.V);  // x_t = V^T (V x0 + sigma eps)
  ASSERT_EQ(in.size(2), 6);
  for (int k = 0; k < 6; ++k) {
    auto manual = zt[0][1][0] * b.V[0][k] + zt[0][1][1] * b.V[1][k];
    EXPECT_NEAR(in[0][1][k].item<float>(), manual.item<float>(), 1e-5);
  }
  o.image_space = false;
  EXPECT_TRUE(network_input(o, zt, b.V).equal(zt));
}

TEST(Objective, TargetsAndWeights) {
  auto b = batch();
  Objective o;
  EXPECT_TRUE(target_of(o, b.x, b.z0, b.eps, b.V).equal(b.eps));
  EXPECT_TRUE(torch::allclose(loss_weight(o, b.gamma, b.sigma), torch::ones({3})));
  o.target = Target::CleanLatent;
  EXPECT_TRUE(target_of(o, b.x, b.z0, b.eps, b.V).equal(b.z0));
  EXPECT_TRUE(torch::allclose(loss_weight(o, b.gamma, b.sigma), b.gamma * b.gamma));  // gamma^2
  o.input_scaling = false;
  EXPECT_TRUE(torch::allclose(loss_weight(o, b.gamma, b.sigma), 1 / (1 + b.sigma * b.sigma)));
  o.target = Target::CleanImage;  // V^T V x0: the projection of x0
  auto proj = target_of(o, b.x, b.z0, b.eps, b.V);
  EXPECT_TRUE(torch::allclose(proj, torch::matmul(torch::matmul(b.x, b.V.t()), b.V), 1e-5, 1e-5));
  EXPECT_EQ(output_dim(o, 2, 6), 6);
  o.target = Target::OriginalImage;
  EXPECT_TRUE(target_of(o, b.x, b.z0, b.eps, b.V).equal(b.x));
  auto w = component_weights(o, 2, 6);
  EXPECT_FLOAT_EQ(w[1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[2].item<float>(), 0.1f);
}

TEST(Objective, OriginalImageLossIsWeightedInTheFullBasis) {
  auto b = batch();
  Objective o;
  o.target = Target::OriginalImage;
  auto pred = torch::randn({3, 4, 6});
  auto w = torch::tensor({1.0f, 2.0f, 0.5f});
  auto loss = objective_loss(o, pred, b.x, w, b.V_full, 2).item<double>();
  // Naive loop: lambda_t * sum_i w_i r_i^2 / D, r = V_full (x0 - pred).
  double total = 0;
  for (int n = 0; n < 3; ++n) {
    double per_sample = 0;
    for (int l = 0; l < 4; ++l) {
      double s = 0;
      for (int i = 0; i < 6; ++i) {
        double r = 0;
        for (int k = 0; k < 6; ++k)
          r += b.V_full[i][k].item<double>() * (b.x[n][l][k].item<double>() - pred[n][l][k].item<double>());
        s += (i < 2 ? 1.0 : 0.1) * r * r;
      }
      per_sample += s / 6.0;
    }
    total += w[n].item<double>() * per_sample / 4.0;
  }
  EXPECT_NEAR(loss, total / 3.0, 1e-4);
}

TEST(Objective, PlainLossIsWeightedMse) {
  Objective o;
  auto pred = torch::zeros({2, 1, 2}), target = torch::ones({2, 1, 2});
  auto loss = objective_loss(o, pred, target, torch::tensor({1.0f, 3.0f}), torch::Tensor(), 2);
  EXPECT_NEAR(loss.item<double>(), 2.0, 1e-6);  // mean(1 x 1, 3 x 1)
}

// SiT's velocity target: v = d gamma/ds z0 + d sigma/ds eps (eq. 5), the time
// derivative of the interpolant itself; weight 1; width d.
TEST(Objective, VelocityIsTheInterpolantsTimeDerivative) {
  auto b = batch();
  Objective o;
  o.target = Target::Velocity;
  auto dg = torch::tensor({-1.0f, -0.5f, 0.0f}), ds = torch::tensor({1.0f, 2.0f, 0.25f});
  auto v = target_of(o, b.x, b.z0, b.eps, b.V, dg, ds);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::allclose(v[i], dg[i].item<float>() * b.z0[i] + ds[i].item<float>() * b.eps[i]));
  EXPECT_TRUE(torch::allclose(loss_weight(o, b.gamma, b.sigma), torch::ones({3})));
  EXPECT_EQ(output_dim(o, 2, 6), 2);
  // linear_interp: (z_{s+h} - z_s) / h = -z0 + eps = v, exactly.
  NoiseConfig c;
  const auto s = linear_interp(c);
  auto z = [&](int t) { return s.gamma[t] * b.z0 + s.sigma[t] * b.eps; };
  auto v1 = target_of(o, b.x, b.z0, b.eps, b.V, torch::full({3}, s.dgamma[400]), torch::full({3}, s.dsigma[400]));
  EXPECT_TRUE(torch::allclose(v1, (z(401) - z(400)) * double(c.T), 1e-3, 1e-3));
  EXPECT_THROW(target_of(o, b.x, b.z0, b.eps, b.V), c10::Error);  // no derivatives given
}
