// Convolutional VAE (paper Tables 1-2: DiT's tokenizer family). The encoder
// downsamples by f = tokenizer.downsample = 2^k with stride-2 convolutions to
// a latent of c channels; a token is tokenizer.patch image pixels wide, like
// every tokenizer's, so it groups p = patch / f latent pixels (DiT's patch
// size) and d = p^2 c (paper: 256 px -> 32 x 32 x 4, f = 8, patch 16, p = 2,
// d = 16).
// Loss: ||x - g(f(x))||^2 + kl_weight KL, optionally
//   + perceptual_weight x perceptual distance in a frozen feature network,
//   + adv_weight x hinge generator loss against a patch discriminator (from
//     step adv_start on).
// KL + perceptual + adversarial is the VQGAN-style baseline of Table 1;
// without the last two it is a plain VAE.
#pragma once
#include "tokenizers/learned.hpp"

namespace ldae {

class ConvVaeTokenizer : public LearnedTokenizer {
 public:
  ConvVaeTokenizer(const TokenizerConfig& c, int channels);
  std::string name() const override { return "conv_vae"; }
  bool wants_perceptual_net() const override { return cfg_.perceptual_weight > 0; }
  void set_perceptual_net(std::shared_ptr<FeatureNet> n) override { perceptual_ = std::move(n); }

 protected:
  void build() override;
  torch::nn::Module& net() override { return *net_; }
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images) override;
  torch::Tensor generate(const torch::Tensor& latents) override;
  std::pair<double, double> train_step(const torch::Tensor& x, int64_t step) override;

 private:
  int p_;  // latent pixels per token side = patch / downsample
  int c_;  // latent channels = d / p^2
  std::shared_ptr<torch::nn::Module> net_;
  torch::nn::Sequential enc_{nullptr}, dec_{nullptr};
  torch::nn::Sequential disc_{nullptr};  // patch discriminator, not saved
  std::unique_ptr<torch::optim::Adam> disc_opt_;
  std::shared_ptr<FeatureNet> perceptual_;
};

}  // namespace ldae
