// bench_crops: how fast random resized crops are cut from whole images
// (data.whole_images; read_crops, core/data/image_source.hpp): the folder
// prepared once as a whole-image store (untimed), then batches of crops
// read from it (pread from the page cache, torchvision's crop draw,
// Pillow's bicubic resize, flip) in images/s. bench/crop_peer.py times
// torchvision's RandomResizedCrop(bicubic) + flip + PILToTensor on the same
// folder's images held in memory as PIL images (bench/run_bench.sh prints
// the ratio). --from files times data.crops_from = "files": each crop
// decoded from its JPEG first (the peer: crop_peer.py --from files, which
// opens each file as torchvision's ImageFolder loader does).
//   bench_crops FOLDER [--resolution 256] [--batch 256] [--batches 8] [--threads N] [--from store|files]
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <chrono>
#include <filesystem>

#include "bench/scratch_dir.hpp"
#include "core/base/errors.hpp"
#include "core/base/threads.hpp"
#include "core/data/data.hpp"
#include "core/data/image_source.hpp"
#include "core/run/cli.hpp"
#include "core/run/signals.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {

int run(int argc, char** argv) {
  std::string folder;
  std::string from = "store";
  int side = 256, threads = 0;
  int64_t batch = 256, batches = 8;
  po::options_description opts(
      "bench_crops FOLDER [options]\n\nTime random resized crops (scale 0.08-1, bicubic, flip) cut from the "
      "whole images of an image folder (train/ and val/ of class folders), prepared once.\nOptions");
  opts.add_options()("help,h", "print this help")("resolution", po::value(&side), "crop side (default 256)")(
      "batch", po::value(&batch), "images per batch (default 256)")(
      "batches", po::value(&batches), "timed batches, after one untimed (default 8)")(
      "threads", po::value(&threads), "threads (default: all cores)")(
      "from", po::value(&from), "crop the store's whole images (store, default) or each original file (files)");
  po::options_description hidden;
  hidden.add_options()("folder", po::value(&folder));
  po::variables_map vm;
  if (auto rc = parse_flags("bench_crops", argc, argv, opts, vm, "", &hidden, "folder")) return *rc;
  if (folder.empty() || side < 1 || batch < 1 || batches < 1)
    throw InputError("give an image folder, --resolution >= 1, --batch >= 1 and --batches >= 1 (see --help)");
  if (from != "store" && from != "files") throw InputError("--from '" + from + "': expected store or files");
  check_threads_flag(threads);
  if (threads <= 0) threads = default_threads();
  install_signal_handlers();
  const RemoveOnExit remove_cache{bench_scratch("crops")};
  DataConfig c;
  c.name = "image_folder", c.path = folder, c.pad = 0, c.resolution = side, c.whole_images = true;
  c.crops_from = from;
  LoadContext ctx;
  ctx.cache_dir = remove_cache.path.string();
  const Dataset d = load_dataset(c, ctx);
  const int64_t n = d.train.n;
  auto idx_of = [&](int64_t b) { return torch::arange(b * batch, (b + 1) * batch, torch::kLong).remainder(n); };
  read_crops(d.train, idx_of(0), 0.08, 1.0, 0, 0, 0, threads);  // untimed: the store into the page cache
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 1; b <= batches; ++b) read_crops(d.train, idx_of(b), 0.08, 1.0, 0, uint64_t(b), 0, threads);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("bench crops {} px: from {} on {} threads: images_per_s={:.1f}\n", side,
             from == "files" ? "the files" : "whole images", threads, double(batch * batches) / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("bench_crops", [&] { return run(argc, argv); });
}
