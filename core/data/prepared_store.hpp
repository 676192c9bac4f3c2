// The prepared-data store: a dataset's images decoded once at the run's
// resolution into uint8 chunk files on disk, so preparing ImageNet is done
// once, in parallel over every core, and resumes where it stopped.
//
//   <dir>/train-00000.chunk ...   each: "LDAECHK3", int64 n, c, h, w, labels
//   <dir>/test-00000.chunk  ...   int64[n], CRC-32 uint32[n] of each image's
//                                 pixels, CRC-32 uint32 of all the bytes before
//                                 it, then pixels uint8 (n, c, h, w)
//   <dir>/manifest.json           written last: the store is complete
//
// With whole images (data.whole_images) each image is kept whole, its
// shorter side at the run's resolution, so random resized crops can be cut
// from all of it (core/data/whole_crop.hpp); a chunk is then "LDAECHK4",
// int64 n, c, side, 0, int32 (h, w)[n], labels int64[n], the CRCs as above
// (the head's covering the sides), then each image's pixels uint8 (c, h, w)
// one after another, and the centre side x side of each image is what every
// other reader sees: the pixels a store of centre crops holds, bit for bit.
//
// Every read checks what it reads: a chunk's head when its split is opened,
// an image's pixels each time they are read, so a flipped bit on a disk or
// a network file system fails with the chunk named instead of training on
// other pixels; deleting that chunk makes the next run prepare it, and only
// it, again. Chunks written before the checksums ("LDAECHK1", "LDAECHK2":
// the same without the CRCs) are read as they were, unchecked.
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

// A chunk file's magic and int64 n, c, h, w, before the rest of its head.
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
// chunks written so far stay. A complete store missing chunk files (deleted
// after a failed checksum) has them prepared again, in its manifest's
// layout. Returns the manifest of the complete store.
// chunk_images: files per chunk, 0 = store_chunk_images (tests pass small ones).
// whole: `decode` gives whole images, shorter side `side` (format 2).
StoreManifest prepare_store(const StoreSource& src, const std::string& dir, int side, bool skip_bad,
                            const ImageDecoder& decode, int threads, int64_t chunk_images = 0, bool whole = false);

// The manifest of a complete store, or false when `dir` holds none.
bool read_store_manifest(const std::string& dir, StoreManifest* m);

// A file as stat(2) saw it: a chunk prepared again (perhaps in another
// layout) is another file even where it got the inode its deleted one freed.
struct FileId {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_s = 0, mtime_ns = 0;
  bool operator==(const FileId& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_s == o.mtime_s && mtime_ns == o.mtime_ns;
  }
};

// What a split's chunk heads list, read once when it is opened (their own
// CRCs checked), beside the labels its ImageSet holds: 4 bytes an image, and
// with the reader's offsets 20 for whole images (5 and 26 MB for ImageNet's
// train split).
struct StoreIndex {
  std::vector<uint32_t> crcs;      // every image's pixels' CRC-32 (0 where its chunk has none)
  std::vector<int32_t> dims;       // whole stores: (h, w) of every image; else empty
  std::vector<char> checked;       // per chunk: its images carry CRCs (chunks written before do not)
  std::vector<int64_t> pixels_at;  // per chunk: byte offset of its first image's pixels
  std::vector<FileId> file_ids;    // per chunk: the file its head was read from
};

// Random access to one split of a complete store: image i's pixels by
// pread(2) from its chunk (any number of threads at once), checked against
// its CRC-32 (zlib's: 4.2 GB/s on one core of the 2-core VM, about 50 us
// for a 256-px image).
class StoreReader {
 public:
  // index: as open_store_split reads it from the split's chunk heads.
  // std::logic_error when its sizes do not fit the manifest's counts.
  StoreReader(std::string dir, const StoreManifest& m, const std::string& split, StoreIndex index);
  int64_t size() const { return starts_.back(); }
  int channels() const { return c_; }
  int side() const { return side_; }
  bool whole() const { return whole_; }
  // Image i into pixels (c * side * side bytes: of a whole image, its centre
  // square) and, unless label is null, *label. InputError naming the chunk
  // when it is missing, short or prepared again since the split was opened,
  // or the image fails its checksum (the fix: delete that chunk and run
  // again; prepare_store makes it again).
  void read(int64_t i, uint8_t* pixels, int64_t* label) const;
  // Whole image i: *h, *w and its pixels (c, h, w) into *pixels (resized).
  // std::logic_error on a store of centre crops; errors as read.
  void read_whole(int64_t i, std::vector<uint8_t>* pixels, int* h, int* w) const;

 private:
  // Chunk j and image k in it of image i.
  std::pair<size_t, int64_t> locate(int64_t i) const;
  // Image i's `bytes` stored pixels (whole: the whole image) into dst,
  // checked, and its label into *label unless null (checked with its
  // chunk's head when the split was opened).
  void read_checked(int64_t i, uint8_t* dst, size_t bytes, int64_t* label) const;
  std::string dir_, split_;
  int c_, side_;
  bool whole_;
  std::vector<int64_t> counts_, starts_;  // images per chunk; first index of each (+ total)
  StoreIndex index_;
  std::vector<int64_t> offsets_;  // whole images: where image i's pixels start in its chunk's pixels
};

// Every image of one split ("train" or "test") in order, resident.
// InputError naming the chunk for a missing, truncated or inconsistent one,
// or an image that fails its checksum.
ImageSet read_store_split(const std::string& dir, const StoreManifest& m, const std::string& split);
// One split streamed: its labels (read from the chunks' label blocks) and a
// reader of the store; no pixels are read. Same errors as read_store_split.
ImageSet open_store_split(const std::string& dir, const StoreManifest& m, const std::string& split);

}  // namespace ldae
