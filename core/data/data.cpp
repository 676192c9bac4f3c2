#include "core/data/data.hpp"

#include <fmt/core.h>
#include <zlib.h>
// libxxhash's header, inlined (XXH3 needs no library to link).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <cstring>
#include <cstdio>
#include <cmath>
#include <numeric>
#include <random>

#include "core/base/errors.hpp"
#include "core/data/image_source.hpp"

namespace ldae {
namespace {

const char* kPackageHint =
    "Install it with `make deps` (Debian package dataset-fashion-mnist) or set "
    "data.path to a folder holding the four *-idx?-ubyte.gz files.";

uint32_t be32(const uint8_t* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
}

// An open gzipped IDX file whose header (magic + dims) has been read.
class IdxFile {
 public:
  IdxFile(const std::string& path, uint32_t magic, int ndims, const char* what) : path_(path) {
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) throw InputError(fmt::format("{}: cannot open dataset file. {}", path, kPackageHint));
    uint8_t hdr[4];
    read(hdr, 4, "header");
    if (be32(hdr) != magic)
      throw InputError(fmt::format("{}: not an IDX {} file (magic {} != {}). {}", path, what,
                                   be32(hdr), magic, kPackageHint));
    for (int i = 0; i < ndims; ++i) {
      read(hdr, 4, "header");
      dims.push_back(be32(hdr));
    }
    uint64_t total = 1;
    for (auto d : dims) total = d == 0 || total <= (uint64_t(1) << 40) / d ? total * d : (uint64_t(1) << 41);
    // Before allocating: deflate expands at most ~1032:1, so a gzip file of
    // M bytes holds at most 1032 M; a header declaring more lies.
    std::error_code ec;
    const uint64_t packed = std::filesystem::file_size(path, ec);
    if (total > (uint64_t(1) << 34) || (!ec && total > packed * 1032 + 1024))
      throw InputError(fmt::format("{}: its header declares {} {} bytes, more than a {}-byte gzip file can hold "
                                   "(corrupt header). {}", path, total, what, ec ? 0 : packed, kPackageHint));
  }
  ~IdxFile() { gzclose(f_); }
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;

  // Read exactly n bytes or report how far the file got.
  void read(void* buf, size_t n, const char* what) {
    size_t got = 0;
    auto* p = static_cast<uint8_t*>(buf);
    while (got < n) {
      int r = gzread(f_, p + got, unsigned(std::min<size_t>(n - got, 1 << 30)));
      if (r <= 0)
        throw InputError(fmt::format(
            "{}: truncated or corrupt IDX file: expected {} bytes of {}, read {}. {}", path_, n,
            what, got, kPackageHint));
      got += size_t(r);
    }
  }

  std::vector<uint32_t> dims;

 private:
  std::string path_;
  gzFile f_;
};

}  // namespace

ImageSet read_idx_images(const std::string& path) {
  IdxFile f(path, 2051, 3, "image");
  ImageSet s;
  s.n = int(f.dims[0]), s.h = int(f.dims[1]), s.w = int(f.dims[2]), s.c = 1;
  s.pixels.resize(size_t(s.n) * s.h * s.w);
  f.read(s.pixels.data(), s.pixels.size(), "pixels");
  return s;
}

std::vector<int64_t> read_idx_labels(const std::string& path, int classes) {
  IdxFile f(path, 2049, 1, "label");
  std::vector<uint8_t> raw(f.dims[0]);
  f.read(raw.data(), raw.size(), "labels");
  // A flipped byte would otherwise surface late (the probe's "Target 200 is
  // out of bounds") or never (an encoder run finishing "done").
  for (size_t i = 0; i < raw.size(); ++i)
    if (raw[i] >= classes)
      throw InputError(fmt::format(
          "{}: label {} at index {} is outside 0..{} ({} classes); the file is corrupt. Restore "
          "it (`apt-get install --reinstall dataset-fashion-mnist` for the package's copy) or "
          "set data.path to a folder with good copies of the four *-idx?-ubyte.gz files",
          path, int(raw[i]), i, classes - 1, classes));
  return std::vector<int64_t>(raw.begin(), raw.end());
}

