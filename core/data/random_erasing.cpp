#include "core/data/random_erasing.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

namespace ldae {

void random_erasing_(torch::Tensor& images, double p, std::optional<at::Generator> gen) {
  if (p <= 0) return;
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  constexpr int64_t kTries = 10;
  const auto o = torch::TensorOptions().dtype(torch::kFloat32);
  auto coin = torch::rand({B}, gen, o) < p;                                                  // (B,)
  auto area = (torch::rand({B, kTries}, gen, o) * (1.0 / 3.0 - 0.02) + 0.02) * double(H * W);  // pixels
  const double lo = std::log(0.3), hi = std::log(1.0 / 0.3);
  auto aspect = (torch::rand({B, kTries}, gen, o) * (hi - lo) + lo).exp();
  auto h = (area * aspect).sqrt().round(), w = (area / aspect).sqrt().round();          // (B, tries)
  auto fits = h.lt(double(H)).logical_and(w.lt(double(W)));
  auto first = fits.to(torch::kInt).argmax(1, true);  // the first try that fits (argmax: first maximum)
  auto eh = h.gather(1, first).squeeze(1), ew = w.gather(1, first).squeeze(1);          // (B,)
  auto erase = coin.logical_and(fits.any(1));
  auto top = (torch::rand({B}, gen, o) * (double(H) - eh + 1)).floor();  // randint(0, H - h), inclusive
  auto left = (torch::rand({B}, gen, o) * (double(W) - ew + 1)).floor();
  // One seed per image for its rectangle's noise: the stream stays B draws
  // long, and only erased pixels are drawn (a few percent of the batch).
  auto seeds = torch::randint(std::numeric_limits<int64_t>::max(), {B}, gen, torch::kLong);
  // ImageNet's mean and std (timm's Normalize before erasing), in [0, 1] units.
  auto mean = C == 3 ? torch::tensor({0.485f, 0.456f, 0.406f}).view({3, 1, 1}) : torch::full({C, 1, 1}, 0.449f);
  auto sdev = C == 3 ? torch::tensor({0.229f, 0.224f, 0.225f}).view({3, 1, 1}) : torch::full({C, 1, 1}, 0.226f);
  auto e = erase.accessor<bool, 1>();
  auto sd = seeds.accessor<int64_t, 1>();
  auto t = top.accessor<float, 1>(), l = left.accessor<float, 1>(), hh = eh.accessor<float, 1>(), ww = ew.accessor<float, 1>();
  for (int64_t i = 0; i < B; ++i) {
    if (!e[i]) continue;
    auto own = at::make_generator<at::CPUGeneratorImpl>(uint64_t(sd[i]));
    const auto y0 = int64_t(t[i]), x0 = int64_t(l[i]), eh_i = int64_t(hh[i]), ew_i = int64_t(ww[i]);
    auto noise = torch::randn({C, eh_i, ew_i}, own, o) * sdev + mean;  // (C, h, w)
    images[i].slice(1, y0, y0 + eh_i).slice(2, x0, x0 + ew_i).copy_(noise);
  }
}

torch::Tensor random_erasing(const torch::Tensor& images, double p, std::optional<at::Generator> gen) {
  if (p <= 0) return images;
  auto out = images.clone();
  random_erasing_(out, p, std::move(gen));
  return out;
}

}  // namespace ldae
