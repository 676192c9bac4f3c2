// Datasets as uint8 images + labels, prepared once at the configured size.
// Registry (core/registry.cpp): fashion_mnist (Debian's dataset-fashion-mnist),
// synthetic (class prototypes + noise, for tests).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace ldae {

struct ImageSet {
  int n = 0, c = 1, h = 0, w = 0;
  std::vector<uint8_t> pixels;  // (n, c, h, w) row-major
  std::vector<int64_t> labels;  // (n,)
};

struct Dataset {
  std::string name;
  int classes = 0;
  ImageSet train, test;
};

// Where the Debian package puts the gzipped IDX files.
inline const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

Dataset load_fashion_mnist(const DataConfig& c);
Dataset make_synthetic(const DataConfig& c, uint64_t seed);
// Cheap check that a dataset's files are where the config says, so a sweep
// fails before its first run rather than in the middle. Throws InputError.
void check_data_available(const DataConfig& c);

// The registry's loader for c.name (core/registry.cpp).
Dataset load_registered_dataset(const DataConfig& c, uint64_t seed);
// Dispatch on c.name, then pad and take subsets as configured.
Dataset load_dataset(const DataConfig& c, uint64_t seed);

// Read one gzipped IDX file (images: magic 2051, labels: 2049). Throws
// InputError naming the path for a missing, truncated or malformed file.
ImageSet read_idx_images(const std::string& path);
std::vector<int64_t> read_idx_labels(const std::string& path);

// Zero-pad every image by `pad` pixels on each side (28 -> 32 with pad 2);
// zero maps to -1 after normalisation, the background value.
ImageSet pad_images(const ImageSet& in, int pad);
// Keep n images: the first n, or a seeded random sample (sorted, so the
// order of the remaining images is stable).
ImageSet take_subset(const ImageSet& in, int n, const std::string& mode, uint64_t seed);

}  // namespace ldae
