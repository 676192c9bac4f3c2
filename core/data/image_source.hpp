// Reading a split's images by index, whether they are resident (ImageSet
// pixels) or streamed from the prepared-data store, as uint8 or as the float
// images a run sees; and the rule that decides which of the two a run holds.
// Memory: what a call returns, never the split.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/data/data.hpp"

namespace ldae {

// Images idx (B,) int64 of `s` as (B, C, H, W) uint8. Streamed sets are read
// by pread(2) on up to `threads` threads (0 = LibTorch's intra-op thread
// count, which --threads sets). InputError naming the chunk for a damaged
// store; std::out_of_range for an index outside [0, n).
torch::Tensor read_images(const ImageSet& s, const torch::Tensor& idx, int threads = 0);
// Random resized crops + flips of images idx (B,) of a set that keeps
// whole images (s.whole), as torchvision's RandomResizedCrop(out_side,
// scale, interpolation=BICUBIC) + RandomHorizontalFlip on the decoded
// image (core/data/whole_crop.hpp): image k's box and flip are drawn from
// CropDraws(step_seed(seed, first + k)), so a batch split over processes
// (first = a rank's offset in the global batch) draws what one process
// draws. -> (B, C, out_side, out_side) uint8. Threads as read_images.
// With s.files (data.crops_from = "files") each crop is cut, the same way,
// from the image's original file decoded whole (InputError naming a file
// that no longer decodes). std::logic_error for a set without whole images.
torch::Tensor read_crops(const ImageSet& s, const torch::Tensor& idx, double scale_lo, double scale_hi,
                         int64_t out_side, uint64_t seed, int64_t first = 0, int threads = 0);
// Whole images [lo, hi) of such a set, in order, read on up to `threads`
// threads (as read_images): each one's sides and (C, h, w) pixels.
// std::logic_error for a set without whole images; std::out_of_range
// outside [0, n).
struct WholeImage {
  int h = 0, w = 0;
  std::vector<uint8_t> pixels;
};
std::vector<WholeImage> read_whole_rows(const ImageSet& s, int64_t lo, int64_t hi, int threads = 0);
// Images [lo, hi) of `s` as (hi - lo, C, H, W) uint8.
torch::Tensor read_image_rows(const ImageSet& s, int64_t lo, int64_t hi, int threads = 0);
// uint8 (B, C, H, W) -> float32 in [-1, 1] (normalize) or [0, 1]: x / 255,
// then 2x - 1, in float32, so a batch is bit for bit the rows of the whole set
// converted at once. Memory: the result alone (computed in place).
torch::Tensor images_to_float(const torch::Tensor& u8, bool normalize);

// A split as float batches read on demand: what the tokenizer's fit, the
// probes' features and fine-tuning read. read(idx (B,) int64) -> (B, C, H, W)
// float32, rows(lo, hi) -> (hi - lo, C, H, W).
// crop: the random resized crops of a set that keeps whole images (set by
// image_batches for one; empty otherwise): see crop_images.
struct ImageBatches {
  int64_t n = 0;
  int c = 0, h = 0, w = 0;
  bool whole = false;  // crops come from whole images
  std::function<torch::Tensor(const torch::Tensor&)> read;
  std::function<torch::Tensor(int64_t, int64_t)> rows;
  std::function<torch::Tensor(const torch::Tensor&, double, double, int64_t, torch::Device,
                              std::optional<at::Generator>)>
      crop;
};
// Random resized crops + flips of images idx of `b`, (B, C, S, S) float32
// on `device` (S = out_side, or b.h when 0), each covering [scale_lo,
// scale_hi] of its image's area, flipped with probability 1/2: from the
// whole images where the set keeps them (b.crop: read_crops, seeded by one
// draw of gen, else of the global generator); else
// random_resized_crop_flip (core/data/augment.hpp) of b.read(idx) on
// `device`, drawing from gen (else the global generator).
torch::Tensor crop_images(const ImageBatches& b, const torch::Tensor& idx, double scale_lo, double scale_hi,
                          int64_t out_side, torch::Device device, std::optional<at::Generator> gen = std::nullopt);
// Batches of `s` (which must outlive them) as float images.
ImageBatches image_batches(const ImageSet& s, bool normalize);
// Batches of a resident float tensor (N, C, H, W) (kept by the batches).
ImageBatches image_batches(const torch::Tensor& images);

// Bytes of both splits as float32 (n x c x h x w x 4 each).
double float_bytes(const Dataset& d);
// Whether a dataset of these splits is held in memory: its float32 size is at
// most data.resident_max_gb GiB (the rule of DataConfig::resident_max_gb).
bool fits_resident(const Dataset& d, const DataConfig& c);
// A streamed split read into memory (pixels filled, store dropped); a
// resident one as it is.
ImageSet make_resident(const ImageSet& s);

}  // namespace ldae
