// bench_augment: how fast MAE's fine-tuning augmentation runs here
// (core/data/rand_augment.hpp: RandAugment rand-m9-mstd0.5-inc1, then
// core/data/random_erasing.hpp at p 0.25) on batches of random images, in
// images/s; bench/augment_peer.py times timm's transform on PIL images at
// the same settings (bench/run_bench.sh prints the ratio).
//   bench_augment [--side 224] [--batch 256] [--batches 4] [--threads N]
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>

#include "core/base/errors.hpp"
#include "core/base/threads.hpp"
#include "core/data/rand_augment.hpp"
#include "core/data/random_erasing.hpp"
#include "core/run/cli.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

int run(int argc, char** argv) {
  int side = 224, threads = 0;
  int64_t batch = 256, batches = 4;
  po::options_description opts(
      "bench_augment [options]\n\nTime RandAugment (rand-m9-mstd0.5-inc1) and random erasing (p 0.25) on "
      "batches of random RGB images.\nOptions");
  opts.add_options()("help,h", "print this help")("side", po::value(&side), "image side in pixels (default 224)")(
      "batch", po::value(&batch), "images per batch (default 256)")("batches", po::value(&batches),
                                                                      "timed batches, after one untimed (default 4)")(
      "threads", po::value(&threads), "threads (default: all cores)");
  po::variables_map vm;
  if (auto rc = parse_flags("bench_augment", argc, argv, opts, vm)) return *rc;
  if (side < 3 || batch < 1 || batches < 1) throw InputError("--side >= 3, --batch >= 1 and --batches >= 1 (see --help)");
  check_threads_flag(threads);
  if (threads <= 0) threads = default_threads();
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  auto images = torch::rand({batch, 3, side, side});
  const RandAugmentSpec spec;  // n 2, m 9, mstd 0.5: MAE's
  // In place, as fine-tuning calls them (augmenting augmented images costs the same).
  auto once = [&] {
    rand_augment_(images, spec);
    random_erasing_(images, 0.25);
  };
  once();  // untimed: first-touch of the buffers
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < batches; ++b) once();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("bench augment {} px: RandAugment + random erasing on {} threads: images_per_s={:.1f}\n", side, threads,
             double(batch * batches) / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("bench_augment", [&] { return run(argc, argv); });
}