void check_labels(const Dataset& d) {
  if (d.classes <= 0)
    throw InputError(fmt::format("dataset '{}': its loader reports {} classes; fix the loader "
                                 "(Dataset::classes must be > 0)",
                                 d.name, d.classes));
  auto check = [&](const char* split, const ImageSet& s) {
    if (s.labels.size() != size_t(s.n))
      throw InputError(fmt::format("dataset '{}' {} split: {} labels for {} images; fix the "
                                   "loader or its files",
                                   d.name, split, s.labels.size(), s.n));
    for (size_t i = 0; i < s.labels.size(); ++i)
      if (s.labels[i] < 0 || s.labels[i] >= d.classes)
        throw InputError(fmt::format("dataset '{}' {} split: label {} at index {} is outside "
                                     "0..{} ({} classes); fix the loader or its label files",
                                     d.name, split, s.labels[i], i, d.classes - 1, d.classes));
  };
  check("train", d.train);
  check("test", d.test);
}

void check_data_available(const DataConfig& c) {
  auto exists = [](const std::string& p) {
    if (FILE* fp = std::fopen(p.c_str(), "rb")) return std::fclose(fp), true;
    return false;
  };
  if (c.name == "cifar10") {
    const std::string dir = c.path.empty() ? kCifar10Dir : c.path;
    for (const char* f : {"data_batch_1.bin", "test_batch.bin"})
      if (!exists(dir + "/" + f))
        throw InputError(fmt::format("{}/{}: CIFAR-10 batch missing; set data.path to the folder "
                                     "of the binary version (cifar-10-binary.tar.gz, "
                                     "https://www.cs.toronto.edu/~kriz/cifar.html)",
                                     dir, f));
    return;
  }
  if (c.name == "image_folder") {
    if (c.path.empty() || !exists(c.path + "/train"))
      throw InputError(fmt::format("data.path = \"{}\": image_folder needs a folder with train/ "
                                   "and val/ subfolders of class folders (ImageNet layout)",
                                   c.path));
    return;
  }
  if (c.name != "fashion_mnist") return;
  const std::string dir = c.path.empty() ? kFashionMnistDir : c.path;
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
    const std::string path = dir + "/" + f;
    if (FILE* fp = std::fopen(path.c_str(), "rb")) std::fclose(fp);
    else throw InputError(fmt::format("{}: dataset file missing. {}", path, kPackageHint));
  }
}

Dataset load_fashion_mnist(const DataConfig& c) {
  std::string dir = c.path.empty() ? kFashionMnistDir : c.path;
  Dataset d;
  d.name = "fashion_mnist";
  d.classes = 10;
  auto load = [&](const std::string& prefix, ImageSet& out) {
    out = read_idx_images(dir + "/" + prefix + "-images-idx3-ubyte.gz");
    std::string lp = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
    out.labels = read_idx_labels(lp, d.classes);
    if (int(out.labels.size()) != out.n)
      throw InputError(fmt::format("{}: {} labels for {} images. {}", lp, out.labels.size(),
                                   out.n, kPackageHint));
  };
  load("train", d.train);
  load("t10k", d.test);
  return d;
}

