// Datasets as uint8 images + labels, prepared once at the configured size.
// Registry (core/data/registry.cpp): fashion_mnist (Debian's dataset-fashion-mnist),
// cifar10 (binary batches), image_folder (class-per-folder JPEG/PNG trees,
// cached as HDF5), synthetic (class prototypes + noise, for tests).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace ldae {

class StoreReader;  // core/data/prepared_store.hpp
class SourceFiles;  // core/data/source_files.hpp
struct StoreSource;  // core/data/prepared_store.hpp

// A split's images: resident (pixels) or streamed from the prepared-data
// store (pixels empty; image i is row rows[i] of `store`, or row i when rows
// is empty). Read either kind by index with core/data/image_source.hpp.
struct ImageSet {
  int n = 0, c = 1, h = 0, w = 0;
  std::vector<uint8_t> pixels;  // (n, c, h, w) row-major; empty when streamed
  std::vector<int64_t> labels;  // (n,)
  std::shared_ptr<const StoreReader> store;
  std::vector<int64_t> rows;
  // Streamed from a store of whole images (data.whole_images): h x w is then
  // each image's centre square, and crops are cut from the whole image
  // (read_crops, core/data/image_source.hpp).
  bool whole = false;
  // With data.crops_from = "files": the original file of each store row;
  // read_crops then cuts the crops from the decoded file, not the store.
  std::shared_ptr<const SourceFiles> files;
  bool streamed() const { return store != nullptr; }
};

struct Dataset {
  std::string name;
  int classes = 0;
  ImageSet train, test;
};

