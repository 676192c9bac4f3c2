#include "core/data/prepared_store.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/base/atomic_file.hpp"
#include "core/base/file_lock.hpp"
#include "core/base/errors.hpp"
#include "core/base/progress.hpp"
#include "core/base/stop.hpp"
#include "core/base/threads.hpp"

namespace ldae {
namespace fs = std::filesystem;
namespace {

// Chunks written before per-image checksums (1: centre crops, 2: whole
// images) are still read, unchecked; this version writes 3 and 4.
constexpr char kMagic[8] = {'L', 'D', 'A', 'E', 'C', 'H', 'K', '1'};
constexpr char kWholeMagic[8] = {'L', 'D', 'A', 'E', 'C', 'H', 'K', '2'};
constexpr char kCheckedMagic[8] = {'L', 'D', 'A', 'E', 'C', 'H', 'K', '3'};
constexpr char kCheckedWholeMagic[8] = {'L', 'D', 'A', 'E', 'C', 'H', 'K', '4'};

// An image that does not decode, as opposed to the storage failing: only
// it removes a first preparation's chunks (prepare_store).
struct BadImage : InputError {
  using InputError::InputError;
};

// zlib's CRC-32 of n bytes (4 GB/s on one core here: 50 us for a 256-px image).
uint32_t crc_of(const void* data, size_t n, uint32_t crc = 0) {
  const auto* p = static_cast<const Bytef*>(data);
  for (size_t done = 0; done < n;) {  // crc32 takes a uInt length
    const size_t part = std::min<size_t>(n - done, size_t(1) << 30);
    crc = uint32_t(crc32(crc, p + done, uInt(part)));
    done += part;
  }
  return crc;
}

// What a chunk holds per image: its int64 label, uint32 CRC and 3 x side x
// side uint8 pixels.
uint64_t bytes_per_image(int side) { return 12 + uint64_t(3) * side * side; }

// One chunk to prepare: files [begin, end) of a split.
struct Job {
  std::string split;
  int64_t index, begin, end;
  const std::vector<StoreSource::Item>* items;
};

// A decoded image the store can hold: 1 x 3 x side x side, or whole with its
// shorter side `side`. std::logic_error otherwise (a decoder's bug).
void check_decoded(const ImageSet& one, const std::string& path, int side, bool whole) {
  const bool ok = one.n == 1 && one.c == 3 &&
                  (whole ? std::min(one.h, one.w) == side && std::max(one.h, one.w) <= kMaxWholeAspect * side
                         : one.h == side && one.w == side);
  if (!ok)
    throw std::logic_error(fmt::format("{}: decoded to {}x{}x{}x{}, not 1x3x{}x{}{}", path, one.n, one.c, one.h,
                                       one.w, side, side, whole ? " (shorter side)" : ""));
}

// Decodes a job's files and writes its chunk atomically. Returns the files
// it skipped (skip_bad); `stop` ends it early without writing.
int64_t prepare_chunk(const Job& job, const std::string& dir, int side, bool skip_bad, bool whole,
                      const ImageDecoder& decode, std::atomic<int64_t>& done, const std::atomic<bool>& stop) {
  std::vector<int64_t> labels;
  std::vector<int32_t> dims;  // whole: (h, w) per image
  std::vector<uint32_t> crcs;  // each image's pixels' CRC-32
  std::vector<uint8_t> pixels;
  pixels.reserve(size_t((job.end - job.begin) * int64_t(3) * side * side));
  int64_t skipped = 0;
  for (int64_t i = job.begin; i < job.end; ++i, ++done) {
    if (stop || stop_requested()) return skipped;
    const auto& item = (*job.items)[size_t(i)];
    ImageSet one;
    try {
      one = decode(item.path);
    } catch (const InputError& e) {
      if (!skip_bad) throw BadImage(e.what());
      ++skipped;
      continue;
    }
    check_decoded(one, item.path, side, whole);
    crcs.push_back(crc_of(one.pixels.data(), one.pixels.size()));
    pixels.insert(pixels.end(), one.pixels.begin(), one.pixels.end());
    labels.push_back(item.label);
    dims.insert(dims.end(), {int32_t(one.h), int32_t(one.w)});
  }
  const int64_t n = int64_t(labels.size());
  // The head: magic, (n, c, h, w), whole images' sides, labels, the images'
  // CRCs, then the CRC of all of that, so a flipped label or side fails too.
  std::string head(whole ? kCheckedWholeMagic : kCheckedMagic, 8);
  const int64_t header[4] = {n, 3, side, whole ? 0 : side};
  const auto put = [&head](const void* p, size_t bytes) { head.append(static_cast<const char*>(p), bytes); };
  put(header, sizeof(header));
  if (whole) put(dims.data(), dims.size() * sizeof(int32_t));
  put(labels.data(), labels.size() * sizeof(int64_t));
  put(crcs.data(), crcs.size() * sizeof(uint32_t));
  const uint32_t head_crc = crc_of(head.data(), head.size());
  put(&head_crc, 4);
  write_file_atomically(store_chunk_path(dir, job.split, job.index), [&](const std::string& tmp) {
    // The errno goes with the failure: write_file_atomically tells a full
    // disk or a file size limit (ENOSPC, EFBIG) by it, and says the fix.
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw std::system_error(errno ? errno : EIO, std::generic_category(), "cannot create " + tmp);
    f.write(head.data(), std::streamsize(head.size()));
    f.write(reinterpret_cast<const char*>(pixels.data()), std::streamsize(pixels.size()));
    f.flush();
    if (!f) throw std::system_error(errno ? errno : EIO, std::generic_category(), "cannot write " + tmp);
    f.close();
    if (f.fail()) throw std::system_error(errno ? errno : EIO, std::generic_category(), "cannot close " + tmp);
  }, uint64_t(head.size()) + pixels.size());
  return skipped;
}

// A chunk's head, checked: its image count, labels and where its pixels
// start; whole, each image's (h, w); checked (format 3 and 4), each image's
// CRC-32, the head's own CRC having matched.
struct ChunkHead {
  std::string path;
  FileId file_id;  // the file it was read from, to tell a rebuilt one
  int64_t n = 0;
  std::vector<int32_t> dims;
  std::vector<int64_t> labels;
  std::vector<uint32_t> crcs;  // empty: a chunk written before checksums
  int64_t pixels_at = 0;       // byte offset of the first image's pixels
};

// The fix for any damage confined to one chunk: prepare_store makes a
// deleted chunk again, and only it.
std::string redo_chunk(const std::string& path) {
  return fmt::format("delete {} and run again: only this chunk's images are prepared again", path);
}

// A chunk that cannot be opened or stat'ed (errno err): missing (deleted
// after a failed checksum, while this process ran), or not readable.
std::string unreadable_chunk(const std::string& path, int err) {
  if (err == ENOENT)
    return fmt::format("{}: missing (deleted since this run opened the store?); run again: missing chunks are "
                       "prepared again", path);
  return fmt::format("{}: cannot read it ({}); make it readable and run again", path, std::strerror(err));
}

FileId file_id_of(const struct stat& st) {
  return {uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size), int64_t(st.st_mtim.tv_sec),
          int64_t(st.st_mtim.tv_nsec)};
}

// Image k of a chunk whose pixels no longer match their CRC.
std::string damaged_image(const std::string& path, int64_t k) {
  return fmt::format("{}: image {} of this chunk fails its checksum: the file changed after it was written (a disk, "
                     "memory or file-system fault); {}", path, k, redo_chunk(path));
}

// The head of a chunk file; InputError when it is not one of this store
// (magic, channels, side, its head's checksum, or a size other than its head
// implies).
ChunkHead read_chunk_head(const std::string& path, int side, bool whole) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(unreadable_chunk(path, errno));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(unreadable_chunk(path, errno ? errno : EACCES));
  char magic[8] = {0};
  int64_t h[4] = {0, 0, 0, 0};
  f.read(magic, 8);
  f.read(reinterpret_cast<char*>(h), sizeof(h));
  const bool checked = std::memcmp(magic, whole ? kCheckedWholeMagic : kCheckedMagic, 8) == 0;
  const uint64_t size = uint64_t(st.st_size);
  const bool head_ok = f && (checked || std::memcmp(magic, whole ? kWholeMagic : kMagic, 8) == 0) && h[1] == 3 &&
                       h[2] == side && h[3] == (whole ? 0 : side) && h[0] >= 0 && uint64_t(h[0]) <= size / 8;
  if (!head_ok)
    throw InputError(fmt::format("{}: not a prepared chunk of 3 x {} x {} images{}; {}", path, side, side,
                                 whole ? " (whole)" : "", redo_chunk(path)));
  ChunkHead c;
  c.path = path, c.n = h[0], c.file_id = file_id_of(st);
  const auto read = [&f](auto& v, size_t count) {
    v.resize(count);
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(count * sizeof(v[0])));
  };
  if (whole) read(c.dims, size_t(c.n) * 2);
  read(c.labels, size_t(c.n));
  c.pixels_at = kChunkHeaderBytes + (whole ? 8 * c.n : 0) + 8 * c.n;
  if (checked) {
    read(c.crcs, size_t(c.n));
    uint32_t stored = 0;
    f.read(reinterpret_cast<char*>(&stored), 4);
    uint32_t crc = crc_of(magic, 8);
    crc = crc_of(h, sizeof(h), crc);
    crc = crc_of(c.dims.data(), c.dims.size() * sizeof(int32_t), crc);
    crc = crc_of(c.labels.data(), c.labels.size() * sizeof(int64_t), crc);
    crc = crc_of(c.crcs.data(), c.crcs.size() * sizeof(uint32_t), crc);
    if (f && crc != stored)
      throw InputError(fmt::format("{}: its head (labels, sizes, checksums) fails its checksum: the file changed "
                                   "after it was written (a disk, memory or file-system fault); {}", path,
                                   redo_chunk(path)));
    c.pixels_at += 4 * c.n + 4;
  }
  uint64_t want = uint64_t(c.pixels_at) + (whole ? 0 : uint64_t(c.n) * 3 * uint64_t(side) * uint64_t(side));
  for (int64_t k = 0; f && whole && k < c.n; ++k) {
    const int32_t ih = c.dims[size_t(2 * k)], iw = c.dims[size_t(2 * k + 1)];
    if (std::min(ih, iw) != side || std::max(ih, iw) > kMaxWholeAspect * side)
      throw InputError(fmt::format("{}: image {} is listed as {} x {}, not with a shorter side of {}; {}", path, k,
                                   ih, iw, side, redo_chunk(path)));
    want += uint64_t(3) * uint64_t(ih) * uint64_t(iw);
  }
  if (!f || size != want)
    throw InputError(fmt::format("{}: {} bytes, expected {}; {}", path, size, want, redo_chunk(path)));
  return c;
}

