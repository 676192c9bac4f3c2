// bench_train: training images/s of the harness's own step (Trainer: data
// gather, noise, objective, DiT forward/backward, AdamW) at a fixed shape,
// for side-by-side comparison with ../shared/bench/ref_dit_train.py; with
// --sweep, the loop a run of that sweep row really executes (its data,
// tokenizer, noise, objective and model), for comparison with
// bench/ldae_plain.py; and the patch-PCA fit time. bench/run_bench.sh runs
// them and prints the ratios.
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <iostream>
#include <string>
#include <vector>

#include <torch/csrc/autograd/profiler_kineto.h>  // Kineto (GPU): the C++ frontend has no public profiler
#include <torch/csrc/autograd/profiler_legacy.h>  // RecordProfile (CPU)

#include "backbones/dit.hpp"
#include "bench/flops.hpp"
#include "core/run/cli.hpp"
#include "core/data/data.hpp"
#include "core/run/plugins.hpp"
#include "core/run/registry.hpp"
#include "core/run/run.hpp"
#include "core/config/sweep.hpp"
#include "core/train/trainer.hpp"
#include "tokenizers/linear.hpp"

namespace po = boost::program_options;
using namespace ldae;
using clk = std::chrono::steady_clock;

namespace {
void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// The path a trace will be written to can be: its folder exists and is a
// folder, the path is not a folder itself, and a file can be opened there
// for writing (not /proc, not a read-only mount), checked before minutes of
// benchmarking, not after. A file made by the check is removed again.
void check_writable_file(const std::string& path, const char* flag) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw InputError(fmt::format("{} {}: folder {} does not exist; create it or give another path", flag, path,
                                 dir.string()));
  if (!fs::is_directory(dir, ec))
    throw InputError(fmt::format("{} {}: {} is a file, not a folder; give a path inside a folder", flag, path,
                                 dir.string()));
  if (fs::is_directory(p, ec))
    throw InputError(fmt::format("{} {}: is a folder; give a file name, e.g. {}/trace.json", flag, path, path));
  const bool existed = fs::exists(p, ec);
  if (existed && !fs::is_regular_file(p, ec))
    throw InputError(fmt::format("{} {}: is not a regular file (a device or a pipe); give a file's path", flag, path));
  if (!std::ofstream(path, std::ios::app))
    throw InputError(fmt::format("{} {}: cannot be written ({}); give a path in a writable folder", flag, path,
                                 std::strerror(errno)));
  if (!existed) fs::remove(p, ec);
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
    try {
      torch::autograd::profiler::RecordProfile guard(path);
      work();
    } catch (const c10::Error& e) {  // one line, not LibTorch's stack
      throw InputError(fmt::format("--trace {}: the profiler could not write it: {}", path,
                                   e.what_without_backtrace()));
    }
  }
  if (!std::filesystem::exists(path))
    throw InputError(fmt::format("--trace {}: the profiler could not write it (see its message above)", path));
}

struct StepTiming {
  double seconds = 0;     // of `steps` steps
  bool replayed = false;  // the steps were CUDA graph replays
};

