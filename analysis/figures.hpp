// The pictures of show_noise, as tensors first (tested) and then as labelled
// panel figures (analysis/panels.hpp: PNG and PDF through gnuplot):
//   noise    (Fig. 7 analogue) pixel-space Gaussian noise beside latent noise
//            at the same sigma, decoded, at several sigmas, and the noise
//            patterns alone;
//   denoise  (Fig. 8 analogue) clean / noisy / predicted for a trained run;
//   filters  (Fig. 4 analogue) the encoder filters of a patch tokenizer.
// Images are in the data's normalised range ([-1, 1] by default).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "analysis/panels.hpp"
#include "core/config/config.hpp"
#include "backbones/backbone.hpp"
#include "tokenizers/tokenizer.hpp"

namespace ldae {

struct NoisePanels {
  torch::Tensor clean, recon;                 // (N, C, H, W): x, decode(encode(x))
  torch::Tensor pixel_noisy, latent_noisy;    // x + sigma eps; decode(encode(x) + sigma eps_z)
  torch::Tensor pixel_noise, latent_noise;    // the patterns: the differences to x and recon
};
// Noise at one sigma for images (N, C, H, W); deterministic given the seed.
NoisePanels noise_panels(const Tokenizer& tok, const torch::Tensor& images, double sigma,
                         uint64_t seed);

// Fraction of the energy of patterns (N, C, H, W) outside the span of the
// tokenizer's filters (d, D) (orthonormalised), per p x p patch: ~0 for noise
// that lives in a linear tokenizer's latent space, ~(D - d) / D for white
// pixel noise.
double outside_subspace_fraction(const torch::Tensor& patterns, const torch::Tensor& filters, int patch);

struct FigureText {
  std::string title;     // first line
  std::string subtitle;  // second line (settings)
};

// Fig. 7 analogue: rows = images; columns clean, reconstruction, pixel and
// latent noise at `sigma`, the two noise patterns; then, for the first image,
// pixel and latent noise at each of `sigmas`.
// The two patterns share one symmetric colour range.
PanelFigure noise_figure(const Tokenizer& tok, const torch::Tensor& images, double sigma,
                         const std::vector<double>& sigmas, uint64_t seed, const FigureText& text,
                         double lo, double hi);

// Fig. 4 analogue: each filter (d, D) reshaped to (C, p, p), scaled to its
// own largest magnitude, in a grid of `columns`.
PanelFigure filters_figure(const torch::Tensor& filters, int channels, int patch, int columns,
                           const FigureText& text);

// Fig. 8 analogue for a trained run: rows = images; per t: the noisy input the
// network sees (decoded) and its estimate of the clean image (decoded).
struct DenoisePanels {
  torch::Tensor noisy, predicted;  // (T, N, C, H, W)
};
DenoisePanels denoise_panels(const RunConfig& cfg, Backbone& model, const Tokenizer& tok,
                             const torch::Tensor& images, const std::vector<int>& ts, uint64_t seed);
PanelFigure denoise_figure(const torch::Tensor& images, const DenoisePanels& p, const std::vector<int>& ts,
                           const FigureText& text, double lo, double hi);

}  // namespace ldae