// Runs the jobs on `threads` workers with a progress line; rethrows the
// first worker's error, or Interrupted after a stop request.
int64_t run_jobs(const std::vector<Job>& jobs, const std::string& dir, int side, bool skip_bad, bool whole,
                 const ImageDecoder& decode, int threads, int64_t total_files) {
  if (jobs.empty()) return 0;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> done{0}, skipped{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex mu;
  auto work = [&] {
    for (size_t j; !stop && (j = next++) < jobs.size();) {
      try {
        skipped += prepare_chunk(jobs[j], dir, side, skip_bad, whole, decode, done, stop);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  Progress progress("prepare", total_files, std::max<int64_t>(1, total_files / 20), 1, nullptr);
  int64_t shown = -1;
  for (auto last = std::chrono::steady_clock::now(); done < total_files && !stop && !stop_requested();) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (done != shown && std::chrono::steady_clock::now() - last > std::chrono::milliseconds(250))
      progress.update(shown = done, 0, "images"), last = std::chrono::steady_clock::now();
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  check_stop("image preparation (the chunks written so far are kept: it resumes there)");
  if (done != shown) progress.update(done, 0, "images");
  return skipped;
}

// train_n, test_n from the chunks' counts.
void count_images(StoreManifest& m) {
  m.train_n = m.test_n = 0;
  for (auto k : m.train_counts) m.train_n += k;
  for (auto k : m.test_counts) m.test_n += k;
}

void write_manifest(const std::string& dir, const StoreManifest& m) {
  const nlohmann::json j = {{"format", m.whole ? 2 : 1},     {"classes", m.classes},
                            {"channels", m.channels},          {"side", m.side},
                            {"chunk_images", m.chunk_images},  {"train_counts", m.train_counts},
                            {"test_counts", m.test_counts},    {"skipped", m.skipped},
                            {"source", m.source}};
  write_text_atomically(dir + "/manifest.json", j.dump(1) + "\n");
}

// m's counts from the chunks themselves, so skips of an earlier process
// count too.
void count_from_chunks(const StoreSource& src, const std::string& dir, StoreManifest& m) {
  for (const auto* split : {"train", "test"}) {
    const auto& items = std::string(split) == "train" ? src.train : src.test;
    auto& counts = std::string(split) == "train" ? m.train_counts : m.test_counts;
    for (int64_t j = 0, b = 0; b < int64_t(items.size()); ++j, b += m.chunk_images) {
      counts.push_back(read_chunk_head(store_chunk_path(dir, split, j), m.side, m.whole).n);
      m.skipped += std::min<int64_t>(m.chunk_images, int64_t(items.size()) - b) - counts.back();
    }
  }
  count_images(m);
}

// How many of the chunk files a manifest lists are not in `dir`.
int64_t missing_chunks(const std::string& dir, const StoreManifest& m) {
  int64_t missing = 0;
  for (const auto* split : {"train", "test"}) {
    const auto& counts = std::string(split) == "train" ? m.train_counts : m.test_counts;
    for (size_t j = 0; j < counts.size(); ++j) missing += !fs::exists(store_chunk_path(dir, split, int64_t(j)));
  }
  return missing;
}

}  // namespace

std::string store_chunk_path(const std::string& dir, const std::string& split, int64_t j) {
  return fmt::format("{}/{}-{:05d}.chunk", dir, split, j);
}

int64_t store_chunk_images(int c, int side) {
  return std::max<int64_t>(16, (int64_t(32) << 20) / (int64_t(c) * side * side));
}

bool read_store_manifest(const std::string& dir, StoreManifest* m) {
  const std::string path = dir + "/manifest.json";
  if (!fs::exists(path)) return false;
  try {
    const auto j = nlohmann::json::parse(std::ifstream(path));
    m->classes = j.at("classes"), m->channels = j.at("channels"), m->side = j.at("side");
    m->chunk_images = j.at("chunk_images");
    m->train_counts = j.at("train_counts").get<std::vector<int64_t>>();
    m->test_counts = j.at("test_counts").get<std::vector<int64_t>>();
    m->skipped = j.at("skipped"), m->source = j.at("source");
    m->whole = j.value("format", 1) == 2;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: unreadable manifest ({}); delete it and run again: the chunks are counted "
                                 "again (none is decoded again)", path, e.what()));
  }
  count_images(*m);
  return true;
}

StoreManifest prepare_store(const StoreSource& src, const std::string& dir, int side, bool skip_bad,
                            const ImageDecoder& decode, int threads, int64_t chunk_images, bool whole) {
  StoreManifest m;
  if (read_store_manifest(dir, &m) && missing_chunks(dir, m) == 0) return m;
  fs::create_directories(dir);
  // One process prepares; the others wait for it and then read.
  FileLock lock(dir + ".lock", "check that the cache folder is writable");
  if (!lock.try_lock()) {
    fmt::print(stderr, "waiting for another process preparing {}\n", dir);
    lock.wait("the wait for another process's data preparation");
  }
  // Complete, perhaps by another process while we waited; or complete once
  // and a chunk since deleted (a damaged one, as its error says): the chunk
  // is made again in the manifest's layout, and only it.
  int64_t listed_chunk_images = 0;
  if (read_store_manifest(dir, &m)) {
    const int64_t missing = missing_chunks(dir, m);
    if (missing == 0) return m;
    fmt::print(stderr, "{}: {} chunk file(s) missing: preparing them again\n", dir, missing);
    listed_chunk_images = m.chunk_images;
  }
  m = StoreManifest{};
  m.classes = src.classes, m.side = side, m.source = src.description, m.whole = whole;
  m.chunk_images = listed_chunk_images > 0 ? listed_chunk_images
                   : chunk_images > 0      ? chunk_images
                                           : store_chunk_images(3, side);
  std::vector<Job> jobs;
  int64_t files = 0, kept = 0;
  for (const auto* split : {"train", "test"}) {
    const auto& items = std::string(split) == "train" ? src.train : src.test;
    for (int64_t j = 0, b = 0; b < int64_t(items.size()); ++j, b += m.chunk_images) {
      const Job job{split, j, b, std::min<int64_t>(b + m.chunk_images, int64_t(items.size())), &items};
      if (fs::exists(store_chunk_path(dir, split, j))) {
        kept += job.end - job.begin;
        continue;
      }
      files += job.end - job.begin;
      jobs.push_back(job);
    }
  }
  if (kept > 0) fmt::print(stderr, "resuming the preparation of {}: {} files done, {} to go\n", dir, kept, files);
  // The store's size is known before the first image: said, and refused when
  // the disk cannot hold it (data.resolution = 4096 on small images is 48 MiB each).
  // Whole images: at least the centre squares; ImageNet's 4:3 photos take a
  // third more, which the line says.
  const uint64_t bytes = uint64_t(files) * bytes_per_image(side);
  if (files > 0) {
    fmt::print(stderr, "preparing {} images at {} x {}{} into {}: {}{:.2f} GiB\n", files, side, side,
               whole ? " (whole, shorter side)" : "", dir, whole ? "at least " : "",
               double(bytes) / double(1ull << 30));
    require_free_space(dir, bytes, fmt::format("the prepared data ({} images at {} x {})", files, side, side));
  }
  if (threads <= 0) threads = default_threads();
  threads = int(std::min<int64_t>(threads, std::max<int64_t>(1, int64_t(jobs.size()))));
  try {
    run_jobs(jobs, dir, side, skip_bad, whole, decode, threads, files);
  } catch (const BadImage& e) {
    // A bad image: the fix (removing it, data.skip_bad) makes another store,
    // so this one's chunks would only hold disk (gigabytes at ImageNet's size).
    // A stop (Interrupted) or the storage failing (a full disk) keeps them:
    // the rerun resumes there. A store that was complete keeps them too: its
    // files decoded once, so what fails now is their access, not the image.
    if (listed_chunk_images > 0)
      throw InputError(fmt::format("preparing the missing chunks of {} again: {}. That file decoded when the store "
                                   "was first prepared, so its access fails now (permissions, a mount?): restore it "
                                   "and run again (removing it or changing data.skip_bad would make another store, "
                                   "all of whose images are prepared again)", dir, e.what()));
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().find(".chunk") != std::string::npos) fs::remove(e.path(), ec);
    throw;
  }
  count_from_chunks(src, dir, m);
  write_manifest(dir, m);
  return m;
}

