// Every schedule against hand-computed values (paper/ldae.md, "Noise schedules").
#include <gtest/gtest.h>

#include <cmath>

#include "core/diffusion/noise.hpp"

using namespace ldae;

TEST(Schedule, DdpmLinearMatchesProductOfBetas) {
  NoiseConfig c;
  auto s = ddpm_linear(c);
  ASSERT_EQ(s.gamma.size(), 1001u);
  EXPECT_DOUBLE_EQ(s.gamma[0], 1.0);
  // t = 1: gamma^2 = 1 - beta_1 = 1 - 1e-4
  EXPECT_NEAR(s.gamma[1] * s.gamma[1], 1 - 1e-4, 1e-12);
  // t = 2: (1 - 1e-4)(1 - (1e-4 + 0.0199/999))
  double b2 = 1e-4 + (0.02 - 1e-4) / 999.0;
  EXPECT_NEAR(s.gamma[2] * s.gamma[2], (1 - 1e-4) * (1 - b2), 1e-12);
  // The paper: gamma^2 at t = 10 is 0.9981.
  EXPECT_NEAR(s.gamma[10] * s.gamma[10], 0.9981, 5e-5);
  // The paper: 74% of steps have gamma^2 < 0.5.
  int below = 0;
  for (int t = 1; t <= 1000; ++t) below += s.gamma[t] * s.gamma[t] < 0.5;
  EXPECT_NEAR(below / 1000.0, 0.74, 0.01);
  for (int t = 0; t <= 1000; ++t)
    EXPECT_NEAR(s.gamma[t] * s.gamma[t] + s.sigma[t] * s.sigma[t], 1.0, 1e-12);
}

TEST(Schedule, LinearGamma2) {
  NoiseConfig c;
  c.T = 4;
  auto s = linear_gamma2(c);
  EXPECT_NEAR(s.gamma[1] * s.gamma[1], 0.75, 1e-15);
  EXPECT_NEAR(s.sigma[1] * s.sigma[1], 0.25, 1e-15);
  EXPECT_NEAR(s.gamma[4], 0.0, 1e-15);
  EXPECT_NEAR(s.sigma[4], 1.0, 1e-15);
}

TEST(Schedule, LinearSigmaHasNoInputScaling) {
  NoiseConfig c;
  c.T = 1000;
  auto s = linear_sigma(c);
  EXPECT_DOUBLE_EQ(s.gamma[500], 1.0);
  EXPECT_NEAR(s.sigma[500], std::sqrt(2.0) / 2, 1e-15);
  EXPECT_NEAR(s.sigma[1000], std::sqrt(2.0), 1e-15);
  EXPECT_DOUBLE_EQ(s.sigma[0], 0.0);
}

TEST(Schedule, SingleSigmaIsConstant) {
  NoiseConfig c;
  auto s = single_sigma(c);
  EXPECT_NEAR(s.sigma[1], std::sqrt(1.0 / 3.0), 1e-15);
  EXPECT_NEAR(s.sigma[1000], std::sqrt(1.0 / 3.0), 1e-15);
  EXPECT_DOUBLE_EQ(s.gamma[700], 1.0);
}

TEST(Schedule, CosineMatchesClosedFormAwayFromTheEnd) {
  NoiseConfig c;
  auto s = cosine(c);
  const double pi = 3.14159265358979323846, off = 0.008;
  auto f = [&](double t) {
    double u = std::cos((t / 1000.0 + off) / (1 + off) * pi / 2);
    return u * u;
  };
  // Before the beta clip at 0.999 bites, gamma^2 = f(t) / f(0) exactly.
  for (int t : {1, 100, 500, 900})
    EXPECT_NEAR(s.gamma[t] * s.gamma[t], f(t) / f(0), 1e-9) << "t=" << t;
  EXPECT_LT(s.gamma[1000], 1e-3);
}

TEST(Schedule, RegistryBuildsEveryName) {
  for (const char* name : {"ddpm_linear", "linear_gamma2", "linear_sigma", "single_sigma", "cosine",
                           "edm_lognormal", "linear_interp", "gvp"}) {
    NoiseConfig c;
    c.schedule = name;
    auto s = make_schedule(c);
    EXPECT_EQ(s.name, name);
    EXPECT_EQ(int(s.sigma.size()), c.T + 1);
  }
}

TEST(Schedule, NormalQuantileInvertsTheCdf) {
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(normal_quantile(0.8413447460685429), 1.0, 1e-9);   // Phi(1)
  EXPECT_NEAR(normal_quantile(0.022750131948179195), -2.0, 1e-9);  // Phi(-2)
}

TEST(Schedule, EdmLognormalGivesLogNormalSigmasUnderUniformT) {
  NoiseConfig c;  // p_mean -1.2, p_std 1.2, T = 1000
  auto s = edm_lognormal(c);
  EXPECT_DOUBLE_EQ(s.gamma[0], 1.0);
  EXPECT_DOUBLE_EQ(s.sigma[0], 0.0);
  int below = 0;
  for (int t = 1; t <= c.T; ++t) {
    EXPECT_NEAR(s.gamma[t] * s.gamma[t] + s.sigma[t] * s.sigma[t], 1.0, 1e-12);
    EXPECT_LT(s.sigma[t - 1], s.sigma[t]);                 // more noise with t
    const double edm_sigma = s.sigma[t] / s.gamma[t];      // back to EDM's sigma
    below += std::log(edm_sigma) < c.p_mean + c.p_std;     // within one std above the mean
  }
  EXPECT_NEAR(below / 1000.0, 0.8413, 0.002);
  // The median step carries EDM's median sigma exp(p_mean).
  EXPECT_NEAR(0.5 * (s.sigma[500] / s.gamma[500] + s.sigma[501] / s.gamma[501]), std::exp(-1.2), 1e-3);
}

// SiT's interpolants (Ma et al. 2024, Sec. 3) against their formulas, and
// their derivatives against central finite differences in s = t / T.
TEST(Schedule, SitInterpolantsAndTheirDerivatives) {
  NoiseConfig c;
  c.T = 1000;
  const auto lin = linear_interp(c), g = gvp(c);
  EXPECT_DOUBLE_EQ(lin.gamma[250], 0.75);
  EXPECT_DOUBLE_EQ(lin.sigma[250], 0.25);
  EXPECT_DOUBLE_EQ(lin.gamma[1000], 0.0);
  EXPECT_NEAR(g.gamma[500], std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(g.sigma[500], std::sqrt(0.5), 1e-15);
  EXPECT_EQ(g.gamma[1000], 0.0);
  for (int t : {1, 250, 500, 999})
    EXPECT_NEAR(g.gamma[t] * g.gamma[t] + g.sigma[t] * g.sigma[t], 1.0, 1e-12);  // variance preserving
  for (const Schedule* s : {&lin, &g})
    for (int t : {10, 300, 700, 990}) {
      EXPECT_NEAR(s->dgamma[t], (s->gamma[t + 1] - s->gamma[t - 1]) * c.T / 2, 1e-5) << s->name << " t " << t;
      EXPECT_NEAR(s->dsigma[t], (s->sigma[t + 1] - s->sigma[t - 1]) * c.T / 2, 1e-5) << s->name << " t " << t;
    }
  c.schedule = "gvp";
  EXPECT_EQ(make_schedule(c).name, "gvp");
}
