// Patch-wise autoencoder (paper Table 2): a linear encoder V (d x D) and a
// linear decoder U (d x D) on each p x p patch, trained by gradient on
// ||x - U^T V x||^2 (with biases, which play the role of PCA's mean).
#pragma once
#include "core/nn/linear.hpp"
#include "tokenizers/learned.hpp"

namespace ldae {

class PatchAeTokenizer : public LearnedTokenizer {
 public:
  PatchAeTokenizer(const TokenizerConfig& c, int channels) : LearnedTokenizer(c, channels) {}
  std::string name() const override { return "patch_ae"; }
  // Rows of V (patch_vae: of its mean part), (d, D).
  torch::Tensor filters() const override { return enc_->weight.slice(0, 0, d_).detach(); }

 protected:
  void build() override;
  torch::nn::Module& net() override { return *net_; }
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images) override;
  torch::Tensor generate(const torch::Tensor& latents) override;

  std::shared_ptr<torch::nn::Module> net_;
  FusedLinear enc_{nullptr}, dec_{nullptr};
};

}  // namespace ldae