namespace {
// Chunk j of a split, checked against the manifest's count: its head.
ChunkHead listed_chunk(const std::string& dir, const std::string& split, int64_t j, int64_t count, int side,
                       bool whole) {
  const std::string path = store_chunk_path(dir, split, j);
  ChunkHead head = read_chunk_head(path, side, whole);  // missing: "run again"
  if (head.n != count)
    throw InputError(fmt::format("{}: {} images, not the {} the store's manifest lists; {}", path, head.n, count,
                                 redo_chunk(path)));
  return head;
}
}  // namespace

namespace {
// A chunk file open for reads at offsets (pread: any number of threads),
// checked to be the file its head was read from (file_id): a chunk prepared
// again since (another process repaired it) may have another layout, so it
// is an error to read, not pixels at the old offsets. InputError naming it
// when it cannot be opened or read.
class ChunkFile {
 public:
  ChunkFile(std::string path, const FileId& file_id) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw InputError(unreadable_chunk(path_, errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !(file_id_of(st) == file_id)) {
      ::close(fd_);
      throw InputError(fmt::format("{}: prepared again since this run opened the store (another process repaired "
                                   "it?); run again to read it as it is now", path_));
    }
  }
  ~ChunkFile() { ::close(fd_); }
  ChunkFile(const ChunkFile&) = delete;
  ChunkFile& operator=(const ChunkFile&) = delete;
  // `bytes` at `at` into dst, of image `image` (for the message).
  void read(void* dst, size_t bytes, int64_t at, int64_t image) const {
    if (::pread(fd_, dst, bytes, off_t(at)) != ssize_t(bytes))
      throw InputError(fmt::format("{}: short read of image {}; {}", path_, image, redo_chunk(path_)));
  }

