// DiT's learned variance (core/diffusion/learned_variance.hpp) against hand
// values, the posterior's identities and the exact normal CDF.
#include <gtest/gtest.h>

#include <cmath>

#include "core/diffusion/learned_variance.hpp"
#include "core/diffusion/objective.hpp"
#include "core/diffusion/sampler.hpp"

using namespace ldae;

namespace {
// gamma_t^2 = 1, 0.9, 0.6, 0.2: beta = 0.1, 1/3, 2/3.
Schedule three_steps() {
  Schedule s{"hand", 3, {1.0, std::sqrt(0.9), std::sqrt(0.6), std::sqrt(0.2)}, {}};
  for (double g : s.gamma) s.sigma.push_back(std::sqrt(1.0 - g * g));
  return s;
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
}  // namespace

TEST(LearnedVariance, TablesAreDdpmsPosteriorWithTheFirstVarianceClipped) {
  const auto v = variance_tables(three_steps());
  EXPECT_NEAR(v.log_beta[1], std::log(0.1), 1e-12);
  EXPECT_NEAR(v.log_beta[2], std::log(1.0 / 3), 1e-12);
  EXPECT_NEAR(v.log_beta[3], std::log(2.0 / 3), 1e-12);
  // beta~_2 = (1/3)(1 - 0.9)/(1 - 0.6) = 1/12; beta~_3 = (2/3)(0.4)/(0.8) = 1/3;
  // beta~_1 = 0 is clipped to beta~_2.
  EXPECT_NEAR(v.log_posterior[2], std::log(1.0 / 12), 1e-12);
  EXPECT_NEAR(v.log_posterior[3], std::log(1.0 / 3), 1e-12);
  EXPECT_NEAR(v.log_posterior[1], std::log(1.0 / 12), 1e-12);
  EXPECT_NEAR(v.coef_x0[2], (1.0 / 3) * std::sqrt(0.9) / 0.4, 1e-12);
  EXPECT_NEAR(v.coef_zt[2], 0.1 * std::sqrt(2.0 / 3) / 0.4, 1e-12);
  EXPECT_NEAR(v.coef_x0[1], 1.0, 1e-12);  // at t = 1 the mean is the clean estimate
  EXPECT_NEAR(v.coef_zt[1], 0.0, 1e-12);
}

TEST(LearnedVariance, OnlyVariancePreservingSchedulesThatAddNoiseEveryStepQualify) {
  NoiseConfig c;
  c.T = 100;
  for (const char* ok : {"ddpm_linear", "linear_gamma2", "cosine", "edm_lognormal"}) {
    c.schedule = ok;
    EXPECT_EQ(learned_variance_unsupported(make_schedule(c)), "") << ok;
  }
  c.schedule = "linear_sigma";
  EXPECT_NE(learned_variance_unsupported(make_schedule(c)).find("is not variance preserving"), std::string::npos);
  auto flat = three_steps();
  flat.gamma[2] = flat.gamma[1], flat.sigma[2] = flat.sigma[1];
  EXPECT_NE(learned_variance_unsupported(flat).find("does not add noise at t = 2"), std::string::npos);
}

TEST(LearnedVariance, NormalKlMatchesHandValues) {
  auto s = [](double x) { return torch::tensor({x}, torch::kFloat64); };
  EXPECT_NEAR(normal_kl(s(0), s(0), s(0), s(0)).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(normal_kl(s(1), s(0), s(0), s(0)).item<double>(), 0.5, 1e-12);
  // KL(N(0, 1) || N(0, e^2)) = (2 + e^-2 - 1) / 2.
  EXPECT_NEAR(normal_kl(s(0), s(0), s(0), s(2)).item<double>(), 0.5 * (1.0 + std::exp(-2.0)), 1e-12);
}

TEST(LearnedVariance, DiscretizedLikelihoodFollowsTheNormalCdfToItsApproximation) {
  const auto x = torch::tensor({0.0, 0.3, 1.0, -1.0}, torch::kFloat64);
  const auto mean = torch::tensor({0.0, 0.5, 0.9, -0.8}, torch::kFloat64);
  const auto log_scale = torch::tensor({0.0, std::log(0.2), std::log(0.1), std::log(0.5)}, torch::kFloat64);
  const auto got = discretized_gaussian_log_likelihood(x, mean, log_scale);
  const double h = 1.0 / 255.0;
  const double exact[] = {std::log(normal_cdf(h) - normal_cdf(-h)),
                          std::log(normal_cdf((-0.2 + h) / 0.2) - normal_cdf((-0.2 - h) / 0.2)),
                          std::log(1.0 - normal_cdf((0.1 - h) / 0.1)),  // top bin: open above
                          std::log(normal_cdf((-0.2 + h) / 0.5))};      // bottom bin: open below
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i].item<double>(), exact[i], 2e-3 * std::abs(exact[i])) << i;
}

