// make_image_folder: writes a synthetic ImageNet-style folder to test the
// data path at scale without ImageNet: OUT/{train,val}/class_NNN/NNNNNNN.jpg,
// JPEGs of varied sizes and aspect ratios (ImageNet's are mostly 300-500 px a
// side), each class a colour and a stripe frequency plus noise, so a probe
// can tell classes apart. Deterministic from --seed; written by every core.
//   make_image_folder OUT --images 20000 --classes 100 [--val 0.1] [--min 160 --max 500]
#include <boost/program_options.hpp>
#include <fmt/core.h>
#include <jpeglib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <exception>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

struct Options {
  std::string out;
  int64_t images = 20000;
  int classes = 100, min_side = 160, max_side = 500, quality = 90, threads = 0;
  double val = 0.1;
  uint64_t seed = 0;
};

// Image i: its class, split and pixels (H, W, 3) from its own generator.
void write_image(const Options& o, int64_t i) {
  std::mt19937_64 rng(o.seed * 1000003ull + uint64_t(i));
  const int cls = int(i % o.classes);
  const bool val = double(std::uniform_real_distribution<double>(0, 1)(rng)) < o.val;
  std::uniform_int_distribution<int> side(o.min_side, o.max_side);
  const int W = side(rng), H = side(rng);
  // Class k: a hue on the colour wheel and a stripe period; noise per pixel.
  const double hue = 6.2831853 * cls / o.classes, period = 6.0 + 3.0 * (cls % 7);
  const double angle = std::uniform_real_distribution<double>(0, 3.1415926)(rng);
  std::normal_distribution<double> noise(0, 18);
  std::vector<uint8_t> px(size_t(W) * H * 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const double s = 0.5 + 0.5 * std::sin((x * std::cos(angle) + y * std::sin(angle)) * 6.2831853 / period);
      for (int c = 0; c < 3; ++c) {
        const double base = 128 + 90 * std::cos(hue + 2.0943951 * c);
        const double v = base * (0.6 + 0.4 * s) + noise(rng);
        px[(size_t(y) * W + x) * 3 + size_t(c)] = uint8_t(std::clamp(v, 0.0, 255.0));
      }
    }
  const fs::path dir = fs::path(o.out) / (val ? "val" : "train") / fmt::format("class_{:03d}", cls);
  const std::string path = (dir / fmt::format("{:07d}.jpg", i)).string();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error(path + ": cannot write");
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = JDIMENSION(W), cinfo.image_height = JDIMENSION(H), cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, o.quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = px.data() + size_t(cinfo.next_scanline) * W * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

int run(const Options& o) {
  for (const char* split : {"train", "val"})
    for (int k = 0; k < o.classes; ++k) fs::create_directories(fs::path(o.out) / split / fmt::format("class_{:03d}", k));
  const int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<int64_t> next{0};
  std::exception_ptr error;  // a worker's first error (an exception leaving a thread ends the process)
  std::mutex mu;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      try {
        for (int64_t i; (i = next++) < o.images;) write_image(o, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next = o.images;  // the others stop at their next image
      }
    });
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  // The split is drawn per image: with few images per class a class's train/
  // folder can stay empty, which run_sweep refuses. Said here instead.
  for (int k = 0; k < o.classes; ++k) {
    const fs::path dir = fs::path(o.out) / "train" / fmt::format("class_{:03d}", k);
    if (fs::is_empty(dir))
      throw std::runtime_error(fmt::format("{}: no train image was drawn for this class ({} images, {} classes, "
                                           "--val {}); raise --images or lower --val",
                                           dir.string(), o.images, o.classes, o.val));
  }
  fmt::print("wrote {} JPEGs in {} classes to {}/{{train,val}} ({} threads)\n", o.images, o.classes, o.out, threads);
  return 0;
}

}  // namespace

// Parses its flags itself (the shape of core/run/cli.hpp's parse_flags):
// this tool links no harness library, only libjpeg, fmt and Boost.
int main(int argc, char** argv) {
  Options o;
  po::options_description opts("make_image_folder OUT [options]\n\nA synthetic ImageNet-style folder of JPEGs.\nOptions");
  opts.add_options()("help,h", "print this help")("images", po::value(&o.images), "images in all (default 20000)")(
      "classes", po::value(&o.classes), "class folders (default 100)")(
      "val", po::value(&o.val), "fraction of images in val/ (default 0.1)")(
      "min", po::value(&o.min_side), "smallest side in pixels (default 160)")(
      "max", po::value(&o.max_side), "largest side in pixels (default 500)")(
      "quality", po::value(&o.quality), "JPEG quality (default 90)")(
      "threads", po::value(&o.threads), "threads (default: all cores)")("seed", po::value(&o.seed), "seed (default 0)");
  po::options_description hidden;
  hidden.add_options()("out", po::value(&o.out));
  po::positional_options_description pos;
  pos.add("out", 1);
  po::options_description all;
  all.add(opts).add(hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "make_image_folder: {} (see --help)\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  if (o.out.empty() || o.images < 1 || o.classes < 1 || o.min_side < 1 || o.max_side < o.min_side || o.val < 0 ||
      o.val >= 1 || o.quality < 1 || o.quality > 100 || o.threads < 0 || o.threads > 4096 ||
      o.images < o.classes) {
    fmt::print(stderr, "make_image_folder: give OUT, --images >= --classes >= 1 (every class folder needs an image), "
                       "1 <= --min <= --max, 0 <= --val < 1, --quality 1..100, --threads 0..4096 (see --help)\n");
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "make_image_folder: {}\n", e.what());
    return 2;
  }
}
