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
#include "core/run/cli.hpp"
#include "core/run/plugins.hpp"
#include "core/run/run.hpp"

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
  return p.test.read(torch::tensor(idx, torch::kLong));
}

std::string describe_tokenizer(const RunConfig& c, const Tokenizer& tok) {
  return fmt::format("tokenizer {} (patch {}, d {}), {} images", c.tokenizer.name, c.tokenizer.patch,
                     tok.d(), c.data.name);
}

// The command line's values (defaults as --help gives them).
struct NoiseOptions {
  std::string figure = "noise", run_id_arg, results = "results", out, sigmas_arg = "0.1,0.3,0.577,1,2",
              ts_arg = "10,100,300,600";
  std::vector<std::string> sets, plugins;
  int images = 4, threads = 0;
  double sigma = std::sqrt(1.0 / 3.0);
  uint64_t seed = 0;
};

// The flags of show_noise, bound to the fields of `a`.
void add_options(po::options_description& opts, NoiseOptions& a) {
  opts.add_options()("help,h", "print this help")(
      "figure", po::value(&a.figure), "noise (default), filters or denoise")(
      "run", po::value(&a.run_id_arg), "a recorded run's id: its data, tokenizer and (denoise) model")(
      "set", po::value(&a.sets)->composing(), "change the config: --set tokenizer.d=16 (repeatable)")(
      "results", po::value(&a.results), "results root (default: results)")(
      "images", po::value(&a.images), "images (rows), default 4")(
      "sigma", po::value(&a.sigma), "noise level of the comparison, default sqrt(1/3)")(
      "sigmas", po::value(&a.sigmas_arg), "noise levels of the sweep row, default 0.1,0.3,0.577,1,2")(
      "t", po::value(&a.ts_arg), "denoise: steps t of the schedule, default 10,100,300,600")(
      "seed", po::value(&a.seed), "noise seed, default 0")(
      "threads", po::value(&a.threads), "CPU threads (default: OMP_NUM_THREADS, else the CPUs this process may use)")(
      "out", po::value(&a.out), "output PNG; the PDF, script and panels go beside it (default RESULTS/figures/<figure>[-<run>].png)")(
      "plugin", po::value(&a.plugins)->composing(), "load a plugin shared library (repeatable)");
}

// Loads the plugins, checks the flags (InputError on a bad one) and gnuplot,
// and sets the CPU threads: all before any work.
void check_options(const NoiseOptions& a) {
  for (const auto& p : a.plugins) load_plugin(p, "--plugin");
  if (a.figure != "noise" && a.figure != "filters" && a.figure != "denoise")
    throw InputError("--figure '" + a.figure + "': expected noise, filters or denoise");
  if (a.images < 1 || a.images > 64) throw InputError("--images must lie in [1, 64]");
  // Noise levels: finite, 0 to 100 (images span [-1, 1]; beyond that every
  // panel is noise, and 1e300 overflows to NaN panels). Checked before any work.
  auto check_sigma = [](double s, const std::string& flag) {
    if (!(s >= 0 && s <= 100))
      throw InputError(fmt::format("{}: sigma {} must lie in [0, 100] (a noise std; images span [-1, 1])", flag, s));
  };
  check_sigma(a.sigma, "--sigma");
  for (double s : parse_list(a.sigmas_arg, "--sigmas")) check_sigma(s, "--sigmas");
  if (a.figure == "denoise" && a.run_id_arg.empty())
    throw InputError("--figure denoise needs --run ID, a finished run (ids: run_sweep FILE --dry-run)");
  check_threads_flag(a.threads);
  if (std::filesystem::path(a.out).extension() != ".png" && !a.out.empty())
    throw InputError("--out " + a.out + ": give a .png path (the .pdf and .gp are written beside it)");
  if (!a.out.empty()) {  // where it goes, before any work: the name not a folder, its panels' folder made
    const std::filesystem::path out(a.out);
    if (std::filesystem::is_directory(out))
      throw InputError(fmt::format("--out {}: a folder of that name is in the way; give another file name", a.out));
    std::error_code ec;
    std::filesystem::create_directories(out.parent_path() / (out.stem().string() + "-panels"), ec);
    if (ec)
      throw InputError(fmt::format("--out {}: cannot write there ({}); give a path in a writable folder", a.out,
                                   ec.message()));
  }
  require_gnuplot();  // before any work
  torch::set_num_threads(a.threads > 0 ? a.threads : default_threads());
}

// The config to draw: the run's (--run) or the default changed by --set.
RunConfig config_of(const NoiseOptions& a) {
  RunConfig cfg;
  if (!a.run_id_arg.empty()) {
    if (!a.sets.empty()) throw InputError("--set and --run exclude each other: a run has its own config");
    cfg = read_run_config(a.results, a.run_id_arg);
  } else {
    apply_overrides(cfg, parse_sets(a.sets));
    validate(cfg, "show_noise --set");
  }
  return cfg;
}

