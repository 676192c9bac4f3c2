// Losses of the learned tokenizers (paper Table 1-2: VAE, VQGAN-style
// tokenizer). Pure functions of tensors, each tested against its formula.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace ldae {

// KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions and
// averaged over the batch: 0.5 sum(mu^2 + exp(logvar) - 1 - logvar) / B.
// mu, logvar: (B, ...).
torch::Tensor kl_standard_normal(const torch::Tensor& mu, const torch::Tensor& logvar);

// Hinge GAN losses on discriminator logits of any shape (a patch
// discriminator gives (B, 1, h, w)):
//   D: mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))
//   G: -mean(D(x_hat))
torch::Tensor hinge_d_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);
torch::Tensor hinge_g_loss(const torch::Tensor& fake_logits);

// Perceptual distance between two lists of feature maps (B, C, h, w) of the
// same frozen network (LPIPS without learned weights): each map unit-normed
// over channels, squared difference summed over channels, averaged over
// positions and batch, summed over layers.
torch::Tensor perceptual_distance(const std::vector<torch::Tensor>& a,
                                  const std::vector<torch::Tensor>& b);

}  // namespace ldae