Dataset make_synthetic(const DataConfig& c, uint64_t seed) {
  // Each class is a smooth random prototype; images are prototype + pixel
  // noise, so classes are separable but not trivially (tests and smoke runs).
  const int S = c.synthetic_size, K = c.synthetic_classes;
  std::mt19937_64 rng(seed * 7919 + 17);
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> protos(K, std::vector<double>(S * S));
  for (auto& p : protos) {
    double a = normal(rng), b = normal(rng), fx = 1 + std::abs(normal(rng)) * 2,
           fy = 1 + std::abs(normal(rng)) * 2;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        p[y * S + x] = 0.5 * std::sin(fx * 6.283 * x / S + a) * std::cos(fy * 6.283 * y / S + b);
  }
  auto make = [&](int n) {
    ImageSet s;
    s.n = n, s.c = 1, s.h = S, s.w = S;
    s.pixels.resize(size_t(n) * S * S);
    s.labels.resize(n);
    for (int i = 0; i < n; ++i) {
      int k = int(rng() % uint64_t(K));  // in [0, K) by construction (K >= 2, config.cpp)
      s.labels[i] = k;
      for (int j = 0; j < S * S; ++j) {
        double v = protos[k][j] + 0.25 * normal(rng);
        s.pixels[size_t(i) * S * S + j] = uint8_t(std::clamp(127.5 + 127.5 * v, 0.0, 255.0));
      }
    }
    return s;
  };
  Dataset d;
  d.name = "synthetic";
  d.classes = K;
  d.train = make(c.synthetic_train);
  d.test = make(c.synthetic_test);
  return d;
}

ImageSet pad_images(const ImageSet& in, int pad) {
  if (pad == 0) return in;
  ImageSet out = in;
  out.h = in.h + 2 * pad, out.w = in.w + 2 * pad;
  out.pixels.assign(size_t(in.n) * in.c * out.h * out.w, 0);
  for (int i = 0; i < in.n * in.c; ++i)
    for (int y = 0; y < in.h; ++y)
      std::copy_n(&in.pixels[(size_t(i) * in.h + y) * in.w], in.w,
                  &out.pixels[(size_t(i) * out.h + y + pad) * out.w + pad]);
  return out;
}

ImageSet take_subset(const ImageSet& in, int n, const std::string& mode, uint64_t seed) {
  if (n <= 0 || n >= in.n) return in;
  std::vector<int> idx(in.n);
  std::iota(idx.begin(), idx.end(), 0);
  if (mode == "random") {
    std::mt19937_64 rng(seed);
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(n);
    std::sort(idx.begin(), idx.end());
  } else {
    idx.resize(n);
  }
  ImageSet out = in;
  out.n = n;
  if (in.streamed()) {  // the same images, by their rows in the store
    out.rows.resize(size_t(n));
    out.labels.resize(size_t(n));
    for (int i = 0; i < n; ++i) {
      out.rows[size_t(i)] = in.rows.empty() ? idx[size_t(i)] : in.rows[size_t(idx[size_t(i)])];
      out.labels[size_t(i)] = in.labels[size_t(idx[size_t(i)])];
    }
    return out;
  }
  const size_t per = size_t(in.c) * in.h * in.w;
  out.pixels.resize(per * n);
  out.labels.resize(n);
  for (int i = 0; i < n; ++i) {
    std::copy_n(&in.pixels[per * idx[i]], per, &out.pixels[per * i]);
    out.labels[i] = in.labels[idx[i]];
  }
  return out;
}

namespace {
// FNV-1a 64 over 8-byte words, fed in pieces: the same value whether a
// split's pixels come in one piece (resident) or an image at a time (streamed).
struct WordHash {
  uint64_t h = 1469598103934665603ull;
  unsigned char carry[8];
  size_t held = 0, total = 0;
  void word(uint64_t w) { h = (h ^ w) * 1099511628211ull; }
  void feed(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    total += n;
    size_t i = 0;
    while (held > 0 && held < 8 && i < n) carry[held++] = p[i++];
    if (held == 8) {
      uint64_t w;
      std::memcpy(&w, carry, 8);
      word(w);
      held = 0;
    }
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      word(w);
    }
    for (; i < n; ++i) carry[held++] = p[i];
  }
  // The end of one byte run: its trailing bytes one word each, then its length.
  void end_run() {
    for (size_t i = 0; i < held; ++i) word(carry[i]);
    word(total);
    held = 0, total = 0;
  }
};
}  // namespace