// `steps` steps of `trainer` timed after an untimed call of `warmup` steps
// (allocator, libraries, kernel choice). With a graph the warm-up call
// records it after 3 eager steps and the trainer keeps that one recording
// (Trainer::keep_recorded_step), so the timed call is `steps` replays; a
// timed call that did not replay the kept recording is said, and the line
// is not labelled as a graph's. With a trace, the traced pass comes after
// the timed one (profiling slows a small CPU step 4x) and runs as it did.
StepTiming time_steps(Trainer& trainer, const TrainData& data, bool graph, int warmup, int steps,
                      const torch::Device& device, const std::string& trace) {
  std::string graph_note;  // what the trainer said about its graph in the last call
  const std::function<void(const std::string&)> note = [&](const std::string& l) {
    if (l.find("train.cuda_graph") != std::string::npos) graph_note = l;
  };
  auto run = [&](int64_t n) {
    graph_note.clear();
    trainer.train(data, "", nullptr, note, n);
  };
  trainer.keep_recorded_step(graph);
  if (warmup > 0) run(warmup);  // train(..., 0) would mean "to the end"
  sync(device);
  StepTiming t;
  const auto t0 = clk::now();
  run(steps);
  sync(device);
  t.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  if (graph) {
    t.replayed = graph_note == kReplayingAKeptRecording;
    if (!t.replayed)  // timed, but not (only) replays: say why
      fmt::print(stderr, "bench_train: the timed call did not replay the warm-up's recording, so the line is not "
                         "labelled cuda_graph=1: {}\n",
                 graph_note.empty() ? "(the trainer said nothing about its graph)" : graph_note);
  }
  if (!trace.empty()) {
    write_trace(trace, device, [&] { run(steps); });
    fmt::print(stderr, "bench_train: trace {}: {} steps{} (bench/trace_ops.py {} --steps {})\n", trace, steps,
               t.replayed ? ", all replays" : "", trace, steps);
  }
  trainer.keep_recorded_step(false);  // its pool back before anything else runs
  return t;
}

// The command line's values (defaults as --help gives them), and which of
// the flags without a value were given.
struct BenchOptions {
  int width = 128, depth = 8, heads = 4, patch = 4, image = 32, channels = 1, batch = 128, steps = 20,
      warmup = 3, threads = 0, pca_patches = 0;
  double peak_tflops = 0;
  std::string device_name, device_arg = "cpu";
  std::vector<std::string> plugins, sets;
  std::string sweep_file, profile, results = "results", trace;
  int row = 1;
  bool bf16 = false, graph_flag = false, fused_flag = false, warmup_given = false, kernels_flag = false;
};

// The flags of bench_train, bound to the fields of `a`.
void add_options(po::options_description& opts, BenchOptions& a) {
  opts.add_options()("help,h", "print this help")("width", po::value(&a.width))("depth", po::value(&a.depth))(
      "heads", po::value(&a.heads))("patch", po::value(&a.patch))("image", po::value(&a.image))(
      "channels", po::value(&a.channels), "image channels (token width = patch^2 x channels)")(
      "batch", po::value(&a.batch))("steps", po::value(&a.steps))("warmup", po::value(&a.warmup))(
      "threads", po::value(&a.threads), "CPU threads (default 0: OMP_NUM_THREADS, else the CPUs this process may use)")("bf16", "bf16 autocast (with --sweep: sets train.bf16)")(
      "device", po::value(&a.device_arg), "cpu or cuda")(
      "device-name", po::value(&a.device_name), "GPU name as the driver gives it (nvidia-smi), for its bf16 peak")(
      "peak-tflops", po::value(&a.peak_tflops), "dense bf16 peak of the device in TFLOP/s (default: from --device-name)")(
      "pca", po::value(&a.pca_patches), "instead: time a patch-PCA fit on this many Fashion-MNIST patches")(
      "plugin", po::value(&a.plugins)->composing(), "load a plugin shared library (repeatable)")(
      "sweep", po::value(&a.sweep_file), "instead: time the training loop of this sweep file's row (seed 0)")(
      "row", po::value(&a.row), "with --sweep: the row number (default 1)")(
      "profile", po::value(&a.profile), "with --sweep: the profile")(
      "set", po::value(&a.sets)->composing(), "with --sweep: override a key (repeatable)")(
      "results", po::value(&a.results), "with --sweep: results root whose tokenizer cache to use (default results)")(
      "fused-adamw", "train.fused_adamw: AdamW as one fused kernel per parameter group")(
      "fused-kernels", "train.fused_kernels: the DiT block's LayerNorm + modulate, gated residuals and GELU by the harness's fused kernels")(
      "cuda-graph", "train.cuda_graph: the step recorded once as a CUDA graph and replayed (sets train.fused_adamw too; warm-up 4 by default)")(
      "trace", po::value(&a.trace), "after timing, trace the same steps' ops (and GPU kernels) as a Chrome trace (bench/trace_ops.py sums it)");
}