// Where the Debian package puts the gzipped IDX files.
inline const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Where a loader may keep prepared data (image_folder's store, under
// cache_dir/prepared/) and how many threads may prepare it (0 = default_threads(): core/base/threads.hpp).
struct LoadContext {
  uint64_t seed = 0;
  std::string cache_dir = "results/cache";
  int threads = 0;
};

Dataset load_fashion_mnist(const DataConfig& c);
Dataset make_synthetic(const DataConfig& c, uint64_t seed);

// CIFAR-10 binary version: data.path holds data_batch_1..5.bin and
// test_batch.bin, each record = 1 label byte + 3072 bytes (3 x 32 x 32).
// read_cifar_batch throws InputError naming the file for a truncated batch
// and, with the record index and value, for a label byte outside 0..9.
inline const char* kCifar10Dir = "data/cifar-10-batches-bin";
Dataset load_cifar10(const DataConfig& c);
ImageSet read_cifar_batch(const std::string& path);

// ImageNet-style tree: data.path/{train,val}/<class>/<image>.{jpg,jpeg,png};
// classes are the sorted folder names of train/, labels their indices. Each
// image is decoded (decode_image), its shorter side resized to
// data.resolution (antialiased bilinear) and centre-cropped. The result is
// prepared once into the chunked uint8 store (core/data/prepared_store.hpp,
// under LoadContext::cache_dir/prepared/) by every core, resumably, one
// process at a time, and reused without reading the images again (a cache
// of an earlier version, one HDF5 file, is read as before). An unreadable
// image is an InputError naming it, unless data.skip_bad, which skips and
// counts (the count is printed and kept in the cache file). InputError also
// for a val/ class folder that train/ lacks (its images would have no label),
// images lying directly in val/ (ImageNet's flat validation layout), an
// empty val/, and a cache file whose labels are outside 0..classes-1.
Dataset load_image_folder(const DataConfig& c, const LoadContext& ctx);
// Decode one JPEG or PNG to (C = 3, H, W) uint8 RGB.
// JPEG: grey, YCbCr and RGB through libjpeg-turbo; CMYK and YCCK (Photoshop
// files, ~22 in ImageNet's train set) converted per pixel, Adobe-inverted
// when the file has an Adobe APP14 marker (R = C K / 255, libjpeg-turbo's
// cmyk.h cmyk_to_rgb) and plain ink amounts otherwise
// (R = (255 - C)(255 - K) / 255, Pillow's Convert.c cmyk2rgb).
// PNG: every colour type and depth (grey 1/2/4/8/16 bit, grey + alpha, RGB,
// RGBA, palette, any tRNS, interlaced), as Pillow's open + convert("RGB"):
// 16-bit colour and grey + alpha samples keep their high byte, 16-bit grey
// (Pillow's "I;16") saturates at 255, alpha and transparency are dropped.
// Throws InputError naming the file for anything unreadable.
// min_side > 0 (data.jpeg_draft): a JPEG is decoded at libjpeg-turbo's DCT
// scale m/8, the smallest m whose output keeps the shorter side >= min_side
// (Pillow's Image.draft); PNGs and small JPEGs are decoded whole.
ImageSet decode_image(const std::string& path, int min_side = 0);
// How a decoder change reaches stores prepared before it: each format's
// decoding has a version, and one above 1 enters the store key of every
// folder that lists a file of that format (store_key_tags), so a fix
// prepares those folders again once and leaves the others' keys as they
// were. Bump a format's version whenever decode_image gives other pixels
// for some file of it. PNG 2 (2026-12-07): 16-bit grey as Pillow's "I;16"
// (saturating, was its high byte).
inline constexpr int kJpegDecodeVersion = 1, kPngDecodeVersion = 2;
// The tags of an image folder's store key beyond its path, resolution, skip
// policy and listing: "|jpeg_draft", "|whole", "|<data.resize>" when set
// away from their defaults, then "|jpeg<v>" / "|png<v>" for a decoder
// version v above 1 of a format the listing holds (by extension, any case);
// "" for JPEGs at the defaults, so such stores keep the keys they had
// before each tag existed.
std::string store_key_tags(const DataConfig& c, const StoreSource& src);
// How an image_folder image's shorter side reaches data.resolution
// (data.resize):
//   kBilinear ("bilinear", the default): one antialiased bilinear resize,
//     the longer side in proportion (rounded, at least side);
//   kDit ("dit"): DiT's center_crop_arr (train.py, from ADM's
//     guided_diffusion/image_datasets.py) on the decoded image: Pillow BOX
//     halvings (each side // 2) while the shorter side is >= 2 x side, then
//     Pillow BICUBIC to round(x * side / shorter) on both sides (Python's
//     half-to-even round), to the byte (core/data/center_crop_arr.hpp).
// The centre square of either is cut at ((h - side) / 2, (w - side) / 2),
// as center_crop_arr does.
enum class ResizeRule { kBilinear, kDit };
// "bilinear" | "dit" -> the rule; std::invalid_argument otherwise (the key's
// choices are checked when the sweep is read).
ResizeRule resize_rule(const std::string& name);
// Shorter side to `side` by `rule`, then the centre side x side.
ImageSet resize_center_crop(const ImageSet& one_image, int side, ResizeRule rule = ResizeRule::kBilinear);
// Shorter side to `side` by `rule`, the longer in proportion: the whole
// image resize_center_crop crops.
ImageSet resize_shorter_side(const ImageSet& one_image, int side, ResizeRule rule = ResizeRule::kBilinear);
// The image a whole-image store keeps (data.whole_images): resize_shorter_side,
// then, beyond kMaxWholeAspect x side along the longer side, the centre part
// of that length, placed so its centre square is resize_center_crop's.
ImageSet resize_whole(const ImageSet& one_image, int side, ResizeRule rule = ResizeRule::kBilinear);
// Every image of a set resized to side x side (data.resolution).
ImageSet resize_images(const ImageSet& in, int side);
// Cheap check that a dataset's files are where the config says, so a sweep
// fails before its first run rather than in the middle. Throws InputError.
void check_data_available(const DataConfig& c);

// A content fingerprint of a prepared dataset (16 hex digits): both splits'
// shapes, pixels and labels and the class count, hashed 8 bytes at a time
// (FNV-1a 64 over words; ~1 GB/s), so two folders with the same class names
// but other images differ, and a copy of a folder elsewhere does not.
std::string dataset_fingerprint(const Dataset& d);
// Both content digests of a prepared dataset in one pass over the same bytes
// as dataset_fingerprint: `legacy`, that 64-bit word hash (16 hex digits:
// what run ids have carried; flipping the top bit of two adjacent words
// cancels in it), and `strong`, XXH3-128 (32 hex digits, Debian's
// libxxhash), which data identity checks against (core/run/run_data.cpp
// data_fingerprint_in_root).
struct DataDigests {
  std::string legacy, strong;
};
DataDigests dataset_digests(const Dataset& d);
// Whether a data config's content can differ under the same settings (a
// user's folder: data.path given, or cifar10 / image_folder at their default
// place): then run ids, tokenizer and model caches carry its fingerprint.
// The default Fashion-MNIST (the Debian package) and synthetic data are fixed
// by their settings alone, and keep their ids.
bool data_needs_fingerprint(const DataConfig& c);

// The dataset registry (core/data/registry.cpp), keyed by data.name: its
// names, the loader for c.name, a dataset's image channels (1 for grey
// Fashion-MNIST) and the image side a run sees (data.resolution, else the
// native side + 2 x pad; 0 for an unknown name).
std::vector<std::string> dataset_names();
Dataset load_registered_dataset(const DataConfig& c, const LoadContext& ctx);
int dataset_channels(const std::string& dataset);
int dataset_image_side(const DataConfig& c);
// Dispatch on c.name, check every label (check_labels), then pad, resize and
// take subsets as configured.
Dataset load_dataset(const DataConfig& c, const LoadContext& ctx = {});

// Read one gzipped IDX file (images: magic 2051, labels: 2049). Throws
// InputError naming the path for a missing, truncated or malformed file, and
// for a label outside 0..classes-1 (naming its index and value).
ImageSet read_idx_images(const std::string& path);
std::vector<int64_t> read_idx_labels(const std::string& path, int classes);

// The backstop load_dataset applies to every registered loader: classes > 0,
// one label per image and every label in [0, classes). Throws InputError
// naming the dataset, the split, the first bad index and its value; a loader
// that reads labels from files checks them itself first, naming the file.
void check_labels(const Dataset& d);

// Zero-pad every image by `pad` pixels on each side (28 -> 32 with pad 2);
// zero maps to -1 after normalisation, the background value.
ImageSet pad_images(const ImageSet& in, int pad);
// Keep n images: the first n, or a seeded random sample (sorted, so the
// order of the remaining images is stable).
ImageSet take_subset(const ImageSet& in, int n, const std::string& mode, uint64_t seed);

}  // namespace ldae
