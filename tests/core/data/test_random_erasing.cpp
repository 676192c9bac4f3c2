// Random erasing (core/data/random_erasing.hpp): one rectangle of noise per
// erased image, timm's area and aspect bounds, the coin's probability, seeded.
#include <gtest/gtest.h>

#include "core/data/random_erasing.hpp"

namespace ldae {
namespace {

TEST(RandomErasing, OneRectangleOfNoiseInTimmsBounds) {
  const int64_t B = 400, H = 32, W = 32;
  auto x = torch::full({B, 3, H, W}, 0.5f);
  EXPECT_TRUE(torch::equal(random_erasing(x, 0.0), x));
  torch::manual_seed(1);
  auto y = random_erasing(x, 1.0);
  torch::manual_seed(1);
  EXPECT_TRUE(torch::equal(y, random_erasing(x, 1.0)));
  auto changed = (y - x).abs().amax(1).gt(0);  // (B, H, W)
  int64_t erased = 0;
  for (int64_t b = 0; b < B; ++b) {
    auto m = changed[b];
    const int64_t n = m.sum().item<int64_t>();
    if (n == 0) continue;  // ten tries that did not fit (rare at these bounds)
    ++erased;
    auto rows = m.any(1).nonzero(), cols = m.any(0).nonzero();
    const int64_t h = rows.max().item<int64_t>() - rows.min().item<int64_t>() + 1;
    const int64_t w = cols.max().item<int64_t>() - cols.min().item<int64_t>() + 1;
    EXPECT_EQ(n, h * w) << "image " << b << ": the erased pixels fill their box";
    EXPECT_LT(h, H);
    EXPECT_LT(w, W);
    // area in [0.02, 1/3] x 1024 before rounding each side (+-1/2 pixel)
    EXPECT_GE(double(n), 0.02 * 1024 * 0.6);
    EXPECT_LE(double(n), 1024.0 / 3.0 * 1.2);
    const double aspect = double(h) / double(w);
    EXPECT_GT(aspect, 0.3 * 0.6);
    EXPECT_LT(aspect, 1 / 0.3 / 0.6);
  }
  EXPECT_GT(erased, B * 9 / 10);
  // The noise is ImageNet's mean + std N(0, 1) per channel, in [0, 1] units.
  auto red = y.select(1, 0).masked_select(changed);
  EXPECT_NEAR(red.mean().item<double>(), 0.485, 0.01);
  EXPECT_NEAR(red.std().item<double>(), 0.229, 0.01);
}

TEST(RandomErasing, ErasesAboutPOfTheImages) {
  torch::manual_seed(2);
  const int64_t B = 2000;
  auto x = torch::zeros({B, 1, 16, 16});
  auto y = random_erasing(x, 0.25);
  const double frac = (y - x).abs().amax({1, 2, 3}).gt(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(frac, 0.25, 0.04);  // 4 standard deviations: 0.039
}

}  // namespace
}  // namespace ldae
