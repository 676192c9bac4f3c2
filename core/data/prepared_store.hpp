// The prepared-data store: a dataset's images decoded once at the run's
// resolution into uint8 chunk files on disk, so preparing ImageNet is done
// once, in parallel over every core, and resumes where it stopped.
//
//   <dir>/train-00000.chunk ...   each: "LDAECHK1", int64 n, c, h, w, then
//   <dir>/test-00000.chunk  ...   labels int64[n], then pixels uint8 (n, c, h, w)
//   <dir>/manifest.json           written last: the store is complete
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
};

// A chunk file: "LDAECHK1", int64 n, c, h, w, labels int64[n], pixels.
inline constexpr int64_t kChunkHeaderBytes = 8 + 4 * 8;
// <dir>/<split>-NNNNN.chunk, chunk j of a split ("train" or "test").
std::string store_chunk_path(const std::string& dir, const std::string& split, int64_t j);

// Files per chunk for images of c x side x side: about 32 MiB of pixels a
// chunk (170 images at 256 px), at least 16, so a worker holds one chunk.
int64_t store_chunk_images(int c, int side);

// How an image file becomes (c, side, side) uint8: decode, resize, crop.
// InputError for an unreadable file.
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
StoreManifest prepare_store(const StoreSource& src, const std::string& dir, int side, bool skip_bad,
                            const ImageDecoder& decode, int threads, int64_t chunk_images = 0);

// The manifest of a complete store, or false when `dir` holds none.
bool read_store_manifest(const std::string& dir, StoreManifest* m);

// Random access to one split of a complete store: image i's pixels and label
// by pread(2) from its chunk (any number of threads at once).
class StoreReader {
 public:
  StoreReader(std::string dir, const StoreManifest& m, const std::string& split);
  int64_t size() const { return starts_.back(); }
  int channels() const { return c_; }
  int side() const { return side_; }
  // Image i into pixels (c * side * side bytes) and *label. InputError naming
  // the chunk when it is missing or short.
  void read(int64_t i, uint8_t* pixels, int64_t* label) const;

 private:
  std::string dir_, split_;
  int c_, side_;
  std::vector<int64_t> counts_, starts_;  // images per chunk; first index of each (+ total)
};

// Every image of one split ("train" or "test") in order, resident.
// InputError naming the chunk for a missing, truncated or inconsistent one.
ImageSet read_store_split(const std::string& dir, const StoreManifest& m, const std::string& split);
// One split streamed: its labels (read from the chunks' label blocks) and a
// reader of the store; no pixels are read. Same errors as read_store_split.
ImageSet open_store_split(const std::string& dir, const StoreManifest& m, const std::string& split);

}  // namespace ldae
