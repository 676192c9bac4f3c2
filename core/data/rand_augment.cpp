#include "core/data/rand_augment.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/data/pil_ops.hpp"

// at::parallel_for (OpenMP backend) is inlined here: without OpenMP this
// file's loop would run on one thread (CMakeLists.txt: LDAE_OPENMP_SOURCES).
#if AT_PARALLEL_OPENMP && !defined(_OPENMP) && !defined(LDAE_KERNELS_WITHOUT_OPENMP)
#error "core/data/rand_augment.cpp: compile with OpenMP (-fopenmp): at::parallel_for would run on one thread"
#endif

namespace ldae {
namespace {

// timm's img_mean (ImageNet's mean in levels) on RGB; its _FILL on one channel.
std::array<uint8_t, 3> fill_of(int64_t C) {
  return C == 3 ? std::array<uint8_t, 3>{124, 116, 104} : std::array<uint8_t, 3>{128, 128, 128};
}

// One operation on one image at a level in [0, 10] and a sign, through
// timm's level-to-argument functions (auto_augment.py, _LEVEL_DENOM 10).
void apply_one(RaOp op, pil::Image8 im, double level, double sign) {
  const double frac = level / 10.0;
  const auto factor = float(std::max(0.1, 1.0 + sign * frac * 0.9));  // _enhance_increasing_level_to_arg
  const auto fill = fill_of(im.C);
  switch (op) {
    case RaOp::AutoContrast: return pil::auto_contrast(im);
    case RaOp::Equalize: return pil::equalize(im);
    case RaOp::Invert: return pil::invert(im);
    case RaOp::Rotate: return pil::rotate(im, sign * frac * 30.0, fill);
    case RaOp::Posterize: return pil::posterize(im, 4 - int(frac * 4.0));
    case RaOp::Solarize: return pil::solarize(im, 256 - int(frac * 256.0));
    case RaOp::SolarizeAdd: return pil::solarize_add(im, int(frac * 110.0));
    case RaOp::Color: return pil::color(im, factor);
    case RaOp::Contrast: return pil::contrast(im, factor);
    case RaOp::Brightness: return pil::brightness(im, factor);
    case RaOp::Sharpness: return pil::sharpness(im, factor);
    case RaOp::ShearX: return pil::affine(im, {1, sign * frac * 0.3, 0, 0, 1, 0}, fill);
    case RaOp::ShearY: return pil::affine(im, {1, 0, 0, sign * frac * 0.3, 1, 0}, fill);
    case RaOp::TranslateX: return pil::affine(im, {1, 0, sign * frac * 0.45 * double(im.W), 0, 1, 0}, fill);
    case RaOp::TranslateY: return pil::affine(im, {1, 0, 0, 0, 1, sign * frac * 0.45 * double(im.H)}, fill);
  }
}

// Runs fn(i, image) on each image i of x (B, C, H, W), float32, contiguous,
// on the host, as 8-bit levels (v x scale clipped to [0, 255], rounded half
// up), one task per image over the intra-op threads, and writes the levels
// / scale back in place. The conversions are fused into the per-image pass,
// and nothing batch-sized is allocated (fresh pages fault in one at a time,
// serially, in the kernel).
template <class Fn>
void over_images(torch::Tensor& x, float scale, Fn&& fn) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() && x.dim() == 4,
              "RandAugment works on contiguous float32 (B, C, H, W) host tensors");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), n = C * H * W;
  float* data = x.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t lo, int64_t hi) {
    std::vector<uint8_t> px(static_cast<size_t>(n));
    for (int64_t i = lo; i < hi; ++i) {
      float* d = data + i * n;
      for (int64_t j = 0; j < n; ++j) px[size_t(j)] = uint8_t(std::clamp(d[j] * scale, 0.0f, 255.0f) + 0.5f);  // rounded
      fn(i, pil::Image8{px.data(), C, H, W});
      for (int64_t j = 0; j < n; ++j) d[j] = float(px[size_t(j)]) / scale;
    }
  });
}

// A host float32 contiguous copy of x, fn applied in place, on x's device and dtype.
template <class Fn>
torch::Tensor over_copy(const torch::Tensor& x, float scale, Fn&& fn) {
  auto y = x.to(torch::kCPU, torch::kFloat32).clone(torch::MemoryFormat::Contiguous);
  over_images(y, scale, fn);
  return y.to(x.device(), x.scalar_type());
}

}  // namespace

std::string ra_op_name(RaOp op) {
  static const std::array<const char*, kRaOps> names = {
      "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
      "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
      "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"};
  return names[size_t(op)];
}

torch::Tensor ra_apply(RaOp op, const torch::Tensor& x, const torch::Tensor& level, const torch::Tensor& sign) {
  auto lv = level.to(torch::kCPU, torch::kFloat64).contiguous(), sg = sign.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* l = lv.data_ptr<double>();
  const double* s = sg.data_ptr<double>();
  return over_copy(x, 1.0f, [&](int64_t i, pil::Image8 im) { apply_one(op, im, l[i], s[i]); });
}

void rand_augment_(torch::Tensor& images, const RandAugmentSpec& spec, std::optional<at::Generator> gen) {
  if (spec.n <= 0) return;
  const int64_t B = images.size(0), n = spec.n;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  // Every draw for every image, whatever the coin says, round by round (timm
  // per image: the choice, then each op's coin, magnitude and sign).
  std::vector<torch::Tensor> op, apply, level, sign;
  for (int64_t r = 0; r < n; ++r) {
    op.push_back(torch::randint(kRaOps, {B}, gen, torch::kLong));
    apply.push_back(torch::rand({B}, gen, f64) < 0.5);
    level.push_back((spec.m + spec.mstd * torch::randn({B}, gen, f64)).clamp(0.0, 10.0));
    sign.push_back(torch::where(torch::rand({B}, gen, f64) > 0.5, -1.0, 1.0).to(torch::kFloat64));
  }
  auto ops = torch::stack(op), on = torch::stack(apply), lv = torch::stack(level), sg = torch::stack(sign);  // (n, B)
  auto o = ops.accessor<int64_t, 2>();
  auto a = on.accessor<bool, 2>();
  auto l = lv.accessor<double, 2>(), s = sg.accessor<double, 2>();
  // 8-bit levels, as PIL's; each image's rounds in order.
  over_images(images, 255.0f, [&](int64_t i, pil::Image8 im) {
    for (int64_t r = 0; r < n; ++r)
      if (a[r][i]) apply_one(RaOp(o[r][i]), im, l[r][i], s[r][i]);
  });
}

torch::Tensor rand_augment(const torch::Tensor& images, const RandAugmentSpec& spec, std::optional<at::Generator> gen) {
  if (spec.n <= 0) return images;
  auto y = images.to(torch::kCPU, torch::kFloat32).clone(torch::MemoryFormat::Contiguous);
  rand_augment_(y, spec, std::move(gen));
  return y.to(images.device(), images.scalar_type());
}

}  // namespace ldae
