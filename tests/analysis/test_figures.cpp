// The pictures: latent noise lies in the tokenizer's span and pixel noise
// does not (on tensors and read back from the PNG), PNG size and content,
// the font, filters and denoising panels.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "analysis/canvas.hpp"
#include "analysis/figures.hpp"
#include "analysis/gnuplot.hpp"
#include "backbones/dit.hpp"
#include "tokenizers/linear.hpp"
#include "tokenizers/patch_ae.hpp"
#include "tests/core/base/temp_dir.hpp"

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

TEST(Figures, NoiseFigureHasTheLayoutAndItsPanelsTheSubspaceProperty) {
  auto tok = fitted_pca(6);
  auto x = smooth_images(3);
  const std::vector<double> sigmas = {0.1, 0.5, 1.0};
  PanelFigure f = noise_figure(tok, x, std::sqrt(1.0 / 3.0), sigmas, 0, {"Title", "subtitle"}, -1, 1);
  ASSERT_EQ(f.blocks.size(), 2u);
  EXPECT_EQ(f.blocks[0].columns.size(), 6u);
  EXPECT_EQ(f.blocks[0].columns[3], "latent, σ = 0.58");
  EXPECT_EQ(f.blocks[0].rows, (std::vector<std::string>{"image 1", "image 2", "image 3"}));
  EXPECT_EQ(f.blocks[1].cells.size(), 2u);     // pixel, latent
  EXPECT_EQ(f.blocks[1].cells[0].size(), 3u);  // one per sigma
  // 16-pixel images: 96-pixel panels, 6 columns after the labels.
  EXPECT_EQ(panel_figure_size(f).first, 90 + 6 * (96 + 8) + 20);
  if (find_gnuplot().empty()) GTEST_SKIP() << "gnuplot not installed (make deps)";
  const auto dir = fs::path(test::temp_dir("noise"));
  const auto files = draw_panels(f, (dir / "noise.png").string());
  ASSERT_EQ(files[0], (dir / "noise.png").string());
  auto png = read_png(files[0]);
  EXPECT_GT(png.to(torch::kFloat32).std().item<float>(), 20.0f);  // not blank
  std::ifstream pdf(files[1]);
  std::string magic(5, ' ');
  pdf.read(magic.data(), 5);
  EXPECT_EQ(magic, "%PDF-");
  // The latent-noise panel of image 2 as written (the pattern maps [-m, m]
  // to [0, 255]): still in the span, up to 8-bit rounding; pixel noise is not.
  auto undo = [](const std::string& path) {
    return (read_png(path).select(2, 0).to(torch::kFloat64) - 127.5).reshape({1, 1, 16, 16});
  };
  EXPECT_LT(outside_subspace_fraction(undo((dir / "noise-panels" / "b0r1c5.png").string()), tok.filters(), 4), 0.01);
  EXPECT_GT(outside_subspace_fraction(undo((dir / "noise-panels" / "b0r1c4.png").string()), tok.filters(), 4), 0.3);
  fs::remove_all(dir);
}

TEST(Figures, FiltersOfPcaAndAutoencoder) {
  auto pca = fitted_pca(6);
  ASSERT_EQ(pca.filters().sizes(), (std::vector<int64_t>{6, 16}));
  PanelFigure f = filters_figure(pca.filters(), 1, 4, 4, {"Filters", "pca"});
  ASSERT_EQ(f.blocks.size(), 1u);
  ASSERT_EQ(f.blocks[0].cells.size(), 2u);  // 6 filters in rows of 4
  EXPECT_EQ(f.blocks[0].cells[0].size(), 4u);
  EXPECT_EQ(f.blocks[0].cells[1].size(), 2u);
  EXPECT_EQ(f.blocks[0].cells[1][1].image.sizes(), (std::vector<int64_t>{1, 4, 4}));
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
  PanelFigure f = denoise_figure(x, p, {10, 500}, {"Denoise", "test"}, -1, 1);
  EXPECT_EQ(f.blocks[0].columns, (std::vector<std::string>{"clean", "t = 10: noisy", "predicted", "t = 500: noisy", "predicted"}));
  EXPECT_EQ(f.blocks[0].cells[1].size(), 5u);
}

}  // namespace
