#include "tokenizers/tokenizer.hpp"
#include "core/base/stop.hpp"

#include <fmt/core.h>

#include "core/base/errors.hpp"
#include "core/records/h5.hpp"

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

void Tokenizer::to(torch::Device device) {
  if (mean_.defined()) mean_ = mean_.to(device);
  if (basis_.defined()) basis_ = basis_.to(device);
}

std::vector<std::pair<std::string, torch::Tensor>> Tokenizer::export_tensors() const {
  if (!is_linear()) return {};
  return {{"mean", mean_}, {"V", V()}};
}

torch::Tensor Tokenizer::to_patch_space(const torch::Tensor& images) const {
  return (patchify(images, patch_) - mean_) / scale_;
}

torch::Tensor Tokenizer::from_patch_space(const torch::Tensor& patches, int C, int H,
                                          int W) const {
  return unpatchify(patches * scale_ + mean_, patch_, C, H, W);
}

double Tokenizer::reconstruction_mse(const torch::Tensor& images) const {
  return reconstruction_mse(image_batches(images));
}

double Tokenizer::reconstruction_mse(const ImageBatches& images, int64_t B) const {
  torch::NoGradGuard ng;
  double total = 0;
  for (int64_t i = 0; i < images.n; i += B) {
    check_stop("the tokenizer's reconstruction check");
    auto x = images.rows(i, std::min(i + B, images.n));
    total += (decode(encode(x)) - x).pow(2).sum().item<double>();
  }
  return total / (double(images.n) * images.c * images.h * images.w);
}

void Tokenizer::write_header(H5File& f) const {
  f.set_attr("tokenizer", name());
  f.set_attr("patch", int64_t(patch_));
  f.set_attr("d", int64_t(d_));
  f.set_attr("scale", scale_);
  f.set_attr("image_c", int64_t(C_));
  f.set_attr("image_h", int64_t(H_));
  f.set_attr("image_w", int64_t(W_));
}

void Tokenizer::read_header(const H5File& f) {
  if (f.attr_str("tokenizer") != name() || f.attr_i64("patch") != patch_ || f.attr_i64("d") != d_)
    throw InputError(fmt::format("{}: holds a {} tokenizer (patch {}, d {}), expected {} (patch "
                                 "{}, d {}); delete the file to refit",
                                 f.path(), f.attr_str("tokenizer"), f.attr_i64("patch"),
                                 f.attr_i64("d"), name(), patch_, d_));
  scale_ = f.attr_f64("scale");
  C_ = int(f.attr_i64("image_c")), H_ = int(f.attr_i64("image_h")), W_ = int(f.attr_i64("image_w"));
}

}  // namespace ldae
