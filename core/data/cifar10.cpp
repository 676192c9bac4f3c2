// CIFAR-10, binary version: 10000 records of 3073 bytes per batch file.
#include <fmt/core.h>

#include <cstdio>
#include <fstream>

#include "core/data/data.hpp"
#include "core/base/errors.hpp"

namespace ldae {

ImageSet read_cifar_batch(const std::string& path) {
  constexpr size_t kRecord = 1 + 3 * 32 * 32;
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f)
    throw InputError(fmt::format("{}: cannot open CIFAR-10 batch; set data.path to the folder of "
                                 "the binary version (data_batch_1.bin ... test_batch.bin)",
                                 path));
  const auto size = size_t(f.tellg());
  if (size == 0 || size % kRecord != 0)
    throw InputError(fmt::format("{}: {} bytes is not a whole number of 3073-byte records "
                                 "(truncated or not a CIFAR-10 binary batch); download it again",
                                 path, size));
  f.seekg(0);
  std::vector<uint8_t> raw(size);
  if (!f.read(reinterpret_cast<char*>(raw.data()), std::streamsize(size)))
    throw InputError(path + ": read error");
  ImageSet s;
  s.n = int(size / kRecord), s.c = 3, s.h = 32, s.w = 32;
  s.pixels.resize(size_t(s.n) * 3072);
  s.labels.resize(size_t(s.n));
  for (int i = 0; i < s.n; ++i) {
    const uint8_t* rec = raw.data() + size_t(i) * kRecord;
    // Checked here, naming the batch, rather than by load_dataset's backstop.
    if (rec[0] > 9)
      throw InputError(fmt::format(
          "{}: label {} at record {} (byte offset {}) is outside 0..9 (10 classes); the file is "
          "corrupt or not CIFAR-10 (CIFAR-100's records have 2 label bytes). Download "
          "cifar-10-binary.tar.gz again (https://www.cs.toronto.edu/~kriz/cifar.html) and set "
          "data.path to its cifar-10-batches-bin folder",
          path, int(rec[0]), i, size_t(i) * kRecord));
    s.labels[size_t(i)] = rec[0];
    std::copy(rec + 1, rec + kRecord, s.pixels.begin() + ptrdiff_t(i) * 3072);
  }
  return s;
}

Dataset load_cifar10(const DataConfig& c) {
  const std::string dir = c.path.empty() ? kCifar10Dir : c.path;
  Dataset d;
  d.name = "cifar10";
  d.classes = 10;
  d.train.c = 3, d.train.h = 32, d.train.w = 32;
  for (int b = 1; b <= 5; ++b) {
    ImageSet part = read_cifar_batch(fmt::format("{}/data_batch_{}.bin", dir, b));
    d.train.n += part.n;
    d.train.pixels.insert(d.train.pixels.end(), part.pixels.begin(), part.pixels.end());
    d.train.labels.insert(d.train.labels.end(), part.labels.begin(), part.labels.end());
  }
  d.test = read_cifar_batch(dir + "/test_batch.bin");
  return d;
}

}  // namespace ldae
