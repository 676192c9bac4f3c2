// bench_train: training images/s of the harness's own step (Trainer: data
// gather, noise, objective, DiT forward/backward, AdamW) at a fixed shape,
// for side-by-side comparison with ../shared/bench/ref_dit_train.py; with
// --sweep, the loop a run of that sweep row really executes (its data,
// tokenizer, noise, objective and model), for comparison with
// bench/ldae_plain.py; and the patch-PCA fit time. bench/run_bench.sh runs
// them and prints the ratios.
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>
#include <iostream>

#include <torch/csrc/autograd/profiler_kineto.h>  // Kineto: the C++ frontend has no public profiler

#include "backbones/dit.hpp"
#include "bench/flops.hpp"
#include "core/cli.hpp"
#include "core/data.hpp"
#include "core/plugins.hpp"
#include "core/run.hpp"
#include "core/sweep.hpp"
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
  std::vector<std::string> plugins, sets;
  std::string sweep_file, profile, results = "results", trace;
  int row = 1;
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
      "plugin", po::value(&plugins)->composing(), "load a plugin shared library (repeatable)")(
      "sweep", po::value(&sweep_file), "instead: time the training loop of this sweep file's row (seed 0)")(
      "row", po::value(&row), "with --sweep: the row number (default 1)")(
      "profile", po::value(&profile), "with --sweep: the profile")(
      "set", po::value(&sets)->composing(), "with --sweep: override a key (repeatable)")(
      "results", po::value(&results), "with --sweep: results root whose tokenizer cache to use (default results)")(
      "fused-adamw", "train.fused_adamw: AdamW as one fused kernel per parameter group")(
      "cuda-graph", "train.cuda_graph: the step recorded once as a CUDA graph and replayed (implies --fused-adamw)")(
      "trace", po::value(&trace), "write the timed steps' ops (and GPU kernels) as a Chrome trace (bench/trace_ops.py sums it)");
  po::variables_map vm;
  if (auto rc = parse_flags("bench_train", argc, argv, opts, vm)) return *rc;
  try {
    for (const auto& p : plugins) load_plugin(p, "--plugin");
    check_threads_flag(threads);
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
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  const bool fused = vm.count("fused-adamw") > 0 || vm.count("cuda-graph") > 0, graph = vm.count("cuda-graph") > 0;
  // Every op of a call (and on a GPU every kernel), as a Chrome trace: Kineto.
  auto traced = [&](const std::function<void()>& work) {
    namespace prof = torch::profiler::impl;
    std::set<prof::ActivityType> acts{prof::ActivityType::CPU};
    if (device.is_cuda()) acts.insert(prof::ActivityType::CUDA);
    const prof::ProfilerConfig config(prof::ProfilerState::KINETO);
    torch::autograd::profiler::prepareProfiler(config, acts);
    torch::autograd::profiler::enableProfiler(config, acts);
    work();
    sync();
    torch::autograd::profiler::disableProfiler()->save(trace);
  };
  // Seconds of `steps` steps of `trainer` after `warmup` untimed ones. Each
  // train() call records its own CUDA graph after 3 eager steps, so with
  // --cuda-graph the time is that of (warmup + steps) steps minus that of
  // warmup steps: `steps` replays.
  bool replayed = graph;   // false once the trainer could not record
  std::string graph_note;  // what the trainer said about recording its graph
  const std::function<void(const std::string&)> note = [&](const std::string& l) {
    if (l.find("train.cuda_graph") != std::string::npos) graph_note = l;
  };
  auto time_steps = [&](Trainer& trainer, const TrainData& data) {
    trainer.train(data, "", nullptr, note, warmup);  // cold: allocator, libraries, kernels chosen
    sync();
    auto timed = [&](int64_t n, bool trace_it) {
      auto t0 = clk::now();
      if (trace_it && !trace.empty()) traced([&] { trainer.train(data, "", nullptr, note, n); });
      else trainer.train(data, "", nullptr, note, n);
      sync();
      return std::chrono::duration<double>(clk::now() - t0).count();
    };
    if (!graph) return timed(steps, true);
    const double before = timed(warmup, false);
    const double s = timed(warmup + steps, true) - before;
    if (graph_note.find("recorded") == std::string::npos) {  // timed, but eagerly: say why
      fmt::print(stderr, "bench_train: {}\n", graph_note);
      replayed = false;
    }
    return s;
  };
  if (graph && warmup < 4) {
    fmt::print(stderr, "bench_train: --cuda-graph needs --warmup >= 4 (3 eager steps, then the recorded one)\n");
    return 2;
  }
  if (!sweep_file.empty()) {
    // Exactly what run_sweep builds for the row's seed-0 run, minus the
    // records: the run's data, tokenizer (from the cache, else fitted),
    // prepared latents, objective, schedule and model.
    return guarded_main("bench_train", [&] {
      Overrides cli;
      for (const auto& s : sets) cli.insert(parse_set(s));
      const auto plan = expand(parse_sweep(sweep_file), profile, cli);
      auto it = std::find_if(plan.begin(), plan.end(), [&](const PlannedRun& r) { return r.row == row; });
      if (it == plan.end())
        throw InputError(fmt::format("--row {}: {} has rows 1..{}", row, sweep_file, plan.back().row));
      RunConfig cfg = it->cfg;
      cfg.train.log_every = 1 << 30;
      if (fused) cfg.train.fused_adamw = true;
      if (graph) cfg.train.cuda_graph = true;
      RunParts parts = load_run_parts(cfg, results, [](const std::string&) {});
      TrainData data = prepare_train_data(*parts.tok, parts.train_img, parts.train_y);
      const Objective obj = make_objective(cfg.objective);
      torch::manual_seed(cfg.seed);
      Backbone model = make_backbone(cfg.model.name, run_backbone_options(cfg, obj, data, parts.train_img.size(2),
                                                                          parts.train_img.size(3), parts.classes));
      Trainer trainer(cfg, model, make_schedule(cfg.noise), device);
      const int64_t b = cfg.train.batch;
      const double s = time_steps(trainer, data);
      fmt::print("run_loop row={} images_per_s={:.1f} step_ms={:.1f} batch={} tokens={} bf16={} device={} "
                 "fused_adamw={} cuda_graph={}\n", row, steps * b / s, 1000 * s / steps, b, data.z0.size(1),
                 int(cfg.train.bf16), device.str(), int(fused), int(replayed));
      return 0;
    });
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
  cfg.train.fused_adamw = fused, cfg.train.cuda_graph = graph;
  if (image % patch != 0) {
    fmt::print(stderr, "bench_train: --image {} is not a multiple of --patch {}\n", image, patch);
    return 2;
  }
  const int64_t L = (image / patch) * (image / patch), D = int64_t(patch) * patch * channels;
  BackboneOptions o;
  o.in_dim = D, o.out_dim = D, o.grid_h = image / patch, o.grid_w = image / patch;
  o.depth = depth, o.width = width, o.heads = heads;
  torch::manual_seed(0);
  Backbone model = make_backbone("dit", o);
  Trainer trainer(cfg, model, make_schedule(cfg.noise), device);
  TrainData data;
  data.z0 = torch::randn({int64_t(batch) * 4, L, D});
  data.labels = torch::zeros({data.z0.size(0)}, torch::kLong);
  const double s = time_steps(trainer, data);
  int64_t params = 0;
  for (auto& p : model->parameters()) params += p.numel();
  const double img_s = steps * batch / s, tflops = img_s * dit_train_flops(o) / 1e12;
  fmt::print("params={:.2f}M images_per_s={:.1f} step_ms={:.1f} model_tflops={:.2f}", params / 1e6, img_s,
             1000 * s / steps, tflops);
  if (peak_tflops > 0) fmt::print(" peak_tflops={:.1f} mfu={:.3f}", peak_tflops, tflops / peak_tflops);
  fmt::print(" tokens={} device={} fused_adamw={} cuda_graph={}\n", L, device.str(), int(fused), int(replayed));
  return 0;
}
