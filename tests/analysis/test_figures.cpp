// The pictures: latent noise lies in the tokenizer's span and pixel noise
// does not (on tensors and read back from the PNG), PNG size and content,
// the font, filters and denoising panels.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "analysis/canvas.hpp"
#include "analysis/figures.hpp"
#include "backbones/dit.hpp"
#include "tokenizers/linear.hpp"
#include "tokenizers/patch_ae.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {

// Smooth random images (N, 1, 16, 16) in [-1, 1]: PCA has structure to find.
torch::Tensor smooth_images(int64_t n) {
  torch::manual_seed(3);
  auto x = torch::randn({n, 1, 4, 4});
  x = torch::nn::functional::interpolate(
      x, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{16, 16})
             .mode(torch::kBilinear).align_corners(false));
  return torch::tanh(x);
}

PatchPcaTokenizer fitted_pca(int d) {
  TokenizerConfig c;
  c.patch = 4;
  c.d = d;
  c.fit_patches = 5000;
  PatchPcaTokenizer tok(c, 1);
  tok.fit(smooth_images(256), 0);
  return tok;
}

TEST(Figures, LatentNoiseLiesInTheTokenizerSpan) {
  auto tok = fitted_pca(6);  // D = 16
  auto x = smooth_images(8);
  auto p = noise_panels(tok, x, std::sqrt(1.0 / 3.0), 0);
  const double latent = outside_subspace_fraction(p.latent_noise, tok.filters(), 4);
  const double pixel = outside_subspace_fraction(p.pixel_noise, tok.filters(), 4);
  EXPECT_LT(latent, 1e-8);
  EXPECT_NEAR(pixel, 10.0 / 16.0, 0.06);  // white noise: (D - d) / D of its energy
  // Same seed, same noise; the noisy images are the clean ones plus the patterns.
  EXPECT_TRUE(torch::equal(p.pixel_noise, noise_panels(tok, x, std::sqrt(1.0 / 3.0), 0).pixel_noise));
  EXPECT_TRUE(torch::allclose(p.pixel_noisy - p.clean, p.pixel_noise, 1e-5, 1e-6));
  // Latent noise at the same sigma carries less energy: d of D directions.
  EXPECT_LT(p.latent_noise.pow(2).mean().item<double>(), p.pixel_noise.pow(2).mean().item<double>());
}

TEST(Figures, NoiseFigurePngHasTheLayoutAndTheSubspaceProperty) {
  auto tok = fitted_pca(6);
  auto x = smooth_images(3);
  const std::vector<double> sigmas = {0.1, 0.5, 1.0};
  Canvas c = noise_figure(tok, x, std::sqrt(1.0 / 3.0), sigmas, 0, {"Title", "subtitle"}, -1, 1);
  const auto path = (fs::temp_directory_path() / fmt::format("noise-{}.png", getpid())).string();
  c.save_png(path);
  auto png = read_png(path);  // (H, W, 3)
  fs::remove(path);
  ASSERT_EQ(png.size(0), c.height());
  ASSERT_EQ(png.size(1), c.width());
  // 16-pixel images at scale 6: 96-pixel panels, 6 columns after the labels.
  EXPECT_EQ(c.width(), 10 + 64 + 6 * (96 + 8) + 10);
  EXPECT_GT(png.to(torch::kFloat32).std().item<float>(), 20.0f);  // not blank
  // The latent-noise panel of image 2, read back from the PNG and undone
  // (the pattern maps [-m, m] to [0, 255]): still in the span, up to 8-bit
  // rounding; pixel noise is not.
  const PanelBox b = noise_figure_latent_pattern_box(x, 1);
  auto panel = png.slice(0, b.y, b.y + 16 * b.scale).slice(1, b.x, b.x + 16 * b.scale)
                   .select(2, 0).to(torch::kFloat64);
  auto pattern = (panel.slice(0, 0, c.height(), b.scale).slice(1, 0, c.width(), b.scale) - 127.5)
                     .reshape({1, 1, 16, 16});
  const double latent = outside_subspace_fraction(pattern, tok.filters(), 4);
  EXPECT_LT(latent, 0.01);
  auto pixel_panel = png.slice(0, b.y, b.y + 16 * b.scale)
                         .slice(1, b.x - (96 + 8), b.x - (96 + 8) + 16 * b.scale)
                         .select(2, 0).to(torch::kFloat64);
  auto pixel = (pixel_panel.slice(0, 0, 96, b.scale).slice(1, 0, 96, b.scale) - 127.5)
                   .reshape({1, 1, 16, 16});
  EXPECT_GT(outside_subspace_fraction(pixel, tok.filters(), 4), 0.3);
}

TEST(Figures, FontDrawsEveryCharacterAndUnknownsAsQuestionMarks) {
  Canvas c(200, 20);
  const int w = c.text("sigma=0.58 (t) AE_1%", 0, 0);
  EXPECT_EQ(w, Canvas::text_width("sigma=0.58 (t) AE_1%"));
  int ink = 0;
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < w; ++x) ink += c.at(x, y)[0] == 0;
  EXPECT_GT(ink, 60);
  Canvas a(6, 7), b(6, 7);
  a.text("~", 0, 0);
  b.text("?", 0, 0);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 6; ++x) EXPECT_EQ(a.at(x, y), b.at(x, y));
}

TEST(Figures, FiltersOfPcaAndAutoencoder) {
  auto pca = fitted_pca(6);
  ASSERT_EQ(pca.filters().sizes(), (std::vector<int64_t>{6, 16}));
  Canvas c = filters_figure(pca.filters(), 1, 4, 4, {"Filters", "pca"});
  EXPECT_EQ(c.width(), std::max(2 * 10 + 4 * (48 + 8), 2 * 10 + Canvas::text_width("Filters", 2)));
  TokenizerConfig tc;
  tc.name = "patch_ae";
  tc.patch = 4;
  tc.d = 3;
  tc.steps = 5;
  tc.batch = 8;
  PatchAeTokenizer ae(tc, 1);
  ae.fit(smooth_images(32), 0);
  EXPECT_EQ(ae.filters().sizes(), (std::vector<int64_t>{3, 16}));
}

TEST(Figures, DenoisePanelsHaveOneNoisyAndOnePredictedImagePerStep) {
  auto tok = fitted_pca(6);
  RunConfig cfg;
  cfg.objective.target = "eps";
  cfg.noise.schedule = "linear_gamma2";
  BackboneOptions o;
  o.in_dim = 6;
  o.out_dim = 6;
  o.grid_h = o.grid_w = 4;
  o.depth = 2;
  o.width = 32;
  o.heads = 2;
  o.split = 1;
  Backbone model = make_backbone("dit", o);
  auto x = smooth_images(2);
  auto p = denoise_panels(cfg, model, tok, x, {10, 500}, 0);
  EXPECT_EQ(p.noisy.sizes(), (std::vector<int64_t>{2, 2, 1, 16, 16}));
  EXPECT_EQ(p.predicted.sizes(), p.noisy.sizes());
  // More noise at t = 500 than at t = 10.
  EXPECT_GT((p.noisy[1] - tok.decode(tok.encode(x))).pow(2).mean().item<double>(),
            (p.noisy[0] - tok.decode(tok.encode(x))).pow(2).mean().item<double>());
  Canvas c = denoise_figure(x, p, {10, 500}, {"Denoise", "test"}, -1, 1);
  EXPECT_EQ(c.width(), 10 + 64 + 5 * (96 + 8) + 10);
}

}  // namespace
