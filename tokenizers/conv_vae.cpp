#include "tokenizers/conv_vae.hpp"

#include <fmt/core.h>

#include "core/base/errors.hpp"
#include "core/nn/feature_net.hpp"
#include "tokenizers/losses.hpp"

namespace ldae {
namespace nn = torch::nn;

ConvVaeTokenizer::ConvVaeTokenizer(const TokenizerConfig& c, int channels)
    : LearnedTokenizer(c, channels),
      p_(std::max(1, c.patch / c.downsample)),
      c_(c.d / (p_ * p_)) {}

void ConvVaeTokenizer::build() {
  const int64_t w = cfg_.width;
  int levels = 0;
  for (int f = cfg_.downsample; f > 1; f /= 2) ++levels;
  auto conv = [](int64_t in, int64_t out, int64_t k = 3, int64_t s = 1) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(s).padding(k / 2));
  };
  // Encoder: conv, then per level a stride-2 3x3 conv (channels double up to
  // 4w), then 1x1 to (mean, log-variance) of c channels each. One conv per
  // level keeps a CPU fit to minutes (convolutions are LibTorch's slow path
  // on CPU); tokenizer.width scales it up on a GPU.
  enc_ = nn::Sequential();
  enc_->push_back(conv(C_, w));
  enc_->push_back(nn::SiLU());
  int64_t ch = w;
  std::vector<int64_t> widths;
  for (int l = 0; l < levels; ++l) {
    const int64_t out = std::min<int64_t>(2 * ch, 4 * w);
    enc_->push_back(conv(ch, out, 3, 2));
    enc_->push_back(nn::SiLU());
    widths.push_back(ch);
    ch = out;
  }
  enc_->push_back(conv(ch, 2 * c_, 1));
  // Decoder: the mirror, nearest-neighbour upsampling then a 3x3 conv.
  dec_ = nn::Sequential();
  dec_->push_back(conv(c_, ch));
  dec_->push_back(nn::SiLU());
  for (int l = levels - 1; l >= 0; --l) {
    dec_->push_back(nn::Upsample(nn::UpsampleOptions().scale_factor(std::vector<double>{2, 2})
                                     .mode(torch::kNearest)));
    dec_->push_back(conv(ch, widths[l]));
    dec_->push_back(nn::SiLU());
    ch = widths[l];
  }
  dec_->push_back(conv(ch, C_));
  net_ = std::make_shared<nn::Module>();
  net_->register_module("encoder", enc_);
  net_->register_module("decoder", dec_);
  if (cfg_.adv_weight > 0) {
    // PatchGAN-style: each logit judges one receptive field, not the image.
    disc_ = nn::Sequential(conv(C_, w, 4, 2), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
                           conv(w, 2 * w, 4, 2), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
                           conv(2 * w, 1, 3));
    disc_opt_ = std::make_unique<torch::optim::Adam>(
        disc_->parameters(), torch::optim::AdamOptions(cfg_.lr).betas({0.5, 0.9}));
  }
}

std::pair<torch::Tensor, torch::Tensor> ConvVaeTokenizer::posterior(const torch::Tensor& images) {
  auto h = enc_->forward(images);  // (B, 2c, H/f, W/f)
  auto parts = h.chunk(2, 1);
  return {patchify(parts[0], p_), patchify(parts[1].clamp(-30.0, 20.0), p_)};
}

torch::Tensor ConvVaeTokenizer::generate(const torch::Tensor& z) {
  const int f = cfg_.downsample;
  return dec_->forward(unpatchify(z, p_, c_, H_ / f, W_ / f));
}

std::pair<double, double> ConvVaeTokenizer::train_step(const torch::Tensor& x, int64_t step) {
  if (cfg_.perceptual_weight > 0 && !perceptual_)
    throw InputError("conv_vae: tokenizer.perceptual_weight > 0 needs a perceptual network "
                     "(tokenizer.perceptual_net)");
  auto [mu, logvar] = posterior(x);
  auto z = mu + (0.5 * logvar).exp() * torch::randn_like(mu);
  auto xhat = generate(z);
  auto recon = (xhat - x).pow(2).mean();
  auto loss = recon + cfg_.kl_weight * kl_standard_normal(mu, logvar);
  if (cfg_.perceptual_weight > 0) {
    std::vector<torch::Tensor> real;
    {
      torch::NoGradGuard ng;
      real = perceptual_->layers(x);
    }
    loss = loss + cfg_.perceptual_weight * perceptual_distance(perceptual_->layers(xhat), real);
  }
  const bool adversarial = disc_ && step >= cfg_.adv_start;
  if (adversarial) {
    for (auto& p : disc_->parameters()) p.set_requires_grad(false);
    loss = loss + cfg_.adv_weight * hinge_g_loss(disc_->forward(xhat));
    for (auto& p : disc_->parameters()) p.set_requires_grad(true);
  }
  opt_->zero_grad();
  loss.backward();
  opt_->step();
  if (adversarial) {  // then the discriminator, on the detached reconstruction
    auto d_loss = hinge_d_loss(disc_->forward(x), disc_->forward(xhat.detach()));
    disc_opt_->zero_grad();
    d_loss.backward();
    disc_opt_->step();
  }
  return {loss.item<double>(), recon.item<double>()};
}

}  // namespace ldae
