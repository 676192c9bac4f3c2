#include "tokenizers/tokenizer.hpp"

namespace ldae {

torch::Tensor patchify(const torch::Tensor& x, int p) {
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  return x.reshape({B, C, H / p, p, W / p, p})
      .permute({0, 2, 4, 1, 3, 5})              // (B, h, w, C, p, p)
      .reshape({B, (H / p) * (W / p), C * p * p});
}

torch::Tensor unpatchify(const torch::Tensor& t, int p, int C, int H, int W) {
  const auto B = t.size(0);
  return t.reshape({B, H / p, W / p, C, p, p})
      .permute({0, 3, 1, 4, 2, 5})              // (B, C, h, p, w, p)
      .reshape({B, C, H, W});
}

torch::Tensor Tokenizer::to_patch_space(const torch::Tensor& images) const {
  return (patchify(images, patch_) - mean_) / scale_;
}

torch::Tensor Tokenizer::from_patch_space(const torch::Tensor& patches, int C, int H,
                                          int W) const {
  return unpatchify(patches * scale_ + mean_, patch_, C, H, W);
}

double Tokenizer::reconstruction_mse(const torch::Tensor& images) const {
  torch::NoGradGuard ng;
  double total = 0;
  const int64_t B = 1024;
  for (int64_t i = 0; i < images.size(0); i += B) {
    auto x = images.slice(0, i, std::min(i + B, images.size(0)));
    total += (decode(encode(x)) - x).pow(2).sum().item<double>();
  }
  return total / double(images.numel());
}

}  // namespace ldae
