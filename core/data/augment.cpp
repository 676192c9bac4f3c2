#include "core/data/augment.hpp"

#include <array>
#include <cmath>
#include <vector>

namespace ldae {

torch::Tensor random_resized_crop_flip(const torch::Tensor& images, double scale_lo, double scale_hi,
                                       int64_t out_side, std::optional<at::Generator> gen) {
  const int64_t B = images.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  auto area = torch::rand({B}, gen, opts) * (scale_hi - scale_lo) + scale_lo;
  auto log_ratio = (torch::rand({B}, gen, opts) * 2 - 1) * std::log(4.0 / 3.0);
  auto ratio = log_ratio.exp();
  // Crop width and height as fractions of the image (clipped to fit).
  auto w = (area * ratio).sqrt().clamp_max(1.0), h = (area / ratio).sqrt().clamp_max(1.0);
  // Centres in normalised [-1, 1] coordinates so the crop stays inside.
  auto cx = (torch::rand({B}, gen, opts) * 2 - 1) * (1 - w), cy = (torch::rand({B}, gen, opts) * 2 - 1) * (1 - h);
  auto flip = torch::where(torch::rand({B}, gen, opts) < 0.5, torch::full({B}, -1.0f), torch::full({B}, 1.0f));
  auto zero = torch::zeros({B}, opts);
  // theta maps output coordinates to input ones: x_in = w flip x_out + cx.
  auto theta = torch::stack({torch::stack({w * flip, zero, cx}, 1), torch::stack({zero, h, cy}, 1)}, 1);
  std::vector<int64_t> out(images.sizes().begin(), images.sizes().end());
  if (out_side > 0) out[2] = out[3] = out_side;
  auto grid = torch::nn::functional::affine_grid(theta.to(images.device()), out, false);
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

// RGB (B, 3, H, W) in [0, 1] -> hue, saturation, value (B, H, W) each, hue
// in [0, 1) turns (torchvision's _rgb2hsv).
std::array<torch::Tensor, 3> rgb_to_hsv(const torch::Tensor& x) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto maxc = torch::max(torch::max(r, g), b), minc = torch::min(torch::min(r, g), b);
  auto grey = maxc == minc, cr = maxc - minc, ones = torch::ones_like(maxc);
  auto s = cr / torch::where(grey, ones, maxc);
  auto div = torch::where(grey, ones, cr);
  auto rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
  auto is_r = maxc == r, is_g = (maxc == g).logical_and(is_r.logical_not());
  auto is_b = is_r.logical_not().logical_and((maxc == g).logical_not());
  auto h = is_r * (bc - gc) + is_g * (2.0 + rc - bc) + is_b * (4.0 + gc - rc);
  return {torch::fmod(h / 6.0 + 1.0, 1.0), s, maxc};
}

// Hue, saturation, value (B, H, W) -> RGB (B, 3, H, W) (torchvision's _hsv2rgb).
torch::Tensor hsv_to_rgb(const torch::Tensor& h, const torch::Tensor& s, const torch::Tensor& v) {
  auto i = torch::floor(h * 6.0), f = h * 6.0 - i;
  auto sector = torch::remainder(i, 6.0);
  auto p = (v * (1.0 - s)).clamp(0, 1), q = (v * (1.0 - s * f)).clamp(0, 1), t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1);
  // Channel values per sector 0..5: r (v q p p t v), g (t v v q p p), b (p p t v v q).
  auto pick = [&](const std::array<torch::Tensor, 6>& by_sector) {
    auto out = by_sector[5];
    for (int k = 4; k >= 0; --k) out = torch::where(sector == double(k), by_sector[size_t(k)], out);
    return out;
  };
  return torch::stack({pick({v, q, p, p, t, v}), pick({t, v, v, q, p, p}), pick({p, p, t, v, v, q})}, 1);
}

}  // namespace

torch::Tensor grayscale(const torch::Tensor& x) {
  if (x.size(1) != 3) return x;
  auto l = 0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2);
  return l.unsqueeze(1).expand_as(x).contiguous();
}

torch::Tensor adjust_saturation(const torch::Tensor& x, const torch::Tensor& factor) {
  if (x.size(1) != 3) return x;
  auto f = factor.view({-1, 1, 1, 1});
  return (f * x + (1 - f) * grayscale(x)).clamp(0, 1);
}

torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& shift) {
  if (x.size(1) != 3) return x;
  auto [h, s, v] = rgb_to_hsv(x);
  return hsv_to_rgb(torch::remainder(h + shift.view({-1, 1, 1}), 1.0), s, v);
}

torch::Tensor adjust_contrast(const torch::Tensor& x, const torch::Tensor& factor) {
  // The blend's grey level: the mean luma on RGB, the mean on one channel.
  auto mean = (x.size(1) == 3 ? grayscale(x) : x).mean({1, 2, 3}, true);
  const auto f = factor.view({-1, 1, 1, 1});
  return ((x - mean) * f + mean).clamp(0, 1);
}

torch::Tensor color_jitter(const torch::Tensor& x, const torch::Tensor& b, const torch::Tensor& c,
                           const torch::Tensor& sat, const torch::Tensor& hue, bool random_order) {
  auto op = [&](int j, const torch::Tensor& y) -> torch::Tensor {
    switch (j) {
      case 0: return (y * b).clamp(0, 1);
      case 1: return adjust_contrast(y, c);
      case 2: return sat.defined() ? adjust_saturation(y, sat) : y;
      default: return hue.defined() ? adjust_hue(y, hue) : y;
    }
  };
  torch::Tensor out = x;
  if (!random_order) {
    for (int j = 0; j < 4; ++j) out = op(j, out);
    return out;
  }
  const int64_t B = x.size(0);
  // Stage k applies each image's k-th operation; every operation is computed
  // for the whole batch and selected per image (no host synchronisation).
  const auto order = torch::rand({B, 4}, x.options().dtype(torch::kFloat32)).argsort(/*dim=*/1, /*descending=*/false);
  for (int k = 0; k < 4; ++k) {
    const auto which = order.select(1, k).view({B, 1, 1, 1});
    torch::Tensor next = out;
    for (int j = 0; j < 4; ++j) {
      if ((j == 2 && !sat.defined()) || (j == 3 && !hue.defined())) continue;  // identity
      next = torch::where(which == j, op(j, out), next);
    }
    out = next;
  }
  return out;
}

torch::Tensor augment_view(const torch::Tensor& images, const ViewSpec& v, bool normalized) {
  return augment_cropped_view(random_resized_crop_flip(images, v.scale_lo, v.scale_hi, v.out_side), v, normalized,
                              images.size(2));
}

torch::Tensor augment_cropped_view(const torch::Tensor& crops, const ViewSpec& v, bool normalized,
                                   int64_t source_side) {
  const int64_t B = crops.size(0);
  auto opts = crops.options();
  auto per_image = [&](const torch::Tensor& t) { return t.view({B, 1, 1, 1}); };
  auto coin = [&](double p) { return per_image((torch::rand({B}, opts) < p).to(crops.dtype())); };
  auto x = crops;
  if (normalized) x = (x + 1) * 0.5;  // [0, 1] units below
  // Every draw happens whatever the coins say: the stream stays fixed.
  auto jitter = coin(v.jitter_p);
  auto b = per_image(1 + (torch::rand({B}, opts) * 2 - 1) * v.brightness);
  auto c = per_image(1 + (torch::rand({B}, opts) * 2 - 1) * v.contrast);
  // Drawn only when on, so the views of recorded runs keep their stream.
  torch::Tensor sat, hue;
  if (v.saturation > 0) sat = 1 + (torch::rand({B}, opts) * 2 - 1) * v.saturation;
  if (v.hue > 0) hue = (torch::rand({B}, opts) * 2 - 1) * v.hue;
  x = jitter * color_jitter(x, b, c, sat, hue, v.random_order) + (1 - jitter) * x;
  if (v.grayscale_p > 0) {
    auto grey = coin(v.grayscale_p);
    x = grey * grayscale(x) + (1 - grey) * x;
  }
  if (v.blur_p > 0) {
    auto blur = coin(v.blur_p);
    // sigma in 224-px units, scaled to the input's side (a local crop's blur
    // keeps its global view's scale: 112 / 96 here against 256 / 224)
    const double px = double(source_side) / 224.0;
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
