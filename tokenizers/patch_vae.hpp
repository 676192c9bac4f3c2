// Patch-wise VAE (paper Table 2): the patch AE with a Gaussian posterior
// q(z | x) = N(V x, diag exp(logvar)) per patch, a reparameterised sample
// during fitting and KL(q || N(0, I)) weighted by tokenizer.kl_weight.
#pragma once
#include "tokenizers/patch_ae.hpp"

namespace ldae {

class PatchVaeTokenizer : public PatchAeTokenizer {
 public:
  PatchVaeTokenizer(const TokenizerConfig& c, int channels) : PatchAeTokenizer(c, channels) {}
  std::string name() const override { return "patch_vae"; }

 protected:
  void build() override;  // encoder D -> 2d: [mean; log-variance]
  // (mean, log-variance), each (B, L, d)
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images) override;
};

}  // namespace ldae
