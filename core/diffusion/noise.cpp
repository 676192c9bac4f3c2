#include "core/diffusion/noise.hpp"

#include <boost/math/distributions/normal.hpp>

#include <cmath>

namespace ldae {
namespace {

// Fill gamma/sigma from gamma^2 values with sigma^2 = 1 - gamma^2 (variance
// preserving schedules).
Schedule variance_preserving(std::string name, int T, const std::vector<double>& gamma2) {
  Schedule s{std::move(name), T, std::vector<double>(T + 1), std::vector<double>(T + 1)};
  for (int t = 0; t <= T; ++t) {
    double g2 = std::min(1.0, std::max(0.0, gamma2[t]));
    s.gamma[t] = std::sqrt(g2);
    s.sigma[t] = std::sqrt(1.0 - g2);
  }
  return s;
}

}  // namespace

Schedule ddpm_linear(const NoiseConfig& c) {
  const int T = c.T;
  std::vector<double> g2(T + 1, 1.0);
  for (int t = 1; t <= T; ++t) {
    // beta_t for t = 1..T, endpoints included (DDPM's linspace).
    double beta = T == 1 ? 1e-4 : 1e-4 + (0.02 - 1e-4) * double(t - 1) / double(T - 1);
    g2[t] = g2[t - 1] * (1.0 - beta);
  }
  return variance_preserving("ddpm_linear", T, g2);
}

Schedule linear_gamma2(const NoiseConfig& c) {
  std::vector<double> g2(c.T + 1);
  for (int t = 0; t <= c.T; ++t) g2[t] = 1.0 - double(t) / c.T;
  return variance_preserving("linear_gamma2", c.T, g2);
}

Schedule linear_sigma(const NoiseConfig& c) {
  Schedule s{"linear_sigma", c.T, std::vector<double>(c.T + 1, 1.0), std::vector<double>(c.T + 1)};
  for (int t = 0; t <= c.T; ++t) s.sigma[t] = c.sigma_max * double(t) / c.T;
  return s;
}

Schedule single_sigma(const NoiseConfig& c) {
  return Schedule{"single_sigma", c.T, std::vector<double>(c.T + 1, 1.0),
                  std::vector<double>(c.T + 1, c.sigma)};
}

Schedule cosine(const NoiseConfig& c) {
  const double s = 0.008, pi = 3.14159265358979323846;
  auto f = [&](int t) {
    double u = std::cos((double(t) / c.T + s) / (1.0 + s) * pi / 2);
    return u * u;
  };
  std::vector<double> g2(c.T + 1, 1.0);
  for (int t = 1; t <= c.T; ++t) {
    double beta = std::min(1.0 - f(t) / f(t - 1), 0.999);
    g2[t] = g2[t - 1] * (1.0 - beta);
  }
  return variance_preserving("cosine", c.T, g2);
}

Schedule linear_interp(const NoiseConfig& c) {
  const int T = c.T;
  Schedule s{"linear_interp", T, std::vector<double>(T + 1), std::vector<double>(T + 1),
             std::vector<double>(T + 1, -1.0), std::vector<double>(T + 1, 1.0)};
  for (int t = 0; t <= T; ++t) {
    s.gamma[t] = 1.0 - double(t) / T;
    s.sigma[t] = double(t) / T;
  }
  return s;
}

Schedule gvp(const NoiseConfig& c) {
  const int T = c.T;
  const double half_pi = 1.57079632679489661923;
  Schedule s{"gvp", T, std::vector<double>(T + 1), std::vector<double>(T + 1), std::vector<double>(T + 1),
             std::vector<double>(T + 1)};
  for (int t = 0; t <= T; ++t) {
    const double a = half_pi * double(t) / T;
    s.gamma[t] = t == T ? 0.0 : std::cos(a);  // exactly 0 at s = 1
    s.sigma[t] = std::sin(a);
    s.dgamma[t] = -half_pi * std::sin(a);
    s.dsigma[t] = half_pi * std::cos(a);
  }
  return s;
}

double normal_quantile(double p) { return boost::math::quantile(boost::math::normal(), p); }

Schedule edm_lognormal(const NoiseConfig& c) {
  Schedule s{"edm_lognormal", c.T, std::vector<double>(c.T + 1, 1.0), std::vector<double>(c.T + 1, 0.0)};
  for (int t = 1; t <= c.T; ++t) {
    const double sig = std::exp(c.p_mean + c.p_std * normal_quantile((t - 0.5) / c.T));
    s.gamma[t] = 1.0 / std::sqrt(1.0 + sig * sig);
    s.sigma[t] = sig / std::sqrt(1.0 + sig * sig);
  }
  return s;
}

}  // namespace ldae