// Each flag given must act in the mode the flags choose (--pca: the PCA
// fit; --sweep: a sweep row's loop; else the reference model's step): a
// flag that would be ignored is an InputError naming it and what to do.
void check_modes(const po::variables_map& vm) {
  using Flags = std::vector<std::string>;
  const Flags shape{"width", "depth", "heads", "patch", "image", "channels", "batch"},
      peak{"device-name", "peak-tflops"}, sweep_only{"row", "profile", "set", "results"},
      training{"sweep", "steps", "warmup", "bf16", "device", "fused-adamw", "fused-kernels", "cuda-graph", "trace"};
  auto refuse = [&](const Flags& flags, const std::string& why) {
    for (const auto& f : flags)
      if (vm.count(f)) throw InputError(fmt::format("--{}: {}; drop it", f, why));
  };
  if (vm.count("pca")) {
    if (vm["pca"].as<int>() < 1)
      throw InputError(fmt::format("--pca {}: expected a positive number of patches, e.g. --pca 100000",
                                   vm["pca"].as<int>()));
    for (const auto& group : {shape, peak, sweep_only, training})
      refuse(group, "has no effect with --pca (which times the patch-PCA fit only)");
  } else if (vm.count("sweep")) {
    refuse(shape, "has no effect with --sweep (the row's config sets the model: override its keys with --set, "
                  "e.g. --set model.width=256)");
    refuse(peak, "has no effect with --sweep (its line gives images/s, not MFU)");
  } else {
    refuse(sweep_only, "acts only with --sweep FILE");
  }
}

// Loads the plugins, sets the CPU threads, checks the flags (InputError on a
// bad one) and fills in the peak from --device-name. Returns the device.
torch::Device check_options(BenchOptions& a) {
  for (const auto& p : a.plugins) load_plugin(p, "--plugin");
  check_threads_flag(a.threads);
  torch::set_num_threads(a.threads > 0 ? a.threads : default_threads());
  for (auto [name, v] : {std::pair<const char*, int>{"width", a.width}, {"depth", a.depth}, {"heads", a.heads},
                         {"patch", a.patch}, {"image", a.image}, {"channels", a.channels}, {"batch", a.batch},
                         {"steps", a.steps}})
    if (v < 1) throw InputError(fmt::format("--{} {}: expected a positive number", name, v));
  if (a.warmup < 0) throw InputError(fmt::format("--warmup {}: expected 0 or more untimed steps", a.warmup));
  if (a.device_arg != "cpu" && a.device_arg != "cuda")
    throw InputError(fmt::format("--device '{}': expected cpu or cuda", a.device_arg));
  if (a.graph_flag && a.device_arg != "cuda")
    throw InputError("--cuda-graph records the step as a CUDA graph: it needs --device cuda (on the CPU every "
                     "step would run eagerly and the line would time a difference of two eager calls)");
  if (a.device_arg == "cuda" && !torch::cuda::is_available())
    throw InputError("--device cuda, but this LibTorch sees no CUDA device (no GPU visible, or no driver)");
  if (!a.trace.empty()) check_writable_file(a.trace, "--trace");
  const torch::Device device = a.device_arg == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (a.peak_tflops <= 0 && !a.device_name.empty()) a.peak_tflops = dense_bf16_peak_tflops(a.device_name);
  return device;
}

// --pca: times a patch-PCA fit (8 x 8 patches, d 16) on `patches` patches of
// the Fashion-MNIST training images and prints it.
void time_pca_fit(int patches) {
  DataConfig dc;
  auto d = load_dataset(dc);
  // (N, 1, H, W) in [-1, 1]
  auto imgs = torch::from_blob(d.train.pixels.data(), {d.train.n, 1, d.train.h, d.train.w}, torch::kUInt8)
                  .to(torch::kFloat32) / 127.5 - 1.0;
  TokenizerConfig tc;
  tc.patch = 8;
  tc.d = 16;
  tc.fit_patches = patches;
  PatchPcaTokenizer tok(tc, 1);
  auto t0 = clk::now();
  tok.fit(imgs, 0);
  double s = std::chrono::duration<double>(clk::now() - t0).count();
  fmt::print("pca_fit patches={} D=64 seconds={:.3f}\n", patches, s);
}

