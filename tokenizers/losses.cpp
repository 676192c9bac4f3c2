#include "tokenizers/losses.hpp"

namespace ldae {

torch::Tensor kl_standard_normal(const torch::Tensor& mu, const torch::Tensor& logvar) {
  const auto B = mu.size(0);
  return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / double(B);
}

torch::Tensor hinge_d_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits) {
  return torch::relu(1.0 - real_logits).mean() + torch::relu(1.0 + fake_logits).mean();
}

torch::Tensor hinge_g_loss(const torch::Tensor& fake_logits) { return -fake_logits.mean(); }

torch::Tensor perceptual_distance(const std::vector<torch::Tensor>& a,
                                  const std::vector<torch::Tensor>& b) {
  TORCH_CHECK(a.size() == b.size(), "perceptual_distance: layer counts differ");
  auto unit = [](const torch::Tensor& f) {
    return f / (f.pow(2).sum(1, /*keepdim=*/true).sqrt() + 1e-10);
  };
  torch::Tensor total = torch::zeros({}, a.empty() ? torch::kFloat32 : a[0].scalar_type());
  for (size_t i = 0; i < a.size(); ++i) {
    auto d = (unit(a[i]) - unit(b[i])).pow(2).sum(1);  // (B, h, w) or (B,)
    total = total + d.mean();
  }
  return total;
}

}  // namespace ldae
