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
#include <filesystem>
#include <thread>
#include <iostream>

#include <torch/csrc/autograd/profiler_kineto.h>  // Kineto (GPU): the C++ frontend has no public profiler
#include <torch/csrc/autograd/profiler_legacy.h>  // RecordProfile (CPU)

#include "backbones/dit.hpp"
#include "bench/flops.hpp"
#include "core/cli.hpp"
#include "core/data.hpp"
#include "core/plugins.hpp"
#include "core/registry.hpp"
#include "core/run.hpp"
#include "core/sweep.hpp"
#include "core/trainer.hpp"
#include "tokenizers/linear.hpp"

namespace po = boost::program_options;
using namespace ldae;
using clk = std::chrono::steady_clock;

namespace {
void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// The path a trace will be written to can be: its folder exists, it is not a
// folder itself (checked before minutes of benchmarking, not after).
void check_writable_file(const std::string& path, const char* flag) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir))
    throw InputError(fmt::format("{} {}: folder {} does not exist; create it or give another path", flag, path,
                                 dir.string()));
  if (fs::is_directory(p)) throw InputError(fmt::format("{} {}: is a folder; give a file name, e.g. {}/trace.json",
                                                       flag, path, path));
}

// Every op of `work` (and on a GPU every kernel: Kineto with CUPTI) as a
// Chrome trace at `path`; on the CPU LibTorch's RecordProfile, whose trace
// has the same op events without Kineto's GPU probing.
void write_trace(const std::string& path, const torch::Device& device, const std::function<void()>& work) {
  if (device.is_cuda()) {
    namespace prof = torch::profiler::impl;
    const std::set<prof::ActivityType> acts{prof::ActivityType::CPU, prof::ActivityType::CUDA};
    const prof::ProfilerConfig config(prof::ProfilerState::KINETO);
    torch::autograd::profiler::prepareProfiler(config, acts);
    torch::autograd::profiler::enableProfiler(config, acts);
    work();
    sync(device);
    torch::autograd::profiler::disableProfiler()->save(path);
  } else {
    torch::autograd::profiler::RecordProfile guard(path);
    work();
  }
  if (!std::filesystem::exists(path))
    throw InputError(fmt::format("--trace {}: the profiler could not write it (see its message above)", path));
}

struct StepTiming {
  double seconds = 0;     // of `steps` steps
  bool replayed = false;  // the steps were CUDA graph replays
};

