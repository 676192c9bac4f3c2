// DiT's learned variance (objective.learn_sigma): the network outputs, beside
// its eps estimate (B, L, d), v (B, L, d) in [-1, 1] (unbounded; as in DiT),
// which places the reverse step's log variance between the posterior's and
// beta_t's:
//   log Sigma_t = (v + 1) / 2 log beta_t + (1 - v) / 2 log beta~_t
// (Nichol & Dhariwal 2021, "Improved DDPM", eq. 15). It is trained by the
// VLB term L_vlb with the eps estimate frozen, beside the eps MSE: DiT's
// diffusion/gaussian_diffusion.py (training_losses with LEARNED_RANGE and
// loss type MSE: loss = mse + vb, vb in bits per dimension, not rescaled),
// and used by the DDPM sampler's ancestral steps.
//
// Discrete time as in core/diffusion/noise.hpp: t in {1..T}, gamma_t^2 is
// DDPM's alpha-bar_t, gamma_0 = 1, so beta_t = 1 - gamma_t^2 / gamma_{t-1}^2.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/diffusion/noise.hpp"

namespace ldae {

// Why a schedule cannot carry a learned variance: "" when it can. It needs a
// variance-preserving schedule (gamma_t^2 + sigma_t^2 = 1, gamma_0 = 1)
// whose gamma_t falls at every step (beta_t > 0, so log beta_t is finite).
std::string learned_variance_unsupported(const Schedule& s);

// Per-t tables (T + 1,), float64, entry 0 unused (0):
//   log_beta[t]       log beta_t
//   log_posterior[t]  log beta~_t, beta~_t = beta_t (1 - gamma_{t-1}^2) / (1 - gamma_t^2),
//                     clipped: t = 1 (beta~_1 = 0) takes beta~_2 (DiT's
//                     posterior_log_variance_clipped; T = 1 takes beta_1)
//   coef_x0[t]        beta_t gamma_{t-1} / (1 - gamma_t^2)
//   coef_zt[t]        (1 - gamma_{t-1}^2) sqrt(1 - beta_t) / (1 - gamma_t^2)
// so the posterior q(z_{t-1} | z_t, z0) has mean coef_x0 z0 + coef_zt z_t.
// Entries where gamma_t = 0 (linear_gamma2's t = T) hold the limits that
// stay finite (beta_t = 1, coef_zt = 0). Call learned_variance_unsupported
// first.
struct VarianceTables {
  std::vector<double> log_beta, log_posterior, coef_x0, coef_zt;
};
VarianceTables variance_tables(const Schedule& s);

// KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats
// (DiT's diffusion/diffusion_utils.py normal_kl). Shapes broadcast.
torch::Tensor normal_kl(const torch::Tensor& mean1, const torch::Tensor& logvar1, const torch::Tensor& mean2,
                        const torch::Tensor& logvar2);

// log P(x) elementwise for x in [-1, 1] quantised to 256 bins under
// N(mean, e^(2 log_scale)), with the edge bins open (DiT's
// discretized_gaussian_log_likelihood, tanh approximation of the normal CDF);
// DiT applies it to latents at t = 1 as well.
torch::Tensor discretized_gaussian_log_likelihood(const torch::Tensor& x, const torch::Tensor& mean,
                                                  const torch::Tensor& log_scale);

// log Sigma (v's shape) from v and the per-sample bounds min_log = log beta~,
// max_log = log beta ((B,) or broadcastable to v).
torch::Tensor learned_log_variance(const torch::Tensor& v, const torch::Tensor& min_log, const torch::Tensor& max_log);

// The tables on a device as float32 tensors (T + 1,), indexed by t with
// index_select: nothing of the step reads a value on the host, so the VLB
// term stays inside a recorded CUDA graph.
struct VarianceTableTensors {
  torch::Tensor log_beta, log_posterior, coef_x0, coef_zt;
};
VarianceTableTensors variance_table_tensors(const VarianceTables& v, torch::Device device);

// DiT's VLB term per sample (B,), in bits per dimension: at t > 1
// KL(q(z_{t-1} | z_t, z0) || p(z_{t-1} | z_t)), at t = 1 the decoder's
// negative log-likelihood of z0; 0 where gamma_t = 0 (no estimate of z0 from
// z_t exists there). z0, zt, eps_hat, v (B, L, d); t (B,) long; gamma, sigma
// (B,). The model's mean uses eps_hat as given: pass it detached, as DiT
// does, so that only v learns from this term.
torch::Tensor vlb_bits(const VarianceTableTensors& tables, const torch::Tensor& z0, const torch::Tensor& zt,
                       const torch::Tensor& eps_hat, const torch::Tensor& v, const torch::Tensor& t,
                       const torch::Tensor& gamma, const torch::Tensor& sigma);

// One ancestral step with the learned variance on a respaced chain, from z_t
// (gamma_t, sigma_t) to z_n (gamma_n, sigma_n; n = 0 is the clean end): the
// posterior mean from x0 = (z_t - sigma_t eps) / gamma_t, plus
// exp(log Sigma / 2) noise, where beta = 1 - gamma_t^2 / gamma_n^2 and
// beta~ = beta sigma_n^2 / sigma_t^2 are the respaced chain's (DiT's
// respace.py). No noise at n = 0 (DiT's nonzero_mask), so the clipped
// beta~ of that step is never needed. zt, eps, v, noise (B, L, d).
torch::Tensor learned_variance_step(const torch::Tensor& zt, const torch::Tensor& eps, const torch::Tensor& v,
                                    double gamma_t, double sigma_t, double gamma_n, double sigma_n,
                                    const torch::Tensor& noise);

}  // namespace ldae
