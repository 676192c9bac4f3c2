#include "probes/lars.hpp"

namespace ldae {

Lars::Lars(std::vector<torch::Tensor> params, double weight_decay, double momentum, double trust_coefficient)
    : params_(std::move(params)), weight_decay_(weight_decay), momentum_(momentum), eta_(trust_coefficient) {
  for (const auto& p : params_) mu_.push_back(torch::zeros_like(p));
}

void Lars::zero_grad() {
  for (auto& p : params_)
    if (p.mutable_grad().defined()) p.mutable_grad().zero_();
}

void Lars::step(double lr) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    auto u = p.grad();
    if (p.dim() > 1) {
      u = u + weight_decay_ * p;
      // On the device, no host synchronisation: torch.where as util/lars.py.
      const auto p_norm = p.norm(), u_norm = u.norm(), one = torch::ones_like(p_norm);
      const auto q = torch::where(p_norm > 0, torch::where(u_norm > 0, eta_ * p_norm / u_norm, one), one);
      u = u * q;
    }
    mu_[i].mul_(momentum_).add_(u);
    p.add_(mu_[i], -lr);
  }
}

}  // namespace ldae
