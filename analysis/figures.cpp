#include "analysis/figures.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"

namespace ldae {
namespace {

torch::Tensor randn_like_seeded(const torch::Tensor& like, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(like.sizes(), gen, like.options());
}

std::string sigma_label(double s) { return fmt::format("σ = {:.2f}", s); }

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

PanelFigure noise_figure(const Tokenizer& tok, const torch::Tensor& images, double sigma,
                         const std::vector<double>& sigmas, uint64_t seed, const FigureText& text,
                         double lo, double hi) {
  PanelFigure f{text.title, text.subtitle, {}};
  auto p = noise_panels(tok, images, sigma, seed);
  // One symmetric range for both noise patterns, so their amplitudes compare.
  const double m = std::max(p.pixel_noise.abs().max().item<double>(),
                            p.latent_noise.abs().max().item<double>());
  PanelBlock main{"", {"clean", "tokenizer recon", "pixel, " + sigma_label(sigma),
                       "latent, " + sigma_label(sigma), "pixel noise", "latent noise"}, {}, {}};
  for (int64_t i = 0; i < images.size(0); ++i) {
    main.rows.push_back(fmt::format("image {}", i + 1));
    main.cells.push_back({{p.clean[i], lo, hi}, {p.recon[i], lo, hi}, {p.pixel_noisy[i], lo, hi},
                          {p.latent_noisy[i], lo, hi}, {p.pixel_noise[i], -m, m}, {p.latent_noise[i], -m, m}});
  }
  f.blocks.push_back(main);
  if (!sigmas.empty()) {
    PanelBlock levels{"image 1 at several noise levels σ (noisy image, decoded)", {}, {"pixel", "latent"}, {{}, {}}};
    for (size_t k = 0; k < sigmas.size(); ++k) {
      levels.columns.push_back(sigma_label(sigmas[k]));
      auto q = noise_panels(tok, images.slice(0, 0, 1), sigmas[k], seed + 17 * (k + 1));
      levels.cells[0].push_back({q.pixel_noisy[0], lo, hi});
      levels.cells[1].push_back({q.latent_noisy[0], lo, hi});
    }
    f.blocks.push_back(levels);
  }
  return f;
}

PanelFigure filters_figure(const torch::Tensor& filters, int channels, int patch, int columns,
                           const FigureText& text) {
  const int d = int(filters.size(0)), rows = (d + columns - 1) / columns;
  PanelFigure f{text.title, text.subtitle, {}};
  f.panel_px = 48;
  PanelBlock b{"", {}, {}, {}};
  for (int c = 0; c < std::min(columns, d); ++c) b.columns.push_back(fmt::format("+{}", c));
  auto w = filters.detach().to(torch::kFloat64);
  for (int r = 0; r < rows; ++r) {
    b.rows.push_back(fmt::format("filter {}", r * columns + 1));
    b.cells.emplace_back();
    for (int c = 0; c < columns && r * columns + c < d; ++c) {
      const int k = r * columns + c;
      const double m = std::max(1e-12, w[k].abs().max().item<double>());
      b.cells.back().push_back({w[k].reshape({channels, patch, patch}), -m, m});
    }
  }
  f.blocks.push_back(b);
  return f;
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
    auto out = regression_part(
        obj, model->forward(network_input(obj, zt, V), torch::full({N}, double(t))).to(torch::kFloat32));
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

PanelFigure denoise_figure(const torch::Tensor& images, const DenoisePanels& p, const std::vector<int>& ts,
                           const FigureText& text, double lo, double hi) {
  PanelFigure f{text.title, text.subtitle, {}};
  PanelBlock b{"", {"clean"}, {}, {}};
  for (int t : ts) {
    b.columns.push_back(fmt::format("t = {}: noisy", t));
    b.columns.push_back("predicted");
  }
  for (int64_t i = 0; i < images.size(0); ++i) {
    b.rows.push_back(fmt::format("image {}", i + 1));
    b.cells.push_back({{images[i], lo, hi}});
    for (size_t k = 0; k < ts.size(); ++k) {
      b.cells.back().push_back({p.noisy[k][i], lo, hi});
      b.cells.back().push_back({p.predicted[k][i], lo, hi});
    }
  }
  f.blocks.push_back(b);
  return f;
}

}  // namespace ldae