// What the timed loop trains: the config, the model, its options and data.
struct BenchSetup {
  RunConfig cfg;
  Backbone model{nullptr};
  TrainData data;
  BackboneOptions o;
};

// Images a sweep row's benchmark tokenizes: 8 batches of 1,024.
constexpr int64_t kBenchImages = 8192;

// Exactly what run_sweep builds for the row's seed-0 run, minus the
// records: the run's data, tokenizer (from the cache, else fitted),
// prepared latents, objective, schedule and model.
void setup_sweep_row(const BenchOptions& a, BenchSetup& s) {
  const auto plan = expand(parse_sweep(a.sweep_file), a.profile, parse_sets(a.sets));
  auto it = std::find_if(plan.begin(), plan.end(), [&](const PlannedRun& r) { return r.row == a.row; });
  if (it == plan.end())
    throw InputError(fmt::format("--row {}: {} has rows 1..{}", a.row, a.sweep_file, plan.back().row));
  s.cfg = it->cfg;
  if (a.fused_flag) s.cfg.train.fused_adamw = true;
  if (a.graph_flag) s.cfg.train.cuda_graph = true;
  if (a.kernels_flag) s.cfg.train.fused_kernels = true;
  if (a.bf16) s.cfg.train.bf16 = true;
  RunParts parts = load_run_parts(s.cfg, a.results, [](const std::string&) {});
  // The step's time does not depend on how many images there are: the
  // first kBenchImages are tokenized (an ImageNet-size folder is streamed,
  // and its latents would not fit in memory).
  const int64_t n = std::min(parts.train.n, kBenchImages);
  s.data = prepare_train_data(*parts.tok, parts.train.rows(0, n), parts.train_y.slice(0, 0, n));
  const Objective obj = make_objective(s.cfg.objective);
  torch::manual_seed(s.cfg.seed);
  s.o = run_backbone_options(s.cfg, obj, s.data, parts.train.h, parts.train.w, parts.classes);
  s.model = make_backbone(s.cfg.model.name, s.o);
}

// The reference's model: pixels in patches (D = patch^2), full-width
// t-MLP, adaLN-Zero everywhere, no class conditioning, eps target,
// AdamW, fp32 unless --bf16; random data z0 (4 batches, L, D).
void setup_reference(const BenchOptions& a, BenchSetup& s) {
  s.cfg.model.depth = a.depth, s.cfg.model.width = a.width, s.cfg.model.heads = a.heads;
  s.cfg.train.batch = a.batch;
  s.cfg.train.epochs = 1000000;
  s.cfg.train.bf16 = a.bf16;
  s.cfg.train.fused_adamw = a.fused_flag, s.cfg.train.cuda_graph = a.graph_flag;
  if (a.image % a.patch != 0)
    throw InputError(fmt::format("--image {} is not a multiple of --patch {}", a.image, a.patch));
  const int64_t L = (a.image / a.patch) * (a.image / a.patch), D = int64_t(a.patch) * a.patch * a.channels;
  s.o.in_dim = D, s.o.out_dim = D, s.o.grid_h = a.image / a.patch, s.o.grid_w = a.image / a.patch;
  s.o.depth = a.depth, s.o.width = a.width, s.o.heads = a.heads;
  s.cfg.train.fused_kernels = s.o.fused_kernels = a.kernels_flag;
  if (auto e = backbone_check("dit", s.o); !e.empty()) throw InputError(e);
  torch::manual_seed(0);
  s.model = make_backbone("dit", s.o);
  s.data.z0 = torch::randn({int64_t(a.batch) * 4, L, D});
  s.data.labels = torch::zeros({s.data.z0.size(0)}, torch::kLong);
}

