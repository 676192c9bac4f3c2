// Datasets as uint8 images + labels, prepared once at the configured size.
// Registry (core/registry.cpp): fashion_mnist (Debian's dataset-fashion-mnist),
// cifar10 (binary batches), image_folder (class-per-folder JPEG/PNG trees,
// cached as HDF5), synthetic (class prototypes + noise, for tests).
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

// Where a loader may keep prepared data (image_folder's HDF5 cache).
struct LoadContext {
  uint64_t seed = 0;
  std::string cache_dir = "results/cache";
};

Dataset load_fashion_mnist(const DataConfig& c);
Dataset make_synthetic(const DataConfig& c, uint64_t seed);

// CIFAR-10 binary version: data.path holds data_batch_1..5.bin and
// test_batch.bin, each record = 1 label byte + 3072 bytes (3 x 32 x 32).
inline const char* kCifar10Dir = "data/cifar-10-batches-bin";
Dataset load_cifar10(const DataConfig& c);
ImageSet read_cifar_batch(const std::string& path);

// ImageNet-style tree: data.path/{train,val}/<class>/<image>.{jpg,jpeg,png};
// classes are the sorted folder names of train/. Each image is decoded
// (libjpeg-turbo, libpng), converted to RGB, its shorter side resized to
// data.resolution (antialiased bilinear) and centre-cropped. The result is
// cached as uint8 in HDF5 (LoadContext::cache_dir) and reused. An unreadable
// image is an InputError naming it, unless data.skip_bad, which skips and
// counts (the count is printed and kept in the cache file).
Dataset load_image_folder(const DataConfig& c, const LoadContext& ctx);
// Decode one JPEG or PNG to (C = 3, H, W) uint8. Throws InputError naming
// the file for anything unreadable.
ImageSet decode_image(const std::string& path);
// Shorter side to `side` (antialiased bilinear), then the centre side x side.
ImageSet resize_center_crop(const ImageSet& one_image, int side);
// Every image of a set resized to side x side (data.resolution).
ImageSet resize_images(const ImageSet& in, int side);
// Cheap check that a dataset's files are where the config says, so a sweep
// fails before its first run rather than in the middle. Throws InputError.
void check_data_available(const DataConfig& c);

// The registry's loader for c.name (core/registry.cpp).
Dataset load_registered_dataset(const DataConfig& c, const LoadContext& ctx);
// Dispatch on c.name, then pad, resize and take subsets as configured.
Dataset load_dataset(const DataConfig& c, const LoadContext& ctx = {});

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