 private:
  std::string path_;
  int fd_;
};

// A split's labels and, with pixels, its images (whole ones: their centre
// squares), chunk by chunk, each image checked against its CRC where its
// chunk has them; *index gets what the checked chunk heads list.
ImageSet read_split(const std::string& dir, const StoreManifest& m, const std::string& split, bool pixels,
                    StoreIndex* index) {
  const auto& counts = split == "train" ? m.train_counts : m.test_counts;
  ImageSet s;
  s.c = m.channels, s.h = m.side, s.w = m.side, s.whole = m.whole;
  const size_t per = size_t(s.c) * s.h * s.w;
  size_t total = 0;
  for (int64_t n : counts) total += size_t(n);
  s.labels.reserve(total);
  index->crcs.reserve(total);
  if (m.whole) index->dims.reserve(2 * total);
  for (size_t j = 0; j < counts.size(); ++j) {
    const ChunkHead head = listed_chunk(dir, split, int64_t(j), counts[j], m.side, m.whole);
    const size_t at = s.labels.size();
    index->dims.insert(index->dims.end(), head.dims.begin(), head.dims.end());
    s.labels.insert(s.labels.end(), head.labels.begin(), head.labels.end());
    index->crcs.insert(index->crcs.end(), head.crcs.begin(), head.crcs.end());
    if (head.crcs.empty()) index->crcs.resize(s.labels.size(), 0);
    index->checked.push_back(!head.crcs.empty());
    index->pixels_at.push_back(head.pixels_at);
    index->file_ids.push_back(head.file_id);
    if (!pixels || m.whole) continue;
    s.pixels.resize((at + size_t(counts[j])) * per);
    ChunkFile(head.path, head.file_id).read(s.pixels.data() + at * per, size_t(counts[j]) * per, head.pixels_at, 0);
    for (size_t k = 0; k < head.crcs.size(); ++k)
      if (crc_of(s.pixels.data() + (at + k) * per, per) != head.crcs[k])
        throw InputError(damaged_image(head.path, int64_t(k)));
  }
  s.n = int(s.labels.size());
  if (pixels && m.whole) {
    const StoreReader reader(dir, m, split, *index);
    s.pixels.resize(size_t(s.n) * per);
    for (int64_t i = 0; i < s.n; ++i) reader.read(i, s.pixels.data() + size_t(i) * per, nullptr);
  }
  return s;
}
}  // namespace

