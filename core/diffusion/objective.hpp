// What the network sees and predicts (paper Table 3, paper/ldae.md). Pure
// functions of tensors so each can be tested against its formula.
//
// Notation, per token: x' (D,) the patch in the tokenizer's normalised image
// space, V (d, D) the kept basis, z0 = V x' (d,), eps ~ N(0, I_d).
#pragma once
#include <torch/torch.h>

#include "core/config/config.hpp"

namespace ldae {

enum class Target { Eps, CleanLatent, CleanImage, OriginalImage, Velocity };
// The target registry (core/diffusion/registry.cpp), keyed by
// objective.target; parse_target throws InputError for an unknown name.
Target parse_target(const std::string& name);
std::vector<std::string> target_names();

struct Objective {
  Target target = Target::Eps;
  bool image_space = false;     // input x_t = V^T z_t (Table 3 row 4)
  bool input_scaling = true;    // z_t = gamma z0 + sigma eps, else z0 + sigma eps
  double beyond_weight = 0.1;   // w_i for i > d (original_image)
  bool learn_sigma = false;     // output (B, L, 2d): eps, then the variance's v (learned_variance.hpp)
};
Objective make_objective(const ObjectiveConfig& c);

// Noisy latent z_t (B, L, d) from z0, eps (B, L, d) and gamma, sigma (B,).
torch::Tensor noisy_latent(const Objective& o, const torch::Tensor& z0, const torch::Tensor& eps,
                           const torch::Tensor& gamma, const torch::Tensor& sigma);
// Network input: z_t, or V^T z_t (B, L, D) in image space.
torch::Tensor network_input(const Objective& o, const torch::Tensor& zt, const torch::Tensor& V);
// Per-sample loss weight lambda_t (B,): eps and velocity (SiT) -> 1; clean targets -> gamma^2
// with input scaling, 1 / (1 + sigma^2) without (Table 3 rows 2-3).
torch::Tensor loss_weight(const Objective& o, const torch::Tensor& gamma,
                          const torch::Tensor& sigma);
// Regression target: eps (B,L,d); z0 (B,L,d); V^T V x' (B,L,D); x' (B,L,D);
// velocity (B,L,d) = d gamma/ds z0 + d sigma/ds eps (SiT, eq. 5: the time
// derivative of z_s = gamma_s z0 + sigma_s eps), dgamma and dsigma (B,).
torch::Tensor target_of(const Objective& o, const torch::Tensor& x, const torch::Tensor& z0,
                        const torch::Tensor& eps, const torch::Tensor& V,
                        const torch::Tensor& dgamma = {}, const torch::Tensor& dsigma = {});
// Output width per token the network must produce: d or D; 2d with
// learn_sigma (eps and v, as DiT's out_channels = 2 x in_channels).
int64_t output_dim(const Objective& o, int64_t d, int64_t D);
// The part of the network's output (B, L, out) that regresses the target:
// the first half with learn_sigma, else all of it. learned_v is the rest
// (B, L, d), undefined without learn_sigma.
torch::Tensor regression_part(const Objective& o, const torch::Tensor& out);
torch::Tensor learned_v(const Objective& o, const torch::Tensor& out);
// Per-component weights w (D,) for original_image: 1 for i < d, else
// beyond_weight (Table 3 last row); float32 on the CPU unless `options` say
// otherwise (the loss makes them where its residual lives).
torch::Tensor component_weights(const Objective& o, int64_t d, int64_t D,
                                const torch::TensorOptions& options = torch::TensorOptions().dtype(torch::kFloat32));

// The full loss for one batch: mean over samples of lambda_t x (mean over
// tokens of the squared error). For original_image the error is measured in
// the full PCA basis, r = V_full (x' - pred), as sum_i w_i r_i^2 / D.
// token_weight (B, L), when given, replaces the mean over tokens by a weighted
// mean (plugins: e.g. the loss on masked tokens only).
torch::Tensor objective_loss(const Objective& o, const torch::Tensor& pred,
                             const torch::Tensor& target, const torch::Tensor& weight,
                             const torch::Tensor& V_full, int64_t d,
                             const torch::Tensor& token_weight = {});

}  // namespace ldae
