// bench_finetune_input: what making fine-tuning's batches ahead on a second
// thread (probes/finetune_batches.hpp) buys over making each one inline, on
// a fine-tuning whose step and augmentation cost about the same: MAE's
// RandAugment + random erasing on random 224-px RGB images, and a small DiT
// (16-px patches as tokens, width 64, depth 2) trained on them. Prints
// images/s; run it with --ahead 0 and --ahead 2 to compare (bench/run_bench.sh
// does, alternating). A stand-in for a GPU run, whose main thread leaves
// the cores free while the device computes: here the step gets `threads`
// intra-op threads and the maker as many again. With --device cuda the step
// runs on the GPU, as a GPU fine-tuning does (not yet measured).
//   bench_finetune_input [--ahead 2] [--steps 12] [--batch 64] [--threads 1] [--device cpu]
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>

#include "backbones/backbone.hpp"
#include "core/base/errors.hpp"
#include "core/base/threads.hpp"
#include "core/run/cli.hpp"
#include "probes/finetune.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

int run(int argc, char** argv) {
  int ahead = 2, threads = 1;
  std::string device_name = "cpu";
  int64_t steps = 12, batch = 64;
  po::options_description opts(
      "bench_finetune_input [options]\n\nFine-tune a small DiT on random 224-px images with RandAugment and random "
      "erasing, the batches made inline (--ahead 0) or ahead on a second thread.\nOptions");
  opts.add_options()("help,h", "print this help")("ahead", po::value(&ahead), "batches made ahead (default 2; 0 inline)")(
      "steps", po::value(&steps), "fine-tuning steps (default 12)")("batch", po::value(&batch),
                                                                  "images per step (default 64)")(
      "threads", po::value(&threads), "intra-op threads of the step (default 1)")(
      "device", po::value(&device_name), "cpu or cuda: where the step runs (default cpu)");
  po::variables_map vm;
  if (auto rc = parse_flags("bench_finetune_input", argc, argv, opts, vm)) return *rc;
  if (ahead < 0 || steps < 1 || batch < 1) throw InputError("--ahead >= 0, --steps >= 1, --batch >= 1 (see --help)");
  if (device_name != "cpu" && device_name != "cuda") throw InputError("--device: cpu or cuda, not " + device_name);
  if (device_name == "cuda" && !torch::cuda::is_available())
    throw InputError("--device cuda: this LibTorch sees no CUDA device; use --device cpu");
  const torch::Device device = device_name == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  check_threads_flag(threads);
  if (threads <= 0) threads = default_threads();
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  const int64_t side = 224, patch = 16, g = side / patch;
  auto images = torch::rand({batch * 2, 3, side, side}) * 2 - 1;
  auto labels = torch::randint(10, {batch * 2}, torch::kLong);
  auto tokens = [&](const torch::Tensor& x) {  // (b, 3, 224, 224) -> (b, 196, 768) patches
    return x.unfold(2, patch, patch).unfold(3, patch, patch).permute({0, 2, 3, 1, 4, 5}).reshape({x.size(0), g * g, -1});
  };
  FinetuneData fd{image_batches(images), image_batches(images.slice(0, 0, batch)), labels, labels.slice(0, 0, batch),
                  true, tokens, 10};
  fd.ahead = ahead;
  BackboneOptions o;
  o.in_dim = o.out_dim = 3 * patch * patch, o.grid_h = o.grid_w = g, o.depth = 2, o.width = 64, o.heads = 2;
  o.split = 2;
  EvalConfig ec;
  ec.finetune_batch = batch, ec.finetune_epochs = double(steps) / 2, ec.finetune_warmup_epochs = 0;
  ec.finetune_randaug_n = 2, ec.finetune_reprob = 0.25;
  const auto t0 = std::chrono::steady_clock::now();
  finetune(make_backbone("dit", o), 2, 0, 1.0, "mean", fd, ec, false, 0, device);
  if (device.is_cuda()) torch::cuda::synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("bench finetune input 224 px on {}, {} threads, ahead {}: images_per_s={:.1f}\n", device_name, threads, ahead,
             double(steps * batch) / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("bench_finetune_input", [&] { return run(argc, argv); });
}
