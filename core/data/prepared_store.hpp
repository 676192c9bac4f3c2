// The prepared-data store: a dataset's images decoded once at the run's
// resolution into uint8 chunk files on disk, so preparing ImageNet is done
// once, in parallel over every core, and resumes where it stopped.
//
//   <dir>/train-00000.chunk ...   each: "LDAECHK1", int64 n, c, h, w, then
//   <dir>/test-00000.chunk  ...   labels int64[n], then pixels uint8 (n, c, h, w)
//   <dir>/manifest.json           written last: the store is complete
//
// With whole images (data.whole_images) each image is kept whole, its
// shorter side at the run's resolution, so random resized crops can be cut
// from all of it (core/data/whole_crop.hpp); a chunk is then "LDAECHK2",
// int64 n, c, side, 0, int32 (h, w)[n], labels int64[n], then each image's
// pixels uint8 (c, h, w) one after another, and the centre side x side of
// each image is what every other reader sees: the pixels a store of centre
// crops holds, bit for bit.
//
// Why chunk files and not one HDF5 dataset: Debian's HDF5 1.10 is built
// without thread safety, so loader threads would take turns behind one
// library lock; plain files are read by every thread at once (pread), and
// a chunk written atomically (temporary + rename) either exists whole or not
// at all, which makes an interrupted preparation resume at its last complete
// chunk without any bookkeeping.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/data/data.hpp"

namespace ldae {

// What to prepare: each split's image files in order, with their labels.
struct StoreSource {
  struct Item {
    std::string path;
    int64_t label;
  };
  std::vector<Item> train, test;
  int classes = 0;
  std::string description;  // e.g. the folder's absolute path (kept in the manifest)
};

struct StoreManifest {
  int classes = 0, channels = 3, side = 0;
  int64_t chunk_images = 0;                        // files per chunk before skipped ones
  std::vector<int64_t> train_counts, test_counts;  // images kept per chunk
  int64_t train_n = 0, test_n = 0, skipped = 0;
  std::string source;
  bool whole = false;  // whole images, shorter side `side` (format 2)
};

// A whole image keeps at most this many times its shorter side along its
// longer one (the centre part of a longer panorama: 1.5 MB at 256 px), so
// one odd file cannot take a loader thread's memory.
inline constexpr int kMaxWholeAspect = 8;

// A chunk file: "LDAECHK1", int64 n, c, h, w, labels int64[n], pixels
// (whole images: "LDAECHK2", as above).
inline constexpr int64_t kChunkHeaderBytes = 8 + 4 * 8;
// <dir>/<split>-NNNNN.chunk, chunk j of a split ("train" or "test").
std::string store_chunk_path(const std::string& dir, const std::string& split, int64_t j);

// Files per chunk for images of c x side x side: about 32 MiB of pixels a
// chunk (170 images at 256 px), at least 16, so a worker holds one chunk.
int64_t store_chunk_images(int c, int side);

// How an image file becomes (c, side, side) uint8: decode, resize, crop
// (whole images: (c, h, w), min(h, w) = side). InputError for an unreadable file.
using ImageDecoder = std::function<ImageSet(const std::string& path)>;

// Prepares the store in `dir` (created) from `src`, or finishes one an
// earlier process left incomplete: only missing chunks are decoded, by
// `threads` workers (0 = default_threads()), with a progress line and ETA on stderr.
// Safe when several processes start at once: one prepares (it holds
// <dir>.lock, flock(2)), the others wait for it and then read. An unreadable
// image is an InputError naming it, or, with skip_bad, skipped and counted.
// A stop request (Ctrl-C) ends it at the next image with Interrupted; the
// chunks written so far stay. Returns the manifest of the complete store.
// chunk_images: files per chunk, 0 = store_chunk_images (tests pass small ones).
// whole: `decode` gives whole images, shorter side `side` (format 2).
StoreManifest prepare_store(const StoreSource& src, const std::string& dir, int side, bool skip_bad,
                            const ImageDecoder& decode, int threads, int64_t chunk_images = 0, bool whole = false);

// The manifest of a complete store, or false when `dir` holds none.
bool read_store_manifest(const std::string& dir, StoreManifest* m);

// Random access to one split of a complete store: image i's pixels and label
// by pread(2) from its chunk (any number of threads at once).
class StoreReader {
 public:
  // dims: a whole store's (h, w) of every image of the split, in order, as
  // the checked chunk heads list them (open_store_split reads them once,
  // with the labels); empty for a store of centre crops.
  StoreReader(std::string dir, const StoreManifest& m, const std::string& split,
              const std::vector<int32_t>& dims = {});
  int64_t size() const { return starts_.back(); }
  int channels() const { return c_; }
  int side() const { return side_; }
  bool whole() const { return whole_; }
  // Image i into pixels (c * side * side bytes: of a whole image, its centre
  // square) and *label. InputError naming the chunk when it is missing or short.
  void read(int64_t i, uint8_t* pixels, int64_t* label) const;
  // Whole image i: *h, *w and its pixels (c, h, w) into *pixels (resized).
  // std::logic_error on a store of centre crops; errors as read.
  void read_whole(int64_t i, std::vector<uint8_t>* pixels, int* h, int* w) const;

 private:
  // Chunk j and image k in it of image i.
  std::pair<size_t, int64_t> locate(int64_t i) const;
  std::string dir_, split_;
  int c_, side_;
  bool whole_;
  std::vector<int64_t> counts_, starts_;  // images per chunk; first index of each (+ total)
  // Whole images: (h, w) of image i and where its pixels start in its chunk
  // (16 bytes an image: 20 MB for ImageNet's train split).
  std::vector<std::pair<int32_t, int32_t>> dims_;
  std::vector<int64_t> offsets_;
};

// Every image of one split ("train" or "test") in order, resident.
// InputError naming the chunk for a missing, truncated or inconsistent one.
ImageSet read_store_split(const std::string& dir, const StoreManifest& m, const std::string& split);
// One split streamed: its labels (read from the chunks' label blocks) and a
// reader of the store; no pixels are read. Same errors as read_store_split.
ImageSet open_store_split(const std::string& dir, const StoreManifest& m, const std::string& split);

}  // namespace ldae