ImageSet read_store_split(const std::string& dir, const StoreManifest& m, const std::string& split) {
  StoreIndex index;
  return read_split(dir, m, split, true, &index);
}

StoreReader::StoreReader(std::string dir, const StoreManifest& m, const std::string& split, StoreIndex index)
    : dir_(std::move(dir)), split_(split), c_(m.channels), side_(m.side), whole_(m.whole),
      counts_(split == "train" ? m.train_counts : m.test_counts), index_(std::move(index)) {
  starts_.push_back(0);
  for (int64_t n : counts_) starts_.push_back(starts_.back() + n);
  const size_t n = size_t(starts_.back());
  const size_t chunks = counts_.size();
  if (index_.crcs.size() != n || index_.checked.size() != chunks || index_.pixels_at.size() != chunks ||
      index_.file_ids.size() != chunks || index_.dims.size() != (whole_ ? 2 * n : 0))
    throw std::logic_error(fmt::format("StoreReader: an index of {} CRCs, {} sides, {} chunk entries for {} images "
                                       "in {} chunks", index_.crcs.size(), index_.dims.size(),
                                       index_.pixels_at.size(), n, chunks));
  if (!whole_) return;
  offsets_.reserve(n);
  for (size_t j = 0, i = 0; j < counts_.size(); ++j)
    for (int64_t k = 0, at = 0; k < counts_[j]; ++k, ++i) {
      offsets_.push_back(at);
      at += int64_t(c_) * index_.dims[2 * i] * index_.dims[2 * i + 1];
    }
}

