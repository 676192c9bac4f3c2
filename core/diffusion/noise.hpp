// Noise schedules: the forward process z_t = gamma_t z0 + sigma_t eps with
// eps ~ N(0, I) and discrete t in {0, 1, ..., T} (t = 0 is clean data).
// Training samples t uniformly from {1..T}. paper/ldae.md, "Noise schedules".
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace ldae {

struct Schedule {
  std::string name;
  int T = 0;
  std::vector<double> gamma;  // (T + 1,) gamma[t]
  std::vector<double> sigma;  // (T + 1,) sigma[t]
  // SiT's interpolants (continuous time s = t / T in [0, 1]): d gamma / ds
  // and d sigma / ds at each t, which the velocity target needs; empty for
  // schedules without them.
  std::vector<double> dgamma, dsigma;
};

// DDPM "linear beta": beta_s linear from 1e-4 to 0.02 over s = 1..T,
// gamma_t^2 = prod_{s<=t} (1 - beta_s), sigma_t^2 = 1 - gamma_t^2.
Schedule ddpm_linear(const NoiseConfig& c);
// Table 1 last row: gamma_t^2 = 1 - t / T, sigma_t^2 = t / T.
Schedule linear_gamma2(const NoiseConfig& c);
// Table 3 row 3 ("no input scaling"): gamma_t = 1, sigma_t = sigma_max t / T.
Schedule linear_sigma(const NoiseConfig& c);
// One noise level for every t: gamma = 1, sigma = c.sigma (default sqrt(1/3)).
Schedule single_sigma(const NoiseConfig& c);
// Nichol & Dhariwal cosine: gamma_t^2 = f(t)/f(0), f(t) = cos^2(pi/2 (t/T + s)/(1 + s)),
// s = 0.008, with each step's beta clipped at 0.999 as in their code.
Schedule cosine(const NoiseConfig& c);

// EDM's training noise (Karras et al. 2022): ln sigma ~ N(p_mean, p_std^2),
// here as a discrete schedule whose uniform t gives exactly those sigmas:
// sigma_t = exp(p_mean + p_std Phi^-1((t - 1/2) / T)), made variance
// preserving as gamma_t = 1 / sqrt(1 + sigma_t^2), sigma_t / sqrt(1 + sigma_t^2).
Schedule edm_lognormal(const NoiseConfig& c);
// Phi^-1, the standard normal quantile (Boost.Math), p in (0, 1).
double normal_quantile(double p);

// SiT's linear interpolant (Ma et al. 2024, "SiT", Sec. 3): gamma = 1 - s,
// sigma = s for s = t / T; d gamma / ds = -1, d sigma / ds = 1.
Schedule linear_interp(const NoiseConfig& c);
// SiT's generalised variance-preserving interpolant: gamma = cos(pi s / 2),
// sigma = sin(pi s / 2); d gamma / ds = -pi/2 sin(pi s / 2), d sigma / ds =
// pi/2 cos(pi s / 2).
Schedule gvp(const NoiseConfig& c);

// The schedule registry (core/diffusion/registry.cpp), keyed by
// noise.schedule: the built-in literal map, then the entries plugins added.
// make_schedule throws InputError for an unknown name.
Schedule make_schedule(const NoiseConfig& c);
std::vector<std::string> schedule_names();
bool has_schedule(const std::string& name);
// A plugin's entry; call has_schedule() first (this assumes the name is new).
void add_plugin_schedule(const std::string& name, std::function<Schedule(const NoiseConfig&)> make);

}  // namespace ldae
