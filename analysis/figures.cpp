#include "analysis/figures.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "core/noise.hpp"
#include "core/objective.hpp"

namespace ldae {
namespace {

constexpr int kMargin = 10, kPad = 8, kRowLabel = 64;

// Panels are about 96 pixels on their long side.
int panel_scale(const torch::Tensor& images) {
  return std::max<int>(1, int(96 / std::max(images.size(2), images.size(3))));
}

torch::Tensor randn_like_seeded(const torch::Tensor& like, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(like.sizes(), gen, like.options());
}

// Title (scale 2) and subtitle; returns the y where the content starts.
int draw_title(Canvas& c, const FigureText& t) {
  c.text(t.title, kMargin, kMargin, 2);
  c.text(t.subtitle, kMargin, kMargin + 20, 1, {80, 80, 80});
  return kMargin + 40;
}

int title_width(const FigureText& t) {
  return 2 * kMargin + std::max(Canvas::text_width(t.title, 2), Canvas::text_width(t.subtitle));
}

std::string sigma_label(double s) { return fmt::format("s={:.2f}", s); }

}  // namespace

NoisePanels noise_panels(const Tokenizer& tok, const torch::Tensor& images, double sigma,
                         uint64_t seed) {
  torch::NoGradGuard ng;
  NoisePanels p;
  p.clean = images;
  auto z = tok.encode(images);  // (N, L, d)
  p.recon = tok.decode(z);
  p.pixel_noise = sigma * randn_like_seeded(images, seed);
  p.pixel_noisy = images + p.pixel_noise;
  p.latent_noisy = tok.decode(z + sigma * randn_like_seeded(z, seed + 1));
  p.latent_noise = p.latent_noisy - p.recon;
  return p;
}

double outside_subspace_fraction(const torch::Tensor& patterns, const torch::Tensor& filters, int patch) {
  torch::NoGradGuard ng;
  auto x = patchify(patterns.to(torch::kFloat64), patch);          // (N, L, D)
  auto q = std::get<0>(torch::linalg_qr(filters.to(torch::kFloat64).t()));  // (D, d), orthonormal
  auto inside = torch::matmul(torch::matmul(x, q), q.t());
  return ((x - inside).pow(2).sum() / x.pow(2).sum().clamp_min(1e-300)).item<double>();
}

PanelBox noise_figure_latent_pattern_box(const torch::Tensor& images, int row) {
  const int s = panel_scale(images);
  const int pw = int(images.size(3)) * s, ph = int(images.size(2)) * s;
  const int y0 = kMargin + 40 + 12;  // below the title and the column labels
  return {kMargin + kRowLabel + 5 * (pw + kPad), y0 + row * (ph + kPad), s};
}

Canvas noise_figure(const Tokenizer& tok, const torch::Tensor& images, double sigma,
                    const std::vector<double>& sigmas, uint64_t seed, const FigureText& text,
                    double lo, double hi) {
  const int n = int(images.size(0)), s = panel_scale(images);
  const int pw = int(images.size(3)) * s, ph = int(images.size(2)) * s;
  const int cols = std::max<int>(6, int(sigmas.size()));
  const int width = std::max(title_width(text), 2 * kMargin + kRowLabel + cols * (pw + kPad));
  const int block2 = sigmas.empty() ? 0 : 20 + 12 + 2 * (ph + kPad);
  const int height = kMargin + 40 + 12 + n * (ph + kPad) + block2 + kMargin;
  Canvas c(width, height);
  int y = draw_title(c, text);

  auto p = noise_panels(tok, images, sigma, seed);
  // One symmetric range for both noise patterns, so their amplitudes compare.
  const double m = std::max(p.pixel_noise.abs().max().item<double>(),
                            p.latent_noise.abs().max().item<double>());
  const std::vector<std::string> labels = {"clean", "tokenizer recon", "pixel, " + sigma_label(sigma),
                                           "latent, " + sigma_label(sigma), "pixel noise",
                                           "latent noise"};
  for (size_t k = 0; k < labels.size(); ++k)
    c.text(labels[k], kMargin + kRowLabel + int(k) * (pw + kPad), y);
  y += 12;
  for (int i = 0; i < n; ++i) {
    const int x0 = kMargin + kRowLabel, yy = y + i * (ph + kPad);
    c.text(fmt::format("image {}", i + 1), kMargin, yy + ph / 2 - 3);
    c.image(p.clean[i], x0, yy, s, lo, hi);
    c.image(p.recon[i], x0 + (pw + kPad), yy, s, lo, hi);
    c.image(p.pixel_noisy[i], x0 + 2 * (pw + kPad), yy, s, lo, hi);
    c.image(p.latent_noisy[i], x0 + 3 * (pw + kPad), yy, s, lo, hi);
    c.image(p.pixel_noise[i], x0 + 4 * (pw + kPad), yy, s, -m, m);
    c.image(p.latent_noise[i], x0 + 5 * (pw + kPad), yy, s, -m, m);
  }
  y += n * (ph + kPad) + 20;
  if (!sigmas.empty()) {
    c.text("image 1 at several noise levels s (noisy image, decoded)", kMargin, y - 14, 1, {80, 80, 80});
    for (size_t k = 0; k < sigmas.size(); ++k) {
      const int x = kMargin + kRowLabel + int(k) * (pw + kPad);
      c.text(sigma_label(sigmas[k]), x, y);
      auto q = noise_panels(tok, images.slice(0, 0, 1), sigmas[k], seed + 17 * (k + 1));
      c.image(q.pixel_noisy[0], x, y + 12, s, lo, hi);
      c.image(q.latent_noisy[0], x, y + 12 + ph + kPad, s, lo, hi);
    }
    c.text("pixel", kMargin, y + 12 + ph / 2 - 3);
    c.text("latent", kMargin, y + 12 + ph + kPad + ph / 2 - 3);
  }
  return c;
}

Canvas filters_figure(const torch::Tensor& filters, int channels, int patch, int columns,
                      const FigureText& text) {
  const int d = int(filters.size(0));
  const int s = std::max(2, 48 / patch), pw = patch * s;
  const int rows = (d + columns - 1) / columns;
  const int width = std::max(title_width(text), 2 * kMargin + columns * (pw + kPad));
  const int height = kMargin + 40 + rows * (pw + kPad + 10) + kMargin;
  Canvas c(width, height);
  const int y0 = draw_title(c, text);
  auto f = filters.detach().to(torch::kFloat64);
  for (int k = 0; k < d; ++k) {
    const int x = kMargin + (k % columns) * (pw + kPad), y = y0 + (k / columns) * (pw + kPad + 10);
    const double m = std::max(1e-12, f[k].abs().max().item<double>());
    c.text(std::to_string(k + 1), x, y);
    c.image(f[k].reshape({channels, patch, patch}), x, y + 10, s, -m, m);
  }
  return c;
}

DenoisePanels denoise_panels(const RunConfig& cfg, Backbone& model, const Tokenizer& tok,
                             const torch::Tensor& images, const std::vector<int>& ts, uint64_t seed) {
  torch::NoGradGuard ng;
  model->eval();
  const Objective obj = make_objective(cfg.objective);
  const Schedule sch = make_schedule(cfg.noise);
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  auto z0 = tok.encode(images);  // (N, L, d)
  const auto V = tok.is_linear() ? tok.V() : torch::Tensor();
  std::vector<torch::Tensor> noisy, pred;
  for (size_t k = 0; k < ts.size(); ++k) {
    const int t = ts[k];
    const double g = obj.input_scaling ? sch.gamma.at(t) : 1.0, sg = sch.sigma.at(t);
    auto gamma = torch::full({N}, g), sigma = torch::full({N}, sg);
    auto eps = randn_like_seeded(z0, seed + k);
    auto zt = noisy_latent(obj, z0, eps, gamma, sigma);
    auto out = model->forward(network_input(obj, zt, V), torch::full({N}, double(t))).to(torch::kFloat32);
    torch::Tensor estimate;
    switch (obj.target) {
      case Target::Eps: estimate = tok.decode((zt - sg * out) / std::max(g, 1e-3)); break;
      case Target::CleanLatent: estimate = tok.decode(out); break;
      case Target::CleanImage:
      case Target::OriginalImage: estimate = tok.from_patch_space(out, int(C), int(H), int(W)); break;
      case Target::Velocity: {  // z = g x0 + sg eps, v = g' x0 + sg' eps: solve for x0
        const double dg = sch.dgamma.at(t), ds = sch.dsigma.at(t);
        estimate = tok.decode((ds * zt - sg * out) / (ds * g - sg * dg));
        break;
      }
    }
    noisy.push_back(tok.decode(zt));
    pred.push_back(estimate);
  }
  return {torch::stack(noisy), torch::stack(pred)};
}

Canvas denoise_figure(const torch::Tensor& images, const DenoisePanels& p, const std::vector<int>& ts,
                      const FigureText& text, double lo, double hi) {
  const int n = int(images.size(0)), s = panel_scale(images);
  const int pw = int(images.size(3)) * s, ph = int(images.size(2)) * s;
  const int cols = 1 + 2 * int(ts.size());
  const int width = std::max(title_width(text), 2 * kMargin + kRowLabel + cols * (pw + kPad));
  const int height = kMargin + 40 + 24 + n * (ph + kPad) + kMargin;
  Canvas c(width, height);
  int y = draw_title(c, text);
  const int x0 = kMargin + kRowLabel;
  c.text("clean", x0, y + 12);
  for (size_t k = 0; k < ts.size(); ++k) {
    const int x = x0 + (1 + 2 * int(k)) * (pw + kPad);
    c.text(fmt::format("t={}", ts[k]), x, y);
    c.text("noisy", x, y + 12);
    c.text("predicted", x + pw + kPad, y + 12);
  }
  y += 24;
  for (int i = 0; i < n; ++i) {
    const int yy = y + i * (ph + kPad);
    c.text(fmt::format("image {}", i + 1), kMargin, yy + ph / 2 - 3);
    c.image(images[i], x0, yy, s, lo, hi);
    for (size_t k = 0; k < ts.size(); ++k) {
      const int x = x0 + (1 + 2 * int(k)) * (pw + kPad);
      c.image(p.noisy[k][i], x, yy, s, lo, hi);
      c.image(p.predicted[k][i], x + pw + kPad, yy, s, lo, hi);
    }
  }
  return c;
}

}  // namespace ldae
