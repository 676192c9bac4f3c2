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
// reuse (data.crops_from = "files"): the originals of the last call's idx,
// decoded; a call with the same idx cuts from them instead of decoding the
// files again (a baseline's views of one step: DINO's 10 decode each file
// once), a call with other idx decodes and keeps its own. The same crops
// either way.
struct DecodedRows {
  torch::Tensor idx;           // (B,) int64, the rows decoded
  std::vector<ImageSet> images;  // their originals, in idx's order
};
torch::Tensor read_crops(const ImageSet& s, const torch::Tensor& idx, double scale_lo, double scale_hi,
                         int64_t out_side, uint64_t seed, int64_t first = 0, int threads = 0,
                         DecodedRows* reuse = nullptr);
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
// image_batches for one; empty otherwise): see crop_images. crop_with: the
// same crops for a seed given (crop draws it with crop_seed, then cuts
// with crop_with), (B, C, S, S) float32 on the CPU, cut on `threads`
// threads (reuse: read_crops's): a caller draws the seeds in order and cuts
// elsewhere.
struct ImageBatches {
  int64_t n = 0;
  int c = 0, h = 0, w = 0;
  bool whole = false;  // crops come from whole images
  std::function<torch::Tensor(const torch::Tensor&)> read;
  std::function<torch::Tensor(int64_t, int64_t)> rows;
  std::function<torch::Tensor(const torch::Tensor&, double, double, int64_t, torch::Device,
                              std::optional<at::Generator>)>
      crop;
  std::function<torch::Tensor(const torch::Tensor&, double, double, int64_t, uint64_t, int, DecodedRows*)> crop_with;
};
// The seed of one crop call: one draw of gen (else of the global generator).
uint64_t crop_seed(std::optional<at::Generator> gen);
// Random resized crops + flips of images idx of `b`, (B, C, S, S) float32
// on `device` (S = out_side, or b.h when 0), each covering [scale_lo,
// scale_hi] of its image's area, flipped with probability 1/2: from the
// whole images where the set keeps them (b.crop: read_crops, seeded by one
// draw of gen, else of the global generator); else
// random_resized_crop_flip (core/data/augment.hpp) of b.read(idx) on
// `device`, drawing from gen (else the global generator).
torch::Tensor crop_images(const ImageBatches& b, const torch::Tensor& idx, double scale_lo, double scale_hi,
                          int64_t out_side, torch::Device device, std::optional<at::Generator> gen = std::nullopt);
// The crops of images idx (B,) of `b` in chunks of `rows`, handed to
// use(crops (b, C, S, S) float32 on `device`, S = b.h) in order: as
// crop_images called chunk by chunk would make them, bit for bit (the
// chunks' seeds drawn first, in order, from the global generator: nothing
// between the calls may draw from it, which holds for the built-in
// tokenizers' encode and backbones in eval mode; a plugin's that drew from
// the global CPU generator there would see other crops). A set keeping whole images cuts
// chunk k + 1 on a background thread (the caller's thread count) while
// use() has chunk k, when `ahead`: the decoding and resizing overlap the
// caller's work (the probe's encoder on a GPU; on a CPU both would share
// the same cores). Otherwise, and for other sets, each chunk is cropped in
// turn (other sets: on the device). A cut's error is rethrown here.
void for_each_crop_chunk(const ImageBatches& b, const torch::Tensor& idx, int64_t rows, double scale_lo,
                         double scale_hi, torch::Device device, const std::function<void(const torch::Tensor&)>& use,
                         bool ahead = true);
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
