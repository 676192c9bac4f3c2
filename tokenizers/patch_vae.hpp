// Patch-wise VAE (paper Table 2): the patch AE with a Gaussian posterior
// q(z | x) = N(V x, diag exp(logvar)) per patch, a reparameterised sample
// during fitting and KL(q || N(0, I)) weighted by tokenizer.kl_weight.
#pragma once
#include "tokenizers/learned.hpp"

namespace ldae {

class PatchVaeTokenizer : public LearnedTokenizer {
 public:
  PatchVaeTokenizer(const TokenizerConfig& c, int channels) : LearnedTokenizer(c, channels) {}
  std::string name() const override { return "patch_vae"; }

 protected:
  void build() override;
  torch::nn::Module& net() override { return *net_; }
  // (mean, log-variance), each (B, L, d)
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images) override;
  torch::Tensor generate(const torch::Tensor& latents) override;

  std::shared_ptr<torch::nn::Module> net_;
  torch::nn::Linear enc_{nullptr}, dec_{nullptr};
};

}  // namespace ldae