std::pair<size_t, int64_t> StoreReader::locate(int64_t i) const {
  const size_t j = size_t(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
  return {j, i - starts_[j]};
}

void StoreReader::read_checked(int64_t i, uint8_t* dst, size_t bytes, int64_t* label) const {
  const auto [j, k] = locate(i);
  const int64_t at = index_.pixels_at[j] + (whole_ ? offsets_[size_t(i)] : k * int64_t(bytes));
  const std::string path = store_chunk_path(dir_, split_, int64_t(j));
  const ChunkFile f(path, index_.file_ids[j]);
  if (label) f.read(label, 8, kChunkHeaderBytes + (whole_ ? 8 * counts_[j] : 0) + 8 * k, k);
  f.read(dst, bytes, at, k);
  if (index_.checked[j] && crc_of(dst, bytes) != index_.crcs[size_t(i)]) throw InputError(damaged_image(path, k));
}

void StoreReader::read(int64_t i, uint8_t* pixels, int64_t* label) const {
  const size_t per = size_t(c_) * size_t(side_) * size_t(side_);
  if (!whole_) return read_checked(i, pixels, per, label);
  // The centre side x side of the whole image, as resize_center_crop cuts it.
  thread_local std::vector<uint8_t> img;
  const int h = index_.dims[size_t(2 * i)], w = index_.dims[size_t(2 * i + 1)];
  img.resize(size_t(c_) * size_t(h) * size_t(w));
  read_checked(i, img.data(), img.size(), label);
  const int y0 = (h - side_) / 2, x0 = (w - side_) / 2;
  for (int c = 0; c < c_; ++c)
    for (int y = 0; y < side_; ++y)
      std::memcpy(pixels + (size_t(c) * side_ + size_t(y)) * size_t(side_),
                  img.data() + (size_t(c) * size_t(h) + size_t(y0 + y)) * size_t(w) + size_t(x0), size_t(side_));
}

void StoreReader::read_whole(int64_t i, std::vector<uint8_t>* pixels, int* h, int* w) const {
  if (!whole_) throw std::logic_error("StoreReader::read_whole on a store of centre crops");
  *h = index_.dims[size_t(2 * i)], *w = index_.dims[size_t(2 * i + 1)];
  pixels->resize(size_t(c_) * size_t(*h) * size_t(*w));
  read_checked(i, pixels->data(), pixels->size(), nullptr);
}

ImageSet open_store_split(const std::string& dir, const StoreManifest& m, const std::string& split) {
  StoreIndex index;  // CRCs, (whole) sides and chunk layouts, read once with the chunk heads
  ImageSet s = read_split(dir, m, split, false, &index);
  s.store = std::make_shared<StoreReader>(dir, m, split, std::move(index));
  return s;
}

}  // namespace ldae
