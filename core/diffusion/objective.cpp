#include "core/diffusion/objective.hpp"


namespace ldae {

Objective make_objective(const ObjectiveConfig& c) {
  return Objective{parse_target(c.target), c.space == "image", c.input_scaling, c.beyond_weight, c.learn_sigma};
}

torch::Tensor noisy_latent(const Objective& o, const torch::Tensor& z0, const torch::Tensor& eps,
                           const torch::Tensor& gamma, const torch::Tensor& sigma) {
  auto s = sigma.view({-1, 1, 1});
  if (!o.input_scaling) return z0 + s * eps;  // gamma_t = 1
  return gamma.view({-1, 1, 1}) * z0 + s * eps;
}

torch::Tensor network_input(const Objective& o, const torch::Tensor& zt, const torch::Tensor& V) {
  return o.image_space ? torch::matmul(zt, V) : zt;  // (B,L,d) x (d,D) -> (B,L,D)
}

torch::Tensor loss_weight(const Objective& o, const torch::Tensor& gamma,
                          const torch::Tensor& sigma) {
  if (o.target == Target::Eps || o.target == Target::Velocity) return torch::ones_like(gamma);
  if (o.input_scaling) return gamma * gamma;
  return 1.0 / (1.0 + sigma * sigma);
}

torch::Tensor target_of(const Objective& o, const torch::Tensor& x, const torch::Tensor& z0,
                        const torch::Tensor& eps, const torch::Tensor& V, const torch::Tensor& dgamma,
                        const torch::Tensor& dsigma) {
  switch (o.target) {
    case Target::Velocity:
      TORCH_CHECK(dgamma.defined() && dsigma.defined(), "the velocity target needs d gamma/ds and d sigma/ds");
      return dgamma.view({-1, 1, 1}) * z0 + dsigma.view({-1, 1, 1}) * eps;
    case Target::Eps: return eps;
    case Target::CleanLatent: return z0;
    case Target::CleanImage: return torch::matmul(z0, V);  // V^T V x'
    case Target::OriginalImage: return x;
  }
  return eps;
}

int64_t output_dim(const Objective& o, int64_t d, int64_t D) {
  if (o.learn_sigma) return 2 * d;
  return (o.target == Target::CleanImage || o.target == Target::OriginalImage) ? D : d;
}

torch::Tensor regression_part(const Objective& o, const torch::Tensor& out) {
  return o.learn_sigma ? out.narrow(-1, 0, out.size(-1) / 2) : out;
}

torch::Tensor learned_v(const Objective& o, const torch::Tensor& out) {
  if (!o.learn_sigma) return {};
  const int64_t d = out.size(-1) / 2;
  return out.narrow(-1, d, d);
}

torch::Tensor component_weights(const Objective& o, int64_t d, int64_t D, const torch::TensorOptions& options) {
  auto w = torch::full({D}, o.beyond_weight, options);
  w.slice(0, 0, d).fill_(1.0);
  return w;
}

torch::Tensor objective_loss(const Objective& o, const torch::Tensor& pred,
                             const torch::Tensor& target, const torch::Tensor& weight,
                             const torch::Tensor& V_full, int64_t d,
                             const torch::Tensor& token_weight) {
  torch::Tensor per_token;  // (B, L)
  if (o.target == Target::OriginalImage) {
    const int64_t D = V_full.size(0);
    auto r = torch::matmul(target - pred, V_full.t());  // (B, L, D) in the PCA basis
    // Made where r lives: a host tensor copied each step would synchronise
    // with the GPU (and cannot be recorded in a CUDA graph).
    auto w = component_weights(o, d, D, r.options());
    per_token = (r.pow(2) * w).sum(-1) / double(D);
  } else {
    per_token = (pred - target).pow(2).mean(-1);
  }
  if (token_weight.defined()) {
    auto tw = token_weight.to(per_token.dtype());
    return (weight * (per_token * tw).sum(-1) / tw.sum(-1).clamp_min(1e-12)).mean();
  }
  return (weight * per_token.mean(-1)).mean();
}

}  // namespace ldae