TEST(LearnedVariance, VlbIsZeroForTheTruePosteriorAndPositiveOtherwise) {
  NoiseConfig c;
  c.schedule = "linear_gamma2", c.T = 10;  // gamma_10 = 0
  const auto s = make_schedule(c);
  const auto tables = variance_table_tensors(variance_tables(s), torch::kCPU);
  torch::manual_seed(3);
  const auto z0 = torch::randn({4, 5, 2}), eps = torch::randn({4, 5, 2});
  const auto t = torch::tensor({2, 5, 1, 10}, torch::kLong);
  const auto gamma = torch::tensor({s.gamma[2], s.gamma[5], s.gamma[1], s.gamma[10]}).to(torch::kFloat32);
  const auto sigma = torch::tensor({s.sigma[2], s.sigma[5], s.sigma[1], s.sigma[10]}).to(torch::kFloat32);
  const auto zt = gamma.view({-1, 1, 1}) * z0 + sigma.view({-1, 1, 1}) * eps;
  // v = -1 puts log Sigma at log beta~: with the true eps the model's
  // posterior is q's own, and the KL is 0 (t = 2, 5).
  auto v = torch::full({4, 5, 2}, -1.0, torch::requires_grad());
  auto bits = vlb_bits(tables, z0, zt, eps, v, t, gamma, sigma);
  EXPECT_NEAR(bits[0].item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(bits[1].item<double>(), 0.0, 1e-5);
  // t = 1: the decoder's -log-likelihood of z0 in bits, mean over dims, at
  // the mean z0 (coef_x0 = 1) and log Sigma = the clipped log beta~_1.
  const double log_var_1 = variance_tables(s).log_posterior[1];
  const auto nll = -discretized_gaussian_log_likelihood(z0[2], z0[2], torch::full({5, 2}, 0.5 * log_var_1)).mean() /
                   std::log(2.0);
  EXPECT_NEAR(bits[2].item<double>(), nll.item<double>(), 1e-4);
  // gamma_10 = 0: no estimate of z0 exists, the term is 0 and its gradient finite.
  EXPECT_EQ(bits[3].item<double>(), 0.0);
  bits.sum().backward();
  EXPECT_TRUE(torch::isfinite(v.grad()).all().item<bool>());
  EXPECT_EQ(v.grad()[3].abs().sum().item<double>(), 0.0);
  // Any other variance or eps costs bits.
  const auto v_up = torch::ones({4, 5, 2});
  const auto worse = vlb_bits(tables, z0, zt, eps, v_up, t, gamma, sigma);
  EXPECT_GT(worse[0].item<double>(), 1e-3);
  const auto off = vlb_bits(tables, z0, zt, eps + 0.1, torch::full({4, 5, 2}, -1.0), t, gamma, sigma);
  EXPECT_GT(off[1].item<double>(), 1e-4);
}

TEST(LearnedVariance, AStepAtThePosteriorVarianceIsDdpmsAncestralStep) {
  NoiseConfig c;
  c.T = 1000;
  const auto s = make_schedule(c);
  torch::manual_seed(5);
  const auto zt = torch::randn({2, 3, 4}), eps = torch::randn({2, 3, 4}), noise = torch::randn({2, 3, 4});
  const auto v = torch::full({2, 3, 4}, -1.0);  // log Sigma = log beta~ of the respaced step
  for (auto [t, n] : {std::pair<int, int>{800, 600}, {40, 20}, {20, 0}}) {
    const double gn = n > 0 ? s.gamma[n] : 1.0, sn = n > 0 ? s.sigma[n] : 0.0;
    const auto want = ddim_step(zt, eps, s.gamma[t], s.sigma[t], gn, sn, /*eta=*/1.0, noise);
    const auto got = learned_variance_step(zt, eps, v, s.gamma[t], s.sigma[t], gn, sn, noise);
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5)) << t << " -> " << n;
  }
  // v = +1 takes beta's variance, larger than beta~'s.
  const auto wide = learned_variance_step(zt, eps, torch::ones({2, 3, 4}), s.gamma[800], s.sigma[800], s.gamma[600],
                                          s.sigma[600], noise);
  const auto narrow = learned_variance_step(zt, eps, v, s.gamma[800], s.sigma[800], s.gamma[600], s.sigma[600], noise);
  const auto mean = learned_variance_step(zt, eps, v, s.gamma[800], s.sigma[800], s.gamma[600], s.sigma[600],
                                          torch::zeros_like(noise));
  EXPECT_GT((wide - mean).norm().item<double>(), (narrow - mean).norm().item<double>());
}

TEST(LearnedVariance, TheOutputDoublesAndSplitsIntoEpsThenV) {
  Objective o;
  o.learn_sigma = true;
  EXPECT_EQ(output_dim(o, 4, 48), 8);
  const auto out = torch::arange(16.0).view({1, 2, 8});
  EXPECT_TRUE(torch::equal(regression_part(o, out), out.narrow(-1, 0, 4)));
  EXPECT_TRUE(torch::equal(learned_v(o, out), out.narrow(-1, 4, 4)));
  o.learn_sigma = false;
  EXPECT_TRUE(torch::equal(regression_part(o, out), out));
  EXPECT_FALSE(learned_v(o, out).defined());
}
