// bench_train: training images/s of the harness's own step (Trainer: data
// gather, noise, objective, DiT forward/backward, AdamW) at a fixed shape,
// for side-by-side comparison with ../shared/bench/ref_dit_train.py; and the
// patch-PCA fit time. bench/run_bench.sh runs both and prints the ratios.
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>
#include <iostream>

#include "bench/flops.hpp"
#include "core/cli.hpp"
#include "core/data.hpp"
#include "core/plugins.hpp"
#include "core/trainer.hpp"
#include "tokenizers/linear.hpp"

namespace po = boost::program_options;
using namespace ldae;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int width = 128, depth = 8, heads = 4, patch = 4, image = 32, channels = 1, batch = 128, steps = 20,
      warmup = 3, threads = 2, pca_patches = 0;
  double peak_tflops = 0;
  std::string device_name, device_arg = "cpu";
  std::vector<std::string> plugins;
  po::options_description opts("bench_train [options]\nOptions");
  opts.add_options()("help,h", "print this help")("width", po::value(&width))("depth", po::value(&depth))(
      "heads", po::value(&heads))("patch", po::value(&patch))("image", po::value(&image))(
      "channels", po::value(&channels), "image channels (token width = patch^2 x channels)")(
      "batch", po::value(&batch))("steps", po::value(&steps))("warmup", po::value(&warmup))(
      "threads", po::value(&threads))("bf16", "bf16 autocast")(
      "device", po::value(&device_arg), "cpu or cuda")(
      "device-name", po::value(&device_name), "GPU name as the driver gives it (nvidia-smi), for its bf16 peak")(
      "peak-tflops", po::value(&peak_tflops), "dense bf16 peak of the device in TFLOP/s (default: from --device-name)")(
      "pca", po::value(&pca_patches), "instead: time a patch-PCA fit on this many Fashion-MNIST patches")(
      "plugin", po::value(&plugins)->composing(), "load a plugin shared library (repeatable)");
  po::variables_map vm;
  if (auto rc = parse_flags("bench_train", argc, argv, opts, vm)) return *rc;
  try {
    for (const auto& p : plugins) load_plugin(p, "--plugin");
  } catch (const InputError& e) {
    fmt::print(stderr, "bench_train: error: {}\n", e.what());
    return 2;
  }
  torch::set_num_threads(threads);
  if (device_arg != "cpu" && device_arg != "cuda") {
    fmt::print(stderr, "bench_train: --device '{}': expected cpu or cuda\n", device_arg);
    return 2;
  }
  if (device_arg == "cuda" && !torch::cuda::is_available()) {
    fmt::print(stderr, "bench_train: --device cuda, but this LibTorch sees no CUDA device (a CPU "
                       "build? build with `make gpu` on a GPU machine)\n");
    return 2;
  }
  const torch::Device device = device_arg == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (peak_tflops <= 0 && !device_name.empty()) peak_tflops = dense_bf16_peak_tflops(device_name);
  if (pca_patches > 0) {
    DataConfig dc;
    auto d = load_dataset(dc);
    auto imgs = torch::from_blob(d.train.pixels.data(), {d.train.n, 1, d.train.h, d.train.w}, torch::kUInt8)
                    .to(torch::kFloat32) / 127.5 - 1.0;
    TokenizerConfig tc;
    tc.patch = 8;
    tc.d = 16;
    tc.fit_patches = pca_patches;
    PatchPcaTokenizer tok(tc, 1);
    auto t0 = clk::now();
    tok.fit(imgs, 0);
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    fmt::print("pca_fit patches={} D=64 seconds={:.3f}\n", pca_patches, s);
    return 0;
  }
  // The reference's model: pixels in patches (D = patch^2), full-width t-MLP,
  // adaLN-Zero everywhere, no class conditioning, eps target, AdamW, fp32
  // unless --bf16.
  RunConfig cfg;
  cfg.model.depth = depth, cfg.model.width = width, cfg.model.heads = heads;
  cfg.train.batch = batch;
  cfg.train.epochs = 1000000;
  cfg.train.log_every = 1 << 30;
  cfg.train.bf16 = vm.count("bf16") > 0;
  if (image % patch != 0) {
    fmt::print(stderr, "bench_train: --image {} is not a multiple of --patch {}\n", image, patch);
    return 2;
  }
  const int64_t L = (image / patch) * (image / patch), D = int64_t(patch) * patch * channels;
  DiTOptions o;
  o.in_dim = D, o.out_dim = D, o.grid_h = image / patch, o.grid_w = image / patch;
  o.depth = depth, o.width = width, o.heads = heads;
  torch::manual_seed(0);
  DiT model(o);
  Trainer trainer(cfg, model, make_schedule(cfg.noise), device);
  TrainData data;
  data.z0 = torch::randn({int64_t(batch) * 4, L, D});
  data.labels = torch::zeros({data.z0.size(0)}, torch::kLong);
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  trainer.train(data, "", nullptr, {}, warmup);
  sync();
  auto t0 = clk::now();
  trainer.train(data, "", nullptr, {}, steps);
  sync();
  double s = std::chrono::duration<double>(clk::now() - t0).count();
  int64_t params = 0;
  for (auto& p : model->parameters()) params += p.numel();
  const double img_s = steps * batch / s, tflops = img_s * dit_train_flops(o) / 1e12;
  fmt::print("params={:.2f}M images_per_s={:.1f} step_ms={:.1f} model_tflops={:.2f}", params / 1e6, img_s,
             1000 * s / steps, tflops);
  if (peak_tflops > 0) fmt::print(" peak_tflops={:.1f} mfu={:.3f}", peak_tflops, tflops / peak_tflops);
  fmt::print(" tokens={} device={}\n", L, device.str());
  return 0;
}
