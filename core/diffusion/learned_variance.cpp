#include "core/diffusion/learned_variance.hpp"

#include <fmt/core.h>

#include <cmath>

namespace ldae {

std::string learned_variance_unsupported(const Schedule& s) {
  const std::string fix = "; use a variance-preserving schedule (ddpm_linear, linear_gamma2, cosine, edm_lognormal, "
                          "gvp) or set objective.learn_sigma = false";
  if (s.T < 1 || s.gamma.size() != size_t(s.T) + 1 || s.sigma.size() != size_t(s.T) + 1)
    return "noise.schedule '" + s.name + "' has no table for t = 0..T" + fix;
  if (std::abs(s.gamma[0] - 1.0) > 1e-9 || s.sigma[0] > 1e-9)
    return fmt::format("noise.schedule '{}' does not start at clean data (gamma_0 = {:.6g}, sigma_0 = {:.6g}; the "
                       "learned variance needs gamma_0 = 1, sigma_0 = 0){}",
                       s.name, s.gamma[0], s.sigma[0], fix);
  int worst = 0;  // the t farthest from gamma_t^2 + sigma_t^2 = 1
  double worst_sum = 1.0;
  for (int t = 1; t <= s.T; ++t) {
    const double g = s.gamma[size_t(t)], sg = s.sigma[size_t(t)];
    if (std::abs(g * g + sg * sg - 1.0) > std::abs(worst_sum - 1.0)) worst = t, worst_sum = g * g + sg * sg;
  }
  if (std::abs(worst_sum - 1.0) > 1e-6)
    return fmt::format("noise.schedule '{}' is not variance preserving (gamma_t^2 + sigma_t^2 = {:.7g} at t = {}, "
                       "not 1): the learned variance lies between DDPM's beta_t and the posterior's{}",
                       s.name, worst_sum, worst, fix);
  for (int t = 1; t <= s.T; ++t)
    if (!(s.gamma[size_t(t)] < s.gamma[size_t(t) - 1]))
      return fmt::format("noise.schedule '{}' does not add noise at t = {} (gamma_t = gamma_(t-1) = {:.6g}): "
                         "log beta_t would be -infinity{}",
                         s.name, t, s.gamma[size_t(t)], fix);
  return "";
}

VarianceTables variance_tables(const Schedule& s) {
  const size_t n = size_t(s.T) + 1;
  VarianceTables v{std::vector<double>(n), std::vector<double>(n), std::vector<double>(n), std::vector<double>(n)};
  std::vector<double> posterior(n);
  for (size_t t = 1; t < n; ++t) {
    const double a = s.gamma[t] * s.gamma[t], a_prev = s.gamma[t - 1] * s.gamma[t - 1];
    const double beta = 1.0 - a / a_prev;  // 1 where gamma_t = 0
    v.log_beta[t] = std::log(beta);
    posterior[t] = beta * (1.0 - a_prev) / (1.0 - a);
    v.coef_x0[t] = beta * s.gamma[t - 1] / (1.0 - a);
    v.coef_zt[t] = (1.0 - a_prev) * std::sqrt(1.0 - beta) / (1.0 - a);
  }
  for (size_t t = 1; t < n; ++t)
    v.log_posterior[t] = std::log(t > 1 ? posterior[t] : n > 2 ? posterior[2] : std::exp(v.log_beta[1]));
  return v;
}

torch::Tensor normal_kl(const torch::Tensor& mean1, const torch::Tensor& logvar1, const torch::Tensor& mean2,
                        const torch::Tensor& logvar2) {
  return 0.5 * (-1.0 + logvar2 - logvar1 + torch::exp(logvar1 - logvar2) +
                (mean1 - mean2).pow(2) * torch::exp(-logvar2));
}

namespace {
torch::Tensor approx_standard_normal_cdf(const torch::Tensor& x) {
  return 0.5 * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
}
}  // namespace

torch::Tensor discretized_gaussian_log_likelihood(const torch::Tensor& x, const torch::Tensor& mean,
                                                  const torch::Tensor& log_scale) {
  const auto centred = x - mean;
  const auto inv_std = torch::exp(-log_scale);
  const auto cdf_plus = approx_standard_normal_cdf(inv_std * (centred + 1.0 / 255.0));
  const auto cdf_min = approx_standard_normal_cdf(inv_std * (centred - 1.0 / 255.0));
  const auto log_cdf_plus = torch::log(cdf_plus.clamp_min(1e-12));
  const auto log_one_minus_cdf_min = torch::log((1.0 - cdf_min).clamp_min(1e-12));
  const auto log_delta = torch::log((cdf_plus - cdf_min).clamp_min(1e-12));
  return torch::where(x < -0.999, log_cdf_plus, torch::where(x > 0.999, log_one_minus_cdf_min, log_delta));
}

torch::Tensor learned_log_variance(const torch::Tensor& v, const torch::Tensor& min_log, const torch::Tensor& max_log) {
  const auto frac = (v + 1.0) / 2.0;
  return frac * max_log + (1.0 - frac) * min_log;
}

VarianceTableTensors variance_table_tensors(const VarianceTables& v, torch::Device device) {
  auto to = [&](const std::vector<double>& x) {
    return torch::tensor(x, torch::kFloat64).to(torch::kFloat32).to(device);
  };
  return {to(v.log_beta), to(v.log_posterior), to(v.coef_x0), to(v.coef_zt)};
}

torch::Tensor vlb_bits(const VarianceTableTensors& tables, const torch::Tensor& z0, const torch::Tensor& zt,
                       const torch::Tensor& eps_hat, const torch::Tensor& v, const torch::Tensor& t,
                       const torch::Tensor& gamma, const torch::Tensor& sigma) {
  auto per_sample = [&](const torch::Tensor& table) { return table.index_select(0, t).view({-1, 1, 1}); };
  const auto c0 = per_sample(tables.coef_x0), ct = per_sample(tables.coef_zt);
  const auto min_log = per_sample(tables.log_posterior), max_log = per_sample(tables.log_beta);
  // Where gamma_t = 0 the estimate of z0 would divide by 0; it is computed
  // with 1 there and masked below, so neither value nor gradient is NaN.
  const auto has_signal = gamma > 0;  // (B,)
  const auto g = torch::where(has_signal, gamma, torch::ones_like(gamma)).view({-1, 1, 1});
  const auto x0_hat = (zt - sigma.view({-1, 1, 1}) * eps_hat) / g;
  const auto model_mean = c0 * x0_hat + ct * zt;
  const auto model_log_var = learned_log_variance(v, min_log, max_log);
  const double bits = 1.0 / std::log(2.0);
  const auto kl = normal_kl(c0 * z0 + ct * zt, min_log, model_mean, model_log_var).mean({1, 2}) * bits;
  const auto nll = -discretized_gaussian_log_likelihood(z0, model_mean, 0.5 * model_log_var).mean({1, 2}) * bits;
  const auto out = torch::where(t == 1, nll, kl);
  return torch::where(has_signal, out, torch::zeros_like(out));
}

torch::Tensor learned_variance_step(const torch::Tensor& zt, const torch::Tensor& eps, const torch::Tensor& v,
                                    double gt, double st, double gn, double sn, const torch::Tensor& noise) {
  const auto x0 = (zt - st * eps) / gt;
  const double beta = 1.0 - (gt * gt) / (gn * gn);
  const double coef_x0 = beta * gn / (st * st), coef_zt = sn * sn * (gt / gn) / (st * st);
  const auto mean = coef_x0 * x0 + coef_zt * zt;
  if (!(sn > 0)) return mean;
  const double min_log = std::log(beta * sn * sn / (st * st)), max_log = std::log(beta);
  const auto frac = (v + 1.0) / 2.0;
  return mean + torch::exp(0.5 * (frac * max_log + (1.0 - frac) * min_log)) * noise;
}

}  // namespace ldae