// Fig. 7: pixel vs latent noise of the first images (pixel range [lo, hi]);
// for a linear tokenizer also prints the noise's energy outside its span.
PanelFigure noise_fig(const NoiseOptions& a, const RunConfig& cfg, const RunParts& parts, double lo, double hi) {
  auto x = pick_images(parts, a.images);  // (N, C, H, W)
  FigureText text{"Pixel noise vs latent noise (Fig. 7)",
                  fmt::format("{}; noise of std σ added to pixels or to the latent, then "
                              "decoded; patterns share one colour range",
                              describe_tokenizer(cfg, *parts.tok))};
  PanelFigure fig = noise_figure(*parts.tok, x, a.sigma, parse_list(a.sigmas_arg, "--sigmas"), a.seed, text, lo, hi);
  if (parts.tok->filters().defined()) {
    const auto p = noise_panels(*parts.tok, x, a.sigma, a.seed);  // the figure's noise (same seed)
    const auto f = parts.tok->filters();
    fmt::print("energy of the noise outside the tokenizer's span: pixel {:.3f}, latent {:.3g}\n",
               outside_subspace_fraction(p.pixel_noise, f, parts.tok->patch()),
               outside_subspace_fraction(p.latent_noise, f, parts.tok->patch()));
  }
  return fig;
}

// Fig. 4: the encoder filters (d, D) of a patch tokenizer, 8 to a row;
// InputError for a tokenizer without them.
PanelFigure filters_fig(const RunConfig& cfg, const RunParts& parts) {
  const int C = parts.train.c;
  auto f = parts.tok->filters();
  if (!f.defined())
    throw InputError(fmt::format("tokenizer '{}' has no patch filters to show; use patch_pca, "
                                 "patch_ae, patch_vae or pixel",
                                 cfg.tokenizer.name));
  FigureText text{"Tokenizer filters (Fig. 4)",
                  fmt::format("{}; rows of the encoder, each scaled to its own range",
                              describe_tokenizer(cfg, *parts.tok))};
  return filters_figure(f, C, parts.tok->patch(), 8, text);
}

// The steps of --t: integers in [1, noise.T]; InputError otherwise. Read
// before the tokenizer and model load.
std::vector<int> steps_of(const NoiseOptions& a, const RunConfig& cfg) {
  std::vector<int> ts;
  for (double t : parse_list(a.ts_arg, "--t")) {
    if (!(t >= 1 && t <= cfg.noise.T && t == std::floor(t)))
      throw InputError(fmt::format("--t {}: steps are integers in [1, noise.T = {}]", t, cfg.noise.T));
    ts.push_back(int(t));
  }
  return ts;
}

// Fig. 8: clean / noisy / predicted images of the trained run at steps `ts`.
PanelFigure denoise_fig(const NoiseOptions& a, const RunConfig& cfg, const RunParts& parts, const std::vector<int>& ts,
                        double lo, double hi) {
  Backbone model = load_run_model(cfg, parts, a.results);
  auto x = pick_images(parts, a.images);  // (N, C, H, W)
  auto p = denoise_panels(cfg, model, *parts.tok, x, ts, a.seed);
  FigureText text{"Denoising by a trained run (Fig. 8)",
                  fmt::format("run {}: {}, schedule {}, target {}", a.run_id_arg,
                              describe_tokenizer(cfg, *parts.tok), cfg.noise.schedule,
                              cfg.objective.target)};
  return denoise_figure(x, p, ts, text, lo, hi);
}

int run(int argc, char** argv) {
  NoiseOptions a;
  po::options_description opts(
      "show_noise [options]\n\nPictures of noise and models, drawn by gnuplot as PNG + PDF (+ script) under RESULTS/figures/.\n"
      "  noise    (Fig. 7) pixel-space vs latent-space Gaussian noise at one sigma and several\n"
      "  filters  (Fig. 4) the encoder filters of a patch tokenizer (pca, ae, vae)\n"
      "  denoise  (Fig. 8) clean / noisy / predicted images of a trained run (--run ID)\n"
      "The tokenizer is the run's (--run) or that of the default config changed by --set.\nOptions");
  add_options(opts, a);
  po::variables_map vm;
  if (auto rc = parse_flags("show_noise", argc, argv, opts, vm, "\nExamples:\n  show_noise\n  show_noise --set tokenizer.patch=8 --set tokenizer.d=16\n"
                 "  show_noise --figure denoise --run 46e79d92ba14b70e\n")) return *rc;
  check_options(a);

  const RunConfig cfg = config_of(a);
  const std::vector<int> ts = steps_of(a, cfg);
  if (a.figure == "filters" && cfg.tokenizer.name == "conv_vae")  // say so before fitting it
    throw InputError("tokenizer 'conv_vae' has no patch filters to show; use patch_pca, patch_ae, "
                     "patch_vae or pixel");
  auto log = [](const std::string& m) { fmt::print("{}\n", m); };
  RunParts parts = load_run_parts(cfg, a.results, log);
  const double lo = cfg.data.normalize ? -1.0 : 0.0, hi = 1.0;
  if (a.out.empty())
    a.out = fmt::format("{}/figures/{}{}.png", a.results, a.figure, a.run_id_arg.empty() ? "" : "-" + a.run_id_arg);

  const PanelFigure figure_out = a.figure == "noise"     ? noise_fig(a, cfg, parts, lo, hi)
                                 : a.figure == "filters" ? filters_fig(cfg, parts)
                                                         : denoise_fig(a, cfg, parts, ts, lo, hi);
  const auto [w, h] = panel_figure_size(figure_out);
  const auto files = draw_panels(figure_out, a.out);
  fmt::print("written: {} ({} x {}), {}, script {}\n", files[0], w, h, files[1], files[2]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("show_noise", [&] { return run(argc, argv); });
}
