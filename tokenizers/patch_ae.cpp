#include "tokenizers/patch_ae.hpp"

namespace ldae {

void PatchAeTokenizer::build() {
  const int64_t D = int64_t(patch_) * patch_ * C_;
  net_ = std::make_shared<torch::nn::Module>();
  enc_ = net_->register_module("encoder", FusedLinear(D, d_));  // V
  dec_ = net_->register_module("decoder", FusedLinear(d_, D));  // U^T
}

std::pair<torch::Tensor, torch::Tensor> PatchAeTokenizer::posterior(const torch::Tensor& images) {
  return {enc_(patchify(images, patch_)), torch::Tensor()};  // (B, L, d), no variance
}

torch::Tensor PatchAeTokenizer::generate(const torch::Tensor& z) {
  return unpatchify(dec_(z), patch_, C_, H_, W_);
}

}  // namespace ldae
