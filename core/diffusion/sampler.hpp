// Samplers for the generative rows of Table 1: DDIM (eta = 0) and DDPM
// ancestral sampling (eta = 1) on a respaced subsequence of the T-step
// schedule, for variance-preserving schedules (gamma^2 + sigma^2 = 1) and
// models that predict eps or the clean latent (DDPM with DiT's learned
// variance when the objective learns it); and SiT's Heun ODE sampler for
// models that predict the velocity of an interpolant (linear_interp, gvp).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "backbones/backbone.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"

namespace ldae {

// `steps` timesteps from the largest t with gamma_t > 0 down to 1, evenly
// spaced and distinct, decreasing.
// eval.sampler's names: ddim (eta 0), ddpm (ancestral).
std::vector<std::string> sampler_names();

std::vector<int64_t> respaced_timesteps(const Schedule& s, int steps);

// One update from z_t at step t to step t_next (0 = the clean end) given the
// model's eps estimate:
//   x0 = (z_t - sigma_t eps) / gamma_t
//   s  = eta sqrt(sigma_n^2 / sigma_t^2 (1 - gamma_t^2 / gamma_n^2))
//   z_n = gamma_n x0 + sqrt(sigma_n^2 - s^2) eps + s noise
// (Song et al. 2021, eq. 12; eta = 1 is DDPM's ancestral step.)
torch::Tensor ddim_step(const torch::Tensor& zt, const torch::Tensor& eps, double gamma_t,
                        double sigma_t, double gamma_n, double sigma_n, double eta,
                        const torch::Tensor& noise);

// SiT's ODE sampler for velocity models: dz/ds = v(z, s), from z at s = 1
// (pure noise, t = T) to s = 0 on `steps` even steps of t, Heun's method
// (Euler predictor, trapezoidal corrector; the last step to s = 0 is Euler,
// as in SiT's sampler) or Euler. v(z, t) gives the velocity at integer t.
torch::Tensor integrate_velocity(torch::Tensor z, int T, int steps, bool heun,
                                 const std::function<torch::Tensor(const torch::Tensor&, int64_t)>& v);

struct SampleOptions {
  int64_t n = 16;
  int steps = 50;
  double eta = 0.0;          // 0 DDIM, 1 DDPM ancestral
  int64_t classes = 0;       // > 0: class-conditional, labels i mod classes
  int64_t batch = 256;
  uint64_t seed = 0;
  bool bf16 = false;         // the network under bf16 autocast (CUDA devices only; the CPU samples in fp32)
};

// Latents (n, L, d) sampled from noise with the model in eval mode.
torch::Tensor sample_latents(Backbone& model, const Schedule& s, const Objective& o, int64_t L,
                             int64_t d, const SampleOptions& opt, torch::Device device);
// The same latents, handed to `take` one batch at a time ((B, L, d) float32 on
// the CPU, B <= opt.batch, in order) and not kept: what FID-50K samples
// without holding 50,000 decoded images. InputError as sample_latents.
void sample_latent_batches(Backbone& model, const Schedule& s, const Objective& o, int64_t L, int64_t d,
                           const SampleOptions& opt, torch::Device device,
                           const std::function<void(const torch::Tensor&)>& take);

}  // namespace ldae
