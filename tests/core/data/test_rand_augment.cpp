// RandAugment's operations (core/data/rand_augment.hpp) against hand values
// worked from timm's level functions and PIL's ImageOps / ImageEnhance /
// Image.transform, Equalize against a loop over PIL's algorithm, and the
// whole transform's draws (the coin's 1/2, seeded, on the 8-bit grid).
#include <gtest/gtest.h>

#include <vector>

#include "core/data/rand_augment.hpp"
#include "core/records/h5.hpp"

namespace ldae {
namespace {

torch::Tensor levels(std::vector<float> v, int64_t C, int64_t H, int64_t W) {
  return torch::tensor(v).view({1, C, H, W});
}
torch::Tensor one(double v) { return torch::tensor({float(v)}); }

std::vector<float> as_vec(const torch::Tensor& t) {
  auto c = t.contiguous().to(torch::kFloat32);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

const std::vector<float> kRow = {0, 100, 127, 128, 200, 255};

TEST(RandAugment, PointOperationsByHand) {
  auto x = levels(kRow, 1, 1, 6);
  EXPECT_EQ(as_vec(ra_apply(RaOp::Invert, x, one(0), one(1))), (std::vector<float>{255, 155, 128, 127, 55, 0}));
  // level 5: keep 4 - int(2.0) = 2 bits (multiples of 64); level 10 keeps none
  EXPECT_EQ(as_vec(ra_apply(RaOp::Posterize, x, one(5), one(1))), (std::vector<float>{0, 64, 64, 128, 192, 192}));
  EXPECT_EQ(as_vec(ra_apply(RaOp::Posterize, x, one(10), one(1))), (std::vector<float>(6, 0)));
  // level 5: invert at and above 256 - 128 = 128; level 0 inverts nothing
  EXPECT_EQ(as_vec(ra_apply(RaOp::Solarize, x, one(5), one(1))), (std::vector<float>{0, 100, 127, 127, 55, 0}));
  EXPECT_EQ(as_vec(ra_apply(RaOp::Solarize, x, one(0), one(1))), kRow);
  // level 5: + int(55.0) below 128; level 10: + 110, clipped at 255
  EXPECT_EQ(as_vec(ra_apply(RaOp::SolarizeAdd, x, one(5), one(1))), (std::vector<float>{55, 155, 182, 128, 200, 255}));
  EXPECT_EQ(as_vec(ra_apply(RaOp::SolarizeAdd, x, one(10), one(1))), (std::vector<float>{110, 210, 237, 128, 200, 255}));
  // Brightness at level 5, negated: factor 1 - 0.45 = 0.55, truncated
  EXPECT_EQ(as_vec(ra_apply(RaOp::Brightness, x, one(5), one(-1))), (std::vector<float>{0, 55, 69, 70, 110, 140}));
  // the factor never falls below 0.1 (level 10 negated: 1 - 0.9 = 0.1)
  EXPECT_EQ(as_vec(ra_apply(RaOp::Brightness, x, one(10), one(-1))), (std::vector<float>{0, 10, 12, 12, 20, 25}));
}

TEST(RandAugment, ContrastColourAndAutoContrastByHand) {
  // Contrast: the flat grey is int(mean + 0.5) = 100; factor 1.45 at level 5
  auto g = levels({0, 100, 200, 100}, 1, 2, 2);
  EXPECT_EQ(as_vec(ra_apply(RaOp::Contrast, g, one(5), one(1))), (std::vector<float>{0, 100, 245, 100}));
  // Colour: (255, 0, 0) has luma round(76.245) = 76; factor 0.1 pulls it there;
  // a grey pixel stays; one channel has nothing to desaturate
  // pixels (255, 0, 0) and (90, 90, 90), stored channel by channel
  auto rgb = torch::tensor({255.f, 90.f, 0.f, 90.f, 0.f, 90.f}).view({1, 3, 1, 2});
  auto c = as_vec(ra_apply(RaOp::Color, rgb, one(10), one(-1)));
  EXPECT_EQ(c, (std::vector<float>{93, 90, 68, 90, 68, 90}));  // trunc(76 + 0.1 x 179), trunc(76 - 7.6)
  EXPECT_TRUE(torch::equal(ra_apply(RaOp::Color, g, one(10), one(-1)), g));
  // AutoContrast: 0..102 stretched by 2.5 (51 -> int(127.5) = 127); a flat
  // channel stays
  auto a = torch::tensor({0.f, 51.f, 102.f, 7.f, 7.f, 7.f}).view({1, 2, 1, 3});
  EXPECT_EQ(as_vec(ra_apply(RaOp::AutoContrast, a, one(0), one(1))), (std::vector<float>{0, 127, 255, 7, 7, 7}));
}

TEST(RandAugment, SharpnessBlendsWithPilsSmoothFilter) {
  auto x = torch::zeros({1, 1, 5, 5});
  x[0][0][2][2] = 255;
  // factor 0.1 (level 10 negated). Smoothed: centre round(255 x 5 / 13) = 98,
  // its neighbours round(255 / 13) = 20; the border keeps its levels.
  auto y = ra_apply(RaOp::Sharpness, x, one(10), one(-1));
  EXPECT_EQ(y[0][0][2][2].item<float>(), 113.f);  // trunc(98 + 0.1 (255 - 98))
  EXPECT_EQ(y[0][0][1][2].item<float>(), 18.f);   // trunc(20 - 0.1 x 20)
  EXPECT_EQ(y[0][0][0][0].item<float>(), 0.f);
  auto flat = torch::full({1, 3, 4, 4}, 77.f);
  EXPECT_TRUE(torch::equal(ra_apply(RaOp::Sharpness, flat, one(7), one(1)), flat));
}

// PIL's ImageOps.equalize, one channel of 8-bit levels, as loops.
std::vector<float> equalize_reference(const std::vector<float>& px) {
  std::vector<int64_t> h(256, 0);
  for (float v : px) ++h[size_t(v)];
  int64_t total = 0, last = 0;
  for (int i = 0; i < 256; ++i) total += h[size_t(i)], last = h[size_t(i)] ? h[size_t(i)] : last;
  const int64_t step = (total - last) / 255;
  std::vector<int64_t> lut(256);
  for (int i = 0, n = int(step / 2); i < 256; n += int(h[size_t(i)]), ++i)
    lut[size_t(i)] = step ? std::min<int64_t>(255, n / step) : i;
  std::vector<float> out;
  for (float v : px) out.push_back(float(lut[size_t(v)]));
  return out;
}

TEST(RandAugment, EqualizeIsPilsPerChannel) {
  torch::manual_seed(3);
  // skewed levels (most of them dark) over 2 images x 3 channels of 32 x 32
  auto x = (torch::rand({2, 3, 32, 32}).pow(3) * 255).round();
  auto y = ra_apply(RaOp::Equalize, x, one(0).expand({2}), one(1).expand({2}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      EXPECT_EQ(as_vec(y[b][c]), equalize_reference(as_vec(x[b][c]))) << "image " << b << " channel " << c;
  // few pixels: step 0 leaves the channel as it is
  auto tiny = levels({0, 0, 1, 2}, 1, 2, 2);
  EXPECT_TRUE(torch::equal(ra_apply(RaOp::Equalize, tiny, one(0), one(1)), tiny));
}

TEST(RandAugment, GeometryIsPilsAffine) {
  torch::manual_seed(4);
  auto x = (torch::rand({1, 3, 20, 20}) * 255).round();
  // TranslateXRel at level 10: 0.45 x 20 = 9 pixels; output x reads input x + 9
  // and the uncovered columns take ImageNet's mean levels
  auto t = ra_apply(RaOp::TranslateX, x, one(10), one(1));
  EXPECT_TRUE(torch::equal(t.slice(3, 0, 11), x.slice(3, 9, 20)));
  EXPECT_EQ(as_vec(t.select(3, 15).select(2, 4)), (std::vector<float>{124, 116, 104}));
  auto ty = ra_apply(RaOp::TranslateY, x, one(10), one(-1));  // reads y - 9
  EXPECT_TRUE(torch::equal(ty.slice(2, 9, 20), x.slice(2, 0, 11)));
  // Rotate: counter-clockwise (level 30 is 90 degrees, past timm's range, to
  // land on the pixel grid): torch.rot90 over (H, W)
  auto r = ra_apply(RaOp::Rotate, x, one(30), one(1));
  EXPECT_TRUE(torch::equal(r, torch::rot90(x, 1, {2, 3})));
  // Shear at level 0 is the identity; one channel fills with 128
  EXPECT_TRUE(torch::equal(ra_apply(RaOp::ShearX, x, one(0), one(1)), x));
  auto g = torch::full({1, 1, 8, 8}, 10.f);
  EXPECT_EQ(ra_apply(RaOp::TranslateX, g, one(10), one(1))[0][0][0][7].item<float>(), 128.f);
  // ShearX reads x + f y about the top-left corner (pixel centres: y = row
  // + 1/2). f = 2/7 (level 9.52) moves row 3 (y = 3.5) by one pixel, to
  // round-off (PIL truncates: 99.9999 is 99, so within a level).
  const double lv = 2.0 / 7.0 / 0.3 * 10.0;
  auto sx = ra_apply(RaOp::ShearX, x, one(lv), one(1));
  EXPECT_LE((sx.select(2, 3).slice(2, 0, 19) - x.select(2, 3).slice(2, 1, 20)).abs().max().item<float>(), 1.f);
  auto sy = ra_apply(RaOp::ShearY, x, one(lv), one(-1));  // column 3 reads y - 1
  EXPECT_LE((sy.select(3, 3).slice(2, 1, 20) - x.select(3, 3).slice(2, 0, 19)).abs().max().item<float>(), 1.f);
}

TEST(RandAugment, DrawsAreSeededOnTheGridWithTheCoinsHalf) {
  torch::manual_seed(5);
  const int64_t B = 600;
  auto x = torch::rand({B, 3, 8, 8});
  // every channel spans 0..255, so AutoContrast is the identity here
  x.select(2, 0).select(2, 0).fill_(0.0), x.select(2, 0).select(2, 1).fill_(1.0);
  x = (x * 255).round() / 255;
  RandAugmentSpec spec;
  EXPECT_TRUE(torch::equal(rand_augment(x, {0, 9, 0.5}), x));
  torch::manual_seed(6);
  auto a = rand_augment(x, spec);
  torch::manual_seed(6);
  auto b = rand_augment(x, spec);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_GE(a.min().item<float>(), 0.f);
  EXPECT_LE(a.max().item<float>(), 1.f);
  EXPECT_TRUE(torch::equal((a * 255).round() / 255, a));
  // An image is left as it was when neither round applies its operation
  // (1/2 each) or applies AutoContrast (1/15): (1/2 + 1/30)^2 = 0.284; 4
  // standard deviations at B = 600 are 0.074.
  auto same = (a - x).abs().amax({1, 2, 3}).eq(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(same, 0.284, 0.074);
}

// timm's operations on PIL images (pil_rand_augment.py wrote the file):
// every level equal.
TEST(RandAugment, MatchesTimmAndPil) {
  H5File f(std::string(LDAE_SOURCE_DIR) + "/tests/core/data/pil_rand_augment.h5", H5File::Mode::Read);
  std::vector<uint64_t> s, so;
  auto in = f.read_u8("input", &s);
  auto out = f.read_u8("output", &so);
  auto ops = f.read_i64("op");
  auto lv = f.read_f64("level"), sg = f.read_f64("sign");
  auto to_t = [](const uint8_t* p, std::vector<int64_t> shape) {
    return torch::from_blob(const_cast<uint8_t*>(p), shape, torch::kUInt8).to(torch::kFloat32);
  };
  const std::vector<int64_t> img = {int64_t(s[0]), int64_t(s[1]), int64_t(s[2]), int64_t(s[3])};
  const int64_t per_case = img[0] * img[1] * img[2] * img[3];
  auto x = to_t(in.data(), img);
  ASSERT_EQ(int64_t(so[0]), int64_t(ops.size()));
  for (size_t k = 0; k < ops.size(); ++k) {
    const auto op = RaOp(ops[k]);
    auto want = to_t(out.data() + int64_t(k) * per_case, img);
    auto got = ra_apply(op, x, torch::full({img[0]}, lv[k]), torch::full({img[0]}, sg[k]));
    const std::string what = ra_op_name(op) + " at level " + std::to_string(lv[k]) + " sign " + std::to_string(sg[k]);
    EXPECT_TRUE(torch::equal(got, want)) << what << ": " << (got - want).abs().gt(0).sum().item<int64_t>()
                                         << " levels differ, by at most " << (got - want).abs().max().item<float>();
  }
}

}  // namespace
}  // namespace ldae
