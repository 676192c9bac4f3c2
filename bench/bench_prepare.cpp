// bench_prepare: how fast an image folder becomes the prepared-data store
// (core/data/prepared_store.hpp), on 1 thread and on every core, each into a
// fresh cache: images/s and the speed-up; then how fast the batch loader
// (core/data/batch_loader.hpp) delivers the store's images as l-DAE's tokens
// (float conversion and the patch PCA, 16 x 16 patches, d = 32). The rate a
// GPU step consumes is the other side of the ledger (bench/run_bench.sh).
// A line times data.resize = "dit" (DiT's center_crop_arr) against the
// default rule; --only-dit times that alone (bench/run_bench.sh pairs it
// with bench/center_crop_peer.py, DiT's loader doing the same per file).
//   bench_prepare FOLDER [--resolution 256] [--threads N] [--only-dit]
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bench/scratch_dir.hpp"
#include "core/data/batch_loader.hpp"
#include "core/data/data.hpp"
#include "core/data/image_source.hpp"
#include "core/run/cli.hpp"
#include "core/run/signals.hpp"
#include "tokenizers/linear.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

// Every file of the folder read once, untimed, so neither timed preparation
// pays the disk for the other (the first would, and the speed-up would lie).
void warm_page_cache(const std::string& folder) {
  std::vector<char> buf(1 << 20);
  for (const auto& e : std::filesystem::recursive_directory_iterator(folder)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    while (f.read(buf.data(), std::streamsize(buf.size())) || f.gcount() > 0) {
    }
  }
}

std::filesystem::path bench_cache() { return bench_scratch("prepare"); }

// The folder's data config: data.jpeg_draft = draft, data.resize = resize.
DataConfig folder_config(const std::string& folder, int side, bool draft = false,
                         const std::string& resize = "bilinear") {
  DataConfig c;
  c.name = "image_folder", c.path = folder, c.pad = 0, c.resolution = side, c.jpeg_draft = draft;
  c.resize = resize;
  c.resident_max_gb = 0;  // streamed: the loader reads the store
  return c;
}

// Seconds to prepare `folder` at `side` with `threads` workers into a new
// cache folder (bench_cache(), kept for the loader); `images` gets the images prepared.
double time_preparation(const std::string& folder, int side, int threads, int64_t* images, bool draft = false,
                        const std::string& resize = "bilinear") {
  const auto cache = bench_cache();
  std::filesystem::remove_all(cache);
  LoadContext ctx;
  ctx.cache_dir = cache.string();
  ctx.threads = threads;
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset d = load_dataset(folder_config(folder, side, draft, resize), ctx);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  *images = int64_t(d.train.n) + d.test.n;
  return s;
}

// Images/s the loader delivers as tokens: `threads` reader threads keep 4
// batches of 256 ready (the paper's batch per GPU) while this thread turns
// each into float and PCA tokens (B, 256, 32) on `threads` torch threads.
// The store was just written, so it is read from the page cache.
double time_loader(const std::string& folder, int side, int threads) {
  LoadContext ctx;
  ctx.cache_dir = bench_cache().string();
  const Dataset d = load_dataset(folder_config(folder, side), ctx);
  TokenizerConfig tc;
  tc.patch = 16, tc.d = 32, tc.fit_patches = 20000;
  PatchPcaTokenizer tok(tc, 3);
  tok.fit_batches(image_batches(d.train, true), 0);
  torch::set_num_threads(threads);
  constexpr int64_t kBatch = 256;
  const int64_t n = d.train.n, per_epoch = std::max<int64_t>(1, n / kBatch), steps = std::max<int64_t>(8, per_epoch);
  BatchLoader loader(d.train, EpochOrder(n, std::min(kBatch, n), per_epoch, 0), 0, std::min(kBatch, n), 0, threads, 4,
                     false);
  torch::NoGradGuard ng;
  int64_t delivered = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    auto b = loader.next();
    delivered += tok.encode(images_to_float(b.images, true)).size(0);
  }
  return double(delivered) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char** argv) {
  std::string folder;
  int side = 256, threads = 0;
  po::options_description opts(
      "bench_prepare FOLDER [options]\n\nTime the preparation of an image folder (train/ and val/ of "
      "class folders) on 1 thread and on every core.\nOptions");
  bool only_dit = false;
  opts.add_options()("help,h", "print this help")("resolution", po::value(&side), "image side (default 256)")(
      "threads", po::value(&threads), "threads of the parallel run (default: all cores)")(
      "only-dit", po::bool_switch(&only_dit),
      "time one preparation with data.resize = \"dit\" on --threads threads and print images_per_s= (the "
      "line bench/run_bench.sh pairs with bench/center_crop_peer.py)");
  po::options_description hidden;
  hidden.add_options()("folder", po::value(&folder));
  po::variables_map vm;
  if (auto rc = parse_flags("bench_prepare", argc, argv, opts, vm, "", &hidden, "folder")) return *rc;
  if (folder.empty() || side < 1) throw InputError("give an image folder and --resolution >= 1 (see --help)");
  check_threads_flag(threads);
  if (threads <= 0) threads = default_threads();
  // Ctrl-C or SIGTERM: preparation stops at its next chunk (exit 130), and
  // the bench's store goes with every way out.
  install_signal_handlers();
  const RemoveOnExit remove_cache{bench_cache()};
  warm_page_cache(folder);
  if (only_dit) {
    int64_t n = 0;
    const double s = time_preparation(folder, side, threads, &n, false, "dit");
    fmt::print("bench prepare {} px with data.resize = dit on {} threads: images_per_s={:.1f}\n", side, threads,
               double(n) / s);
    return 0;
  }
  int64_t n1 = 0, nt = 0;
  const double s1 = time_preparation(folder, side, 1, &n1);
  const double st = time_preparation(folder, side, threads, &nt);
  fmt::print("bench prepare {} px: 1 thread {:.0f} img/s, {} threads {:.0f} img/s, speed-up {:.2f} ({} images)\n",
             side, double(n1) / s1, threads, double(nt) / st, s1 / st, nt);
  int64_t nd = 0;
  const double sd = time_preparation(folder, side, threads, &nd, /*draft=*/true);
  fmt::print("bench prepare {} px with data.jpeg_draft: {} threads {:.0f} img/s, {:.2f}x the full decode\n", side,
             threads, double(nd) / sd, st / sd);
  int64_t ndit = 0;
  const double sdit = time_preparation(folder, side, threads, &ndit, false, "dit");
  fmt::print("bench prepare {} px with data.resize = dit: {} threads {:.0f} img/s, {:.2f}x the bilinear rule's\n",
             side, threads, double(ndit) / sdit, st / sdit);
  time_preparation(folder, side, threads, &nt);  // the full decode's store again, for the loader
  const double rate = time_loader(folder, side, threads);
  fmt::print("bench loader {} px: {:.0f} img/s as l-DAE tokens on {} threads, {:.0f} img/s per thread\n", side, rate,
             threads, rate / threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("bench_prepare", [&] { return run(argc, argv); });
}