// A recorded step needs 3 eager steps first; the default warm-up then is 4.
// InputError for a CUDA graph without fused AdamW or with a shorter warm-up.
void check_graph_warmup(const RunConfig& cfg, BenchOptions& a) {
  if (cfg.train.cuda_graph && !a.warmup_given) a.warmup = 4;
  if (cfg.train.cuda_graph && !cfg.train.fused_adamw)
    throw InputError("train.cuda_graph needs train.fused_adamw = true (or pass --cuda-graph)");
  if (cfg.train.cuda_graph && a.warmup < 4)
    throw InputError(fmt::format("--warmup {}: the warm-up call must take 3 eager steps and record the "
                                 "fourth; use --warmup >= 4",
                                 a.warmup));
}

// The result line: with --sweep the run loop's speed, else the reference
// model's speed, size, model TFLOP/s and (given a peak) MFU.
void print_timing(const BenchOptions& a, const BenchSetup& s, const torch::Device& device, const StepTiming& t) {
  const int64_t b = s.cfg.train.batch;
  const double img_s = a.steps * b / t.seconds;
  if (!a.sweep_file.empty()) {
    fmt::print("run_loop row={} images_per_s={:.1f} step_ms={:.1f} batch={} tokens={} bf16={} device={} "
               "fused_adamw={} cuda_graph={} fused_kernels={}\n", a.row, img_s, 1000 * t.seconds / a.steps, b,
               s.data.z0.size(1), int(s.cfg.train.bf16), device.str(), int(s.cfg.train.fused_adamw), int(t.replayed),
               int(s.cfg.train.fused_kernels));
    return;
  }
  int64_t params = 0;
  for (auto& p : s.model->parameters()) params += p.numel();
  const double tflops = img_s * dit_train_flops(s.o) / 1e12;
  fmt::print("params={:.2f}M images_per_s={:.1f} step_ms={:.1f} model_tflops={:.2f}", params / 1e6, img_s,
             1000 * t.seconds / a.steps, tflops);
  if (a.peak_tflops > 0) fmt::print(" peak_tflops={:.1f} mfu={:.3f}", a.peak_tflops, tflops / a.peak_tflops);
  fmt::print(" tokens={} device={} fused_adamw={} cuda_graph={} fused_kernels={}\n", s.data.z0.size(1),
             device.str(), int(s.cfg.train.fused_adamw), int(t.replayed), int(s.cfg.train.fused_kernels));
}

// The benchmark the flags ask for (after parsing): the PCA fit, a sweep
// row's loop or the reference model's step, timed and printed.
int bench(BenchOptions& a) {
  const torch::Device device = check_options(a);
  if (a.pca_patches > 0) {
    time_pca_fit(a.pca_patches);
    return 0;
  }
  BenchSetup s;
  if (!a.sweep_file.empty())
    setup_sweep_row(a, s);
  else
    setup_reference(a, s);
  s.cfg.train.log_every = 1 << 30;
  check_graph_warmup(s.cfg, a);
  Trainer trainer(s.cfg, s.model, make_schedule(s.cfg.noise), device);
  const StepTiming t = time_steps(trainer, s.data, s.cfg.train.cuda_graph, a.warmup, a.steps, device, a.trace);
  print_timing(a, s, device, t);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  BenchOptions a;
  po::options_description opts("bench_train [options]\nOptions");
  add_options(opts, a);
  po::variables_map vm;
  if (auto rc = parse_flags("bench_train", argc, argv, opts, vm)) return *rc;
  a.graph_flag = vm.count("cuda-graph") > 0, a.fused_flag = vm.count("fused-adamw") > 0 || a.graph_flag;
  a.kernels_flag = vm.count("fused-kernels") > 0;
  a.bf16 = vm.count("bf16") > 0, a.warmup_given = vm.count("warmup") > 0;
  return guarded_main("bench_train", [&]() -> int {
    check_modes(vm);
    return bench(a);
  });
}
