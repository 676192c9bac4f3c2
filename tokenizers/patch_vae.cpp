#include "tokenizers/patch_vae.hpp"

namespace ldae {

void PatchVaeTokenizer::build() {
  const int64_t D = int64_t(patch_) * patch_ * C_;
  net_ = std::make_shared<torch::nn::Module>();
  enc_ = net_->register_module("encoder", FusedLinear(D, 2 * d_));  // [V; log-variance]
  dec_ = net_->register_module("decoder", FusedLinear(d_, D));
}

std::pair<torch::Tensor, torch::Tensor> PatchVaeTokenizer::posterior(const torch::Tensor& images) {
  auto parts = enc_(patchify(images, patch_)).chunk(2, /*dim=*/-1);  // (B, L, 2d) -> 2 x (B, L, d)
  return {parts[0], parts[1].clamp(-30.0, 20.0)};
}

}  // namespace ldae