namespace {
// Both digests over one byte stream: the legacy word hash and XXH3-128 of
// the same words and bytes (words as 8 little-endian bytes).
struct BothHashes {
  WordHash legacy;
  XXH3_state_t* strong = XXH3_createState();
  BothHashes() { XXH3_128bits_reset(strong); }
  ~BothHashes() { XXH3_freeState(strong); }
  BothHashes(const BothHashes&) = delete;
  BothHashes& operator=(const BothHashes&) = delete;
  void word(uint64_t w) {
    legacy.word(w);
    XXH3_128bits_update(strong, &w, sizeof w);
  }
  void feed(const void* p, size_t n) {
    legacy.feed(p, n);
    XXH3_128bits_update(strong, p, n);
  }
  void end_run() {
    const uint64_t total = legacy.total;
    legacy.end_run();
    XXH3_128bits_update(strong, &total, sizeof total);
  }
};
}  // namespace

DataDigests dataset_digests(const Dataset& d) {
  BothHashes hash;
  hash.word(uint64_t(d.classes));
  for (const ImageSet* s : {&d.train, &d.test}) {
    for (int v : {s->n, s->c, s->h, s->w}) hash.word(uint64_t(v));
    constexpr int64_t kRows = 256;  // streamed images read at a time, on every core
    if (s->whole) {  // what the store keeps: each whole image, its sides first
      for (int64_t lo = 0; lo < s->n; lo += kRows)
        for (const WholeImage& im : read_whole_rows(*s, lo, std::min<int64_t>(lo + kRows, s->n))) {
          const uint64_t sides[2] = {uint64_t(im.h), uint64_t(im.w)};
          hash.feed(sides, sizeof sides);
          hash.feed(im.pixels.data(), im.pixels.size());
        }
    } else if (s->streamed()) {
      for (int64_t lo = 0; lo < s->n; lo += kRows) {
        auto px = read_image_rows(*s, lo, std::min<int64_t>(lo + kRows, s->n));
        hash.feed(px.data_ptr<uint8_t>(), size_t(px.numel()));
      }
    } else {
      hash.feed(s->pixels.data(), s->pixels.size());
    }
    hash.end_run();
    hash.feed(s->labels.data(), s->labels.size() * sizeof(int64_t));
    hash.end_run();
  }
  const XXH128_hash_t x = XXH3_128bits_digest(hash.strong);
  return {fmt::format("{:016x}", hash.legacy.h), fmt::format("{:016x}{:016x}", x.high64, x.low64)};
}

std::string dataset_fingerprint(const Dataset& d) { return dataset_digests(d).legacy; }

bool data_needs_fingerprint(const DataConfig& c) {
  if (c.name == "synthetic") return false;
  return !(c.name == "fashion_mnist" && c.path.empty());
}

Dataset load_dataset(const DataConfig& c, const LoadContext& ctx) {
  Dataset d = load_registered_dataset(c, ctx);
  check_labels(d);  // before subsets, so an index is the loader's own
  const uint64_t seed = ctx.seed;
  d.train = take_subset(pad_images(d.train, c.pad), c.subset, c.subset_mode, seed);
  d.test = take_subset(pad_images(d.test, c.pad), c.test_subset, c.subset_mode, seed + 1);
  // A prepared folder stays on disk unless both splits fit the budget as float.
  // Whole images stay there too: memory holds squares, crops need the whole.
  if ((d.train.streamed() || d.test.streamed()) && !c.whole_images && fits_resident(d, c)) {
    d.train = make_resident(d.train);
    d.test = make_resident(d.test);
  }
  if (c.resolution > 0 && c.name != "image_folder") {  // image_folder is prepared at it
    d.train = resize_images(d.train, c.resolution);
    d.test = resize_images(d.test, c.resolution);
  }
  return d;
}

}  // namespace ldae