// `steps` steps of `trainer` timed after an untimed call of `warmup` steps
// (allocator, libraries, kernel choice). Each train() call records its own
// CUDA graph after 3 eager steps, so with a graph the time is that of
// (warmup + steps) steps minus that of `warmup` steps: `steps` replays.
// With a trace, the traced pass comes after the timed ones (profiling slows
// a small CPU step 4x) and covers the same call.
StepTiming time_steps(Trainer& trainer, const TrainData& data, bool graph, int warmup, int steps,
                      const torch::Device& device, const std::string& trace) {
  std::string graph_note;  // what the trainer said about recording its graph
  const std::function<void(const std::string&)> note = [&](const std::string& l) {
    if (l.find("train.cuda_graph") != std::string::npos) graph_note = l;
  };
  auto run = [&](int64_t n) { trainer.train(data, "", nullptr, note, n); };
  auto timed = [&](int64_t n) {
    auto t0 = clk::now();
    run(n);
    sync(device);
    return std::chrono::duration<double>(clk::now() - t0).count();
  };
  run(warmup);
  sync(device);
  StepTiming t;
  const int64_t traced_steps = graph ? warmup + steps : steps;
  t.seconds = graph ? timed(warmup + steps) - timed(warmup) : timed(steps);
  if (graph) {
    t.replayed = graph_note.find("recorded") != std::string::npos;
    if (!t.replayed) fmt::print(stderr, "bench_train: {}\n", graph_note);  // timed, but eagerly: say why
  }
  if (!trace.empty()) {
    write_trace(trace, device, [&] { run(traced_steps); });
    fmt::print(stderr, "bench_train: trace {}: {} steps{} (bench/trace_ops.py {} --steps {})\n", trace, traced_steps,
               t.replayed ? ", the first 3 eager, then replays" : "", trace, traced_steps);
  }
  return t;
}
}  // namespace

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
      "cuda-graph", "train.cuda_graph: the step recorded once as a CUDA graph and replayed (sets train.fused_adamw too; warm-up 4 by default)")(
      "trace", po::value(&trace), "after timing, trace the same steps' ops (and GPU kernels) as a Chrome trace (bench/trace_ops.py sums it)");
  po::variables_map vm;
  if (auto rc = parse_flags("bench_train", argc, argv, opts, vm)) return *rc;
  const bool graph_flag = vm.count("cuda-graph") > 0, fused_flag = vm.count("fused-adamw") > 0 || graph_flag;
  return guarded_main("bench_train", [&]() -> int {
    for (const auto& p : plugins) load_plugin(p, "--plugin");
    check_threads_flag(threads);
    torch::set_num_threads(threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency())));
    for (auto [name, v] : {std::pair<const char*, int>{"width", width}, {"depth", depth}, {"heads", heads},
                           {"patch", patch}, {"image", image}, {"channels", channels}, {"batch", batch},
                           {"steps", steps}, {"warmup", warmup}})
      if (v < 1) throw InputError(fmt::format("--{} {}: expected a positive number", name, v));
    if (device_arg != "cpu" && device_arg != "cuda")
      throw InputError(fmt::format("--device '{}': expected cpu or cuda", device_arg));
    if (device_arg == "cuda" && !torch::cuda::is_available())
      throw InputError("--device cuda, but this LibTorch sees no CUDA device (no GPU visible, or no driver)");
    if (!trace.empty()) check_writable_file(trace, "--trace");
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
    RunConfig cfg;
    Backbone model{nullptr};
    TrainData data;
    BackboneOptions o;
    if (!sweep_file.empty()) {
      // Exactly what run_sweep builds for the row's seed-0 run, minus the
      // records: the run's data, tokenizer (from the cache, else fitted),
      // prepared latents, objective, schedule and model.
      Overrides cli;
      for (const auto& s : sets) cli.insert(parse_set(s));
      const auto plan = expand(parse_sweep(sweep_file), profile, cli);
      auto it = std::find_if(plan.begin(), plan.end(), [&](const PlannedRun& r) { return r.row == row; });
      if (it == plan.end())
        throw InputError(fmt::format("--row {}: {} has rows 1..{}", row, sweep_file, plan.back().row));
      cfg = it->cfg;
      if (fused_flag) cfg.train.fused_adamw = true;
      if (graph_flag) cfg.train.cuda_graph = true;
      RunParts parts = load_run_parts(cfg, results, [](const std::string&) {});
      data = prepare_train_data(*parts.tok, parts.train_img, parts.train_y);
      const Objective obj = make_objective(cfg.objective);
      torch::manual_seed(cfg.seed);
      o = run_backbone_options(cfg, obj, data, parts.train_img.size(2), parts.train_img.size(3), parts.classes);
      model = make_backbone(cfg.model.name, o);
    } else {
      // The reference's model: pixels in patches (D = patch^2), full-width
      // t-MLP, adaLN-Zero everywhere, no class conditioning, eps target,
      // AdamW, fp32 unless --bf16.
      cfg.model.depth = depth, cfg.model.width = width, cfg.model.heads = heads;
      cfg.train.batch = batch;
      cfg.train.epochs = 1000000;
      cfg.train.bf16 = vm.count("bf16") > 0;
      cfg.train.fused_adamw = fused_flag, cfg.train.cuda_graph = graph_flag;
      if (image % patch != 0) throw InputError(fmt::format("--image {} is not a multiple of --patch {}", image, patch));
      const int64_t L = (image / patch) * (image / patch), D = int64_t(patch) * patch * channels;
      o.in_dim = D, o.out_dim = D, o.grid_h = image / patch, o.grid_w = image / patch;
      o.depth = depth, o.width = width, o.heads = heads;
      if (auto e = backbone_check("dit", o); !e.empty()) throw InputError(e);
      torch::manual_seed(0);
      model = make_backbone("dit", o);
      data.z0 = torch::randn({int64_t(batch) * 4, L, D});
      data.labels = torch::zeros({data.z0.size(0)}, torch::kLong);
    }
    cfg.train.log_every = 1 << 30;
    // A recorded step needs 3 eager steps first; the default warm-up then is 4.
    if (cfg.train.cuda_graph && !vm.count("warmup")) warmup = 4;
    if (cfg.train.cuda_graph && !cfg.train.fused_adamw)
      throw InputError("train.cuda_graph needs train.fused_adamw = true (or pass --cuda-graph)");
    if (cfg.train.cuda_graph && warmup < 4)
      throw InputError(fmt::format("--warmup {}: a recorded step needs 3 eager steps first; use --warmup >= 4",
                                   warmup));
    Trainer trainer(cfg, model, make_schedule(cfg.noise), device);
    const StepTiming t = time_steps(trainer, data, cfg.train.cuda_graph, warmup, steps, device, trace);
    const int64_t b = cfg.train.batch;
    const double img_s = steps * b / t.seconds;
    if (!sweep_file.empty()) {
      fmt::print("run_loop row={} images_per_s={:.1f} step_ms={:.1f} batch={} tokens={} bf16={} device={} "
                 "fused_adamw={} cuda_graph={}\n", row, img_s, 1000 * t.seconds / steps, b, data.z0.size(1),
                 int(cfg.train.bf16), device.str(), int(cfg.train.fused_adamw), int(t.replayed));
      return 0;
    }
    int64_t params = 0;
    for (auto& p : model->parameters()) params += p.numel();
    const double tflops = img_s * dit_train_flops(o) / 1e12;
    fmt::print("params={:.2f}M images_per_s={:.1f} step_ms={:.1f} model_tflops={:.2f}", params / 1e6, img_s,
               1000 * t.seconds / steps, tflops);
    if (peak_tflops > 0) fmt::print(" peak_tflops={:.1f} mfu={:.3f}", peak_tflops, tflops / peak_tflops);
    fmt::print(" tokens={} device={} fused_adamw={} cuda_graph={}\n", data.z0.size(1), device.str(),
               int(cfg.train.fused_adamw), int(t.replayed));
    return 0;
  });
}
