#include "core/data/augment.hpp"

#include <cmath>

namespace ldae {

torch::Tensor random_resized_crop_flip(const torch::Tensor& images, double scale_lo, double scale_hi) {
  const int64_t B = images.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  auto area = torch::rand({B}, opts) * (scale_hi - scale_lo) + scale_lo;
  auto log_ratio = (torch::rand({B}, opts) * 2 - 1) * std::log(4.0 / 3.0);
  auto ratio = log_ratio.exp();
  // Crop width and height as fractions of the image (clipped to fit).
  auto w = (area * ratio).sqrt().clamp_max(1.0), h = (area / ratio).sqrt().clamp_max(1.0);
  // Centres in normalised [-1, 1] coordinates so the crop stays inside.
  auto cx = (torch::rand({B}, opts) * 2 - 1) * (1 - w), cy = (torch::rand({B}, opts) * 2 - 1) * (1 - h);
  auto flip = torch::where(torch::rand({B}, opts) < 0.5, torch::full({B}, -1.0f), torch::full({B}, 1.0f));
  auto zero = torch::zeros({B}, opts);
  // theta maps output coordinates to input ones: x_in = w flip x_out + cx.
  auto theta = torch::stack({torch::stack({w * flip, zero, cx}, 1), torch::stack({zero, h, cy}, 1)}, 1);
  auto grid = torch::nn::functional::affine_grid(theta.to(images.device()), images.sizes(), false);
  return torch::nn::functional::grid_sample(
      images, grid,
      torch::nn::functional::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

ViewSpec moco_view(int which) {
  ViewSpec v;
  v.blur_p = which == 1 ? 1.0 : 0.1;
  v.solarize_p = which == 1 ? 0.0 : 0.2;
  return v;
}

ViewSpec dino_view(int which, bool local) {
  ViewSpec v = moco_view(which);
  v.scale_lo = local ? 0.05 : 0.4;
  v.scale_hi = local ? 0.4 : 1.0;
  if (local) v.blur_p = 0.5, v.solarize_p = 0.0;
  return v;
}

namespace {

// Per-image Gaussian blur with standard deviations sigma (B,) in pixels,
// a separable kernel of 2 ceil(3 max sigma) + 1 taps, reflect padding.
torch::Tensor gaussian_blur(const torch::Tensor& x, const torch::Tensor& sigma) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t r = std::max<int64_t>(1, int64_t(std::ceil(3 * sigma.max().item<double>())));
  auto taps = torch::arange(-r, r + 1, x.options()).unsqueeze(0);                  // (1, k)
  auto k = (-(taps * taps) / (2 * sigma.unsqueeze(1).pow(2))).exp();              // (B, k)
  k = (k / k.sum(1, true)).repeat_interleave(C, 0);                                // (B C, k)
  namespace F = torch::nn::functional;
  auto y = F::pad(x.reshape({1, B * C, H, W}), F::PadFuncOptions({r, r, r, r}).mode(torch::kReflect));
  y = F::conv2d(y, k.view({B * C, 1, 1, 2 * r + 1}), F::Conv2dFuncOptions().groups(B * C));
  y = F::conv2d(y, k.view({B * C, 1, 2 * r + 1, 1}), F::Conv2dFuncOptions().groups(B * C));
  return y.view({B, C, H, W});
}

}  // namespace

torch::Tensor augment_view(const torch::Tensor& images, const ViewSpec& v, bool normalized) {
  const int64_t B = images.size(0);
  auto opts = images.options();
  auto per_image = [&](const torch::Tensor& t) { return t.view({B, 1, 1, 1}); };
  auto coin = [&](double p) { return per_image((torch::rand({B}, opts) < p).to(images.dtype())); };
  auto x = random_resized_crop_flip(images, v.scale_lo, v.scale_hi);
  if (normalized) x = (x + 1) * 0.5;  // [0, 1] units below
  // Every draw happens whatever the coins say: the stream stays fixed.
  auto jitter = coin(v.jitter_p);
  auto b = per_image(1 + (torch::rand({B}, opts) * 2 - 1) * v.brightness);
  auto c = per_image(1 + (torch::rand({B}, opts) * 2 - 1) * v.contrast);
  auto jittered = (x * b).clamp(0, 1);
  auto mean = jittered.mean({1, 2, 3}, true);
  jittered = ((jittered - mean) * c + mean).clamp(0, 1);
  x = jitter * jittered + (1 - jitter) * x;
  if (v.blur_p > 0) {
    auto blur = coin(v.blur_p);
    const double px = double(images.size(2)) / 224.0;  // sigma in 224-px units, scaled to our side
    auto sigma = (torch::rand({B}, opts) * 1.9 + 0.1) * px;
    x = blur * gaussian_blur(x, sigma) + (1 - blur) * x;
  }
  if (v.solarize_p > 0) {
    auto sol = coin(v.solarize_p);
    x = sol * torch::where(x >= 0.5, 1 - x, x) + (1 - sol) * x;
  }
  return normalized ? x * 2 - 1 : x;
}

}  // namespace ldae
