// show_noise: pictures of what the noise and the models do, as labelled PNG
// and PDF figures drawn by gnuplot under RESULTS/figures/ (analysis/figures.hpp,
// analysis/panels.hpp; the script and panels beside them redraw it):
//   show_noise                                  Fig. 7: pixel vs latent noise (PCA)
//   show_noise --set tokenizer.name=patch_vae   ... for any tokenizer config
//   show_noise --figure filters                 Fig. 4: tokenizer filters
//   show_noise --figure denoise --run ID        Fig. 8: clean / noisy / predicted
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>
#include <sstream>

#include "analysis/figures.hpp"
#include "analysis/gnuplot.hpp"
#include "core/cli.hpp"
#include "core/plugins.hpp"
#include "core/run.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

std::vector<double> parse_list(const std::string& text, const std::string& flag) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InputError(fmt::format("{} '{}': '{}' is not a number; give a comma-separated list "
                                   "such as 0.1,0.58,1",
                                   flag, text, item));
    }
  }
  return out;
}

// The first test image of each of the first n classes (one of each kind).
torch::Tensor pick_images(const RunParts& p, int n) {
  std::vector<int64_t> idx;
  auto y = p.test_y.contiguous();
  for (int64_t c = 0; c < p.classes && int(idx.size()) < n; ++c)
    for (int64_t i = 0; i < y.size(0); ++i)
      if (y[i].item<int64_t>() == c) {
        idx.push_back(i);
        break;
      }
  for (int64_t i = 0; int(idx.size()) < n && i < y.size(0); ++i)
    if (std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
  return p.test_img.index_select(0, torch::tensor(idx, torch::kLong));
}

std::string describe_tokenizer(const RunConfig& c, const Tokenizer& tok) {
  return fmt::format("tokenizer {} (patch {}, d {}), {} images", c.tokenizer.name, c.tokenizer.patch,
                     tok.d(), c.data.name);
}

int run(int argc, char** argv) {
  std::string figure = "noise", run_id_arg, results = "results", out, sigmas_arg = "0.1,0.3,0.577,1,2",
              ts_arg = "10,100,300,600";
  std::vector<std::string> sets, plugins;
  int images = 4, threads = 0;
  double sigma = std::sqrt(1.0 / 3.0);
  uint64_t seed = 0;
  po::options_description opts(
      "show_noise [options]\n\nPictures of noise and models, drawn by gnuplot as PNG + PDF (+ script) under RESULTS/figures/.\n"
      "  noise    (Fig. 7) pixel-space vs latent-space Gaussian noise at one sigma and several\n"
      "  filters  (Fig. 4) the encoder filters of a patch tokenizer (pca, ae, vae)\n"
      "  denoise  (Fig. 8) clean / noisy / predicted images of a trained run (--run ID)\n"
      "The tokenizer is the run's (--run) or that of the default config changed by --set.\nOptions");
  opts.add_options()("help,h", "print this help")(
      "figure", po::value(&figure), "noise (default), filters or denoise")(
      "run", po::value(&run_id_arg), "a recorded run's id: its data, tokenizer and (denoise) model")(
      "set", po::value(&sets)->composing(), "change the config: --set tokenizer.d=16 (repeatable)")(
      "results", po::value(&results), "results root (default: results)")(
      "images", po::value(&images), "images (rows), default 4")(
      "sigma", po::value(&sigma), "noise level of the comparison, default sqrt(1/3)")(
      "sigmas", po::value(&sigmas_arg), "noise levels of the sweep row, default 0.1,0.3,0.577,1,2")(
      "t", po::value(&ts_arg), "denoise: steps t of the schedule, default 10,100,300,600")(
      "seed", po::value(&seed), "noise seed, default 0")(
      "threads", po::value(&threads), "CPU threads (default: all cores)")(
      "out", po::value(&out), "output PNG; the PDF, script and panels go beside it (default RESULTS/figures/<figure>[-<run>].png)")(
      "plugin", po::value(&plugins)->composing(), "load a plugin shared library (repeatable)");
  po::variables_map vm;
  if (auto rc = parse_flags("show_noise", argc, argv, opts, vm, "\nExamples:\n  show_noise\n  show_noise --set tokenizer.patch=8 --set tokenizer.d=16\n"
                 "  show_noise --figure denoise --run 46e79d92ba14b70e\n")) return *rc;
  for (const auto& p : plugins) load_plugin(p, "--plugin");
  if (figure != "noise" && figure != "filters" && figure != "denoise")
    throw InputError("--figure '" + figure + "': expected noise, filters or denoise");
  if (images < 1 || images > 64) throw InputError("--images must lie in [1, 64]");
  if (!(sigma >= 0)) throw InputError("--sigma must be >= 0");
  if (figure == "denoise" && run_id_arg.empty())
    throw InputError("--figure denoise needs --run ID, a finished run (ids: run_sweep FILE --dry-run)");
  check_threads_flag(threads);
  if (std::filesystem::path(out).extension() != ".png" && !out.empty())
    throw InputError("--out " + out + ": give a .png path (the .pdf and .gp are written beside it)");
  require_gnuplot();  // before any work
  torch::set_num_threads(threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency())));

  RunConfig cfg;
  if (!run_id_arg.empty()) {
    if (!sets.empty()) throw InputError("--set and --run exclude each other: a run has its own config");
    cfg = read_run_config(results, run_id_arg);
  } else {
    Overrides o;
    for (const auto& s : sets) o.insert(parse_set(s));
    apply_overrides(cfg, o);
    validate(cfg, "show_noise --set");
  }
  if (figure == "filters" && cfg.tokenizer.name == "conv_vae")  // say so before fitting it
    throw InputError("tokenizer 'conv_vae' has no patch filters to show; use patch_pca, patch_ae, "
                     "patch_vae or pixel");
  auto log = [](const std::string& m) { fmt::print("{}\n", m); };
  RunParts parts = load_run_parts(cfg, results, log);
  const double lo = cfg.data.normalize ? -1.0 : 0.0, hi = 1.0;
  const int C = int(parts.train_img.size(1));
  if (out.empty())
    out = fmt::format("{}/figures/{}{}.png", results, figure, run_id_arg.empty() ? "" : "-" + run_id_arg);

  std::optional<PanelFigure> figure_out;
  if (figure == "noise") {
    auto x = pick_images(parts, images);
    FigureText text{"Pixel noise vs latent noise (Fig. 7)",
                    fmt::format("{}; noise of std σ added to pixels or to the latent, then "
                                "decoded; patterns share one colour range",
                                describe_tokenizer(cfg, *parts.tok))};
    figure_out = noise_figure(*parts.tok, x, sigma, parse_list(sigmas_arg, "--sigmas"), seed, text, lo, hi);
    if (parts.tok->filters().defined()) {
      const auto p = noise_panels(*parts.tok, x, sigma, seed);  // the figure's noise (same seed)
      const auto f = parts.tok->filters();
      fmt::print("energy of the noise outside the tokenizer's span: pixel {:.3f}, latent {:.3g}\n",
                 outside_subspace_fraction(p.pixel_noise, f, parts.tok->patch()),
                 outside_subspace_fraction(p.latent_noise, f, parts.tok->patch()));
    }
  } else if (figure == "filters") {
    auto f = parts.tok->filters();
    if (!f.defined())
      throw InputError(fmt::format("tokenizer '{}' has no patch filters to show; use patch_pca, "
                                   "patch_ae, patch_vae or pixel",
                                   cfg.tokenizer.name));
    FigureText text{"Tokenizer filters (Fig. 4)",
                    fmt::format("{}; rows of the encoder, each scaled to its own range",
                                describe_tokenizer(cfg, *parts.tok))};
    figure_out = filters_figure(f, C, parts.tok->patch(), 8, text);
  } else {
    Backbone model = load_run_model(cfg, parts, results);
    std::vector<int> ts;
    for (double t : parse_list(ts_arg, "--t")) {
      if (t < 1 || t > cfg.noise.T || t != std::floor(t))
        throw InputError(fmt::format("--t {}: steps are integers in [1, noise.T = {}]", t, cfg.noise.T));
      ts.push_back(int(t));
    }
    auto x = pick_images(parts, images);
    auto p = denoise_panels(cfg, model, *parts.tok, x, ts, seed);
    FigureText text{"Denoising by a trained run (Fig. 8)",
                    fmt::format("run {}: {}, schedule {}, target {}", run_id_arg,
                                describe_tokenizer(cfg, *parts.tok), cfg.noise.schedule,
                                cfg.objective.target)};
    figure_out = denoise_figure(x, p, ts, text, lo, hi);
  }
  const auto [w, h] = panel_figure_size(*figure_out);
  const auto files = draw_panels(*figure_out, out);
  fmt::print("written: {} ({} x {}), {}, script {}\n", files[0], w, h, files[1], files[2]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("show_noise", [&] { return run(argc, argv); });
}
