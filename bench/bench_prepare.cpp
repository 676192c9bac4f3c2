// bench_prepare: how fast an image folder becomes the prepared-data store
// (core/data/prepared_store.hpp), on 1 thread and on every core, each into a
// fresh cache: images/s and the speed-up. The rate a GPU step consumes is
// the other side of the ledger (bench/run_bench.sh prints both).
//   bench_prepare FOLDER [--resolution 256] [--threads N]
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "core/data/data.hpp"
#include "core/run/cli.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

// Seconds to prepare `folder` at `side` with `threads` workers into a new
// cache folder (removed afterwards); `images` gets the images prepared.
double time_preparation(const std::string& folder, int side, int threads, int64_t* images) {
  const auto cache = std::filesystem::temp_directory_path() / fmt::format("ldae-bench-prepare-{}", getpid());
  std::filesystem::remove_all(cache);
  DataConfig c;
  c.name = "image_folder", c.path = folder, c.pad = 0, c.resolution = side;
  LoadContext ctx;
  ctx.cache_dir = cache.string();
  ctx.threads = threads;
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset d = load_dataset(c, ctx);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  *images = int64_t(d.train.n) + d.test.n;
  std::filesystem::remove_all(cache);
  return s;
}

int run(int argc, char** argv) {
  std::string folder;
  int side = 256, threads = 0;
  po::options_description opts(
      "bench_prepare FOLDER [options]\n\nTime the preparation of an image folder (train/ and val/ of "
      "class folders) on 1 thread and on every core.\nOptions");
  opts.add_options()("help,h", "print this help")("resolution", po::value(&side), "image side (default 256)")(
      "threads", po::value(&threads), "threads of the parallel run (default: all cores)");
  po::options_description all;
  all.add(opts).add_options()("folder", po::value(&folder));
  po::positional_options_description pos;
  pos.add("folder", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (folder.empty() || side < 1) throw InputError("give an image folder and --resolution >= 1 (see --help)");
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  int64_t n1 = 0, nt = 0;
  const double s1 = time_preparation(folder, side, 1, &n1);
  const double st = time_preparation(folder, side, threads, &nt);
  fmt::print("bench prepare {} px: 1 thread {:.0f} img/s, {} threads {:.0f} img/s, speed-up {:.2f} ({} images)\n",
             side, double(n1) / s1, threads, double(nt) / st, s1 / st, nt);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("bench_prepare", [&] { return run(argc, argv); });
}
