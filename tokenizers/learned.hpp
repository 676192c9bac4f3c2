// Base of the tokenizers fitted by gradient descent (patch_ae, patch_vae,
// conv_vae): the seeded AdamW loop, batched encode/decode, the latent scale
// and HDF5 save/load of the weights and the fitting curve. Subclasses give the
// networks (build), the per-step loss and the latent <-> image maps.
#pragma once
#include "tokenizers/tokenizer.hpp"

namespace ldae {

class LearnedTokenizer : public Tokenizer {
 public:
  explicit LearnedTokenizer(const TokenizerConfig& c, int channels);
  // Seeded: initialisation and batches come from (seed, step).
  void fit(const torch::Tensor& images, uint64_t seed) override;
  // The same fit reading its random batches (and the scale's first 4,096
  // images) from a split read on demand (streamed data).
  void fit_batches(const ImageBatches& images, uint64_t seed) override;
  // Deterministic: the posterior mean for VAEs. (B, C, H, W) -> (B, L, d)
  torch::Tensor encode(const torch::Tensor& images) const override;
  torch::Tensor decode(const torch::Tensor& tokens) const override;
  void save(const std::string& path) const override;
  void load(const std::string& path) override;
  void to(torch::Device device) override;  // the base's tensors and net()
  // The encoder's parameters ("encoder.*" of net(): the posterior network).
  std::vector<std::pair<std::string, torch::Tensor>> export_tensors() const override;

 protected:
  // Create the networks for C_ x H_ x W_ images (fresh weights).
  virtual void build() = 0;
  // The generator's modules, saved and loaded (not the discriminator).
  virtual torch::nn::Module& net() = 0;
  // Latent mean and log-variance (undefined for a plain AE) of images, in
  // the unscaled latent space, (B, L, d) each.
  virtual std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images) = 0;
  // Images from unscaled latents (B, L, d).
  virtual torch::Tensor generate(const torch::Tensor& latents) = 0;
  // One optimisation step on a batch; returns (total loss, reconstruction MSE).
  virtual std::pair<double, double> train_step(const torch::Tensor& x, int64_t step);

  const TokenizerConfig cfg_;
  std::unique_ptr<torch::optim::AdamW> opt_;
};

}  // namespace ldae
