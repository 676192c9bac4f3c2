#include "core/data/prepared_store.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
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

constexpr char kMagic[8] = {'L', 'D', 'A', 'E', 'C', 'H', 'K', '1'};
constexpr char kWholeMagic[8] = {'L', 'D', 'A', 'E', 'C', 'H', 'K', '2'};

// What a chunk holds per image: its int64 label and 3 x side x side uint8 pixels.
uint64_t bytes_per_image(int side) { return 8 + uint64_t(3) * side * side; }

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
  std::vector<uint8_t> pixels;
  pixels.reserve(size_t((job.end - job.begin) * int64_t(3) * side * side));
  int64_t skipped = 0;
  for (int64_t i = job.begin; i < job.end; ++i, ++done) {
    if (stop || stop_requested()) return skipped;
    const auto& item = (*job.items)[size_t(i)];
    ImageSet one;
    try {
      one = decode(item.path);
    } catch (const InputError&) {
      if (!skip_bad) throw;
      ++skipped;
      continue;
    }
    check_decoded(one, item.path, side, whole);
    pixels.insert(pixels.end(), one.pixels.begin(), one.pixels.end());
    labels.push_back(item.label);
    dims.insert(dims.end(), {int32_t(one.h), int32_t(one.w)});
  }
  const int64_t n = int64_t(labels.size());
  const int64_t header[4] = {n, 3, side, whole ? 0 : side};
  const uint64_t dim_bytes = whole ? dims.size() * sizeof(int32_t) : 0;
  write_file_atomically(store_chunk_path(dir, job.split, job.index), [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    f.write(whole ? kWholeMagic : kMagic, 8);
    f.write(reinterpret_cast<const char*>(header), sizeof(header));
    if (whole) f.write(reinterpret_cast<const char*>(dims.data()), std::streamsize(dim_bytes));
    f.write(reinterpret_cast<const char*>(labels.data()), std::streamsize(labels.size() * sizeof(int64_t)));
    f.write(reinterpret_cast<const char*>(pixels.data()), std::streamsize(pixels.size()));
    f.close();
    if (!f) throw InputError(tmp + ": write failed");
  }, uint64_t(kChunkHeaderBytes) + dim_bytes + uint64_t(n) * 8 + pixels.size());
  return skipped;
}

// A chunk's header, checked: its image count and, whole, each image's (h, w).
struct ChunkHead {
  std::string path;
  int64_t n = 0;
  std::vector<int32_t> dims;
};

// The header of a chunk file; InputError when it is not one of this store
// (magic, channels, side, or a size other than its header implies).
ChunkHead read_chunk_head(const std::string& path, int side, bool whole) {
  const std::string folder = fs::path(path).parent_path().string();
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {0};
  int64_t h[4] = {0, 0, 0, 0};
  f.read(magic, 8);
  f.read(reinterpret_cast<char*>(h), sizeof(h));
  const bool head_ok = f && std::memcmp(magic, whole ? kWholeMagic : kMagic, 8) == 0 && h[1] == 3 &&
                       h[2] == side && h[3] == (whole ? 0 : side) && h[0] >= 0 && h[0] < (int64_t(1) << 40);
  if (!head_ok)
    throw InputError(fmt::format("{}: not a prepared chunk of 3 x {} x {} images{}; delete the folder {} to prepare "
                                 "the data again", path, side, side, whole ? " (whole)" : "", folder));
  ChunkHead c;
  c.path = path, c.n = h[0];
  uint64_t want = uint64_t(kChunkHeaderBytes) + uint64_t(c.n) * bytes_per_image(side);
  if (whole) {
    c.dims.resize(size_t(c.n) * 2);
    f.read(reinterpret_cast<char*>(c.dims.data()), std::streamsize(c.dims.size() * sizeof(int32_t)));
    want = uint64_t(kChunkHeaderBytes) + uint64_t(c.n) * 16;
    for (int64_t k = 0; f && k < c.n; ++k) {
      const int32_t ih = c.dims[size_t(2 * k)], iw = c.dims[size_t(2 * k + 1)];
      if (std::min(ih, iw) != side || std::max(ih, iw) > kMaxWholeAspect * side)
        throw InputError(fmt::format("{}: image {} is listed as {} x {}, not with a shorter side of {}; delete the "
                                     "folder {} to prepare the data again", path, k, ih, iw, side, folder));
      want += uint64_t(3) * uint64_t(ih) * uint64_t(iw);
    }
  }
  if (!f || fs::file_size(path) != want)
    throw InputError(fmt::format("{}: {} bytes, expected {}; delete the folder {} to prepare the data again", path,
                                 fs::file_size(path), want, folder));
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
    throw InputError(fmt::format("{}: unreadable manifest ({}); delete the folder {} to prepare the data again",
                                 path, e.what(), dir));
  }
  count_images(*m);
  return true;
}

StoreManifest prepare_store(const StoreSource& src, const std::string& dir, int side, bool skip_bad,
                            const ImageDecoder& decode, int threads, int64_t chunk_images, bool whole) {
  StoreManifest m;
  if (read_store_manifest(dir, &m)) return m;
  fs::create_directories(dir);
  // One process prepares; the others wait for it and then read.
  FileLock lock(dir + ".lock", "check that the cache folder is writable");
  if (!lock.try_lock()) {
    fmt::print(stderr, "waiting for another process preparing {}\n", dir);
    lock.wait("the wait for another process's data preparation");
  }
  if (read_store_manifest(dir, &m)) return m;  // another process finished it while we waited
  m.classes = src.classes, m.side = side, m.source = src.description, m.whole = whole;
  m.chunk_images = chunk_images > 0 ? chunk_images : store_chunk_images(3, side);
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
  if (kept > 0) fmt::print(stderr, "resuming the preparation of {}: {} images ready, {} to go\n", dir, kept, files);
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
  } catch (const InputError&) {
    // A bad image: the fix (removing it, data.skip_bad) makes another store,
    // so this one's chunks would only hold disk (gigabytes at ImageNet's size).
    // A stop (Interrupted) keeps them: the rerun resumes there.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().find(".chunk") != std::string::npos) fs::remove(e.path(), ec);
    throw;
  }
  // Counts from the chunks themselves, so skips of an earlier process count too.
  for (const auto* split : {"train", "test"}) {
    const auto& items = std::string(split) == "train" ? src.train : src.test;
    auto& counts = std::string(split) == "train" ? m.train_counts : m.test_counts;
    for (int64_t j = 0, b = 0; b < int64_t(items.size()); ++j, b += m.chunk_images) {
      counts.push_back(read_chunk_head(store_chunk_path(dir, split, j), side, whole).n);
      m.skipped += std::min<int64_t>(m.chunk_images, int64_t(items.size()) - b) - counts.back();
    }
  }
  count_images(m);
  write_manifest(dir, m);
  return m;
}

namespace {
// Chunk j of a split, checked against the manifest's count: its head.
ChunkHead listed_chunk(const std::string& dir, const std::string& split, int64_t j, int64_t count, int side,
                       bool whole) {
  const std::string path = store_chunk_path(dir, split, j);
  const ChunkHead head = fs::exists(path) ? read_chunk_head(path, side, whole) : ChunkHead{path, -1, {}};
  if (head.n != count)
    throw InputError(fmt::format("{}: missing or not the chunk the manifest lists ({} images); delete the "
                                 "folder {} to prepare the data again", path, count, dir));
  return head;
}
}  // namespace

namespace {
// Where chunk `path`'s labels start: after the header and, whole, the dims.
int64_t labels_at(bool whole, int64_t n) { return kChunkHeaderBytes + (whole ? 8 * n : 0); }

// A split's labels and, with pixels, its images (whole ones: their centre
// squares), chunk by chunk; a whole store's (h, w) of every image, as the
// checked chunk heads list them, appended to *dims.
ImageSet read_split(const std::string& dir, const StoreManifest& m, const std::string& split, bool pixels,
                    std::vector<int32_t>* dims) {
  const auto& counts = split == "train" ? m.train_counts : m.test_counts;
  ImageSet s;
  s.c = m.channels, s.h = m.side, s.w = m.side, s.whole = m.whole;
  const size_t per = size_t(s.c) * s.h * s.w;
  for (size_t j = 0; j < counts.size(); ++j) {
    const ChunkHead head = listed_chunk(dir, split, int64_t(j), counts[j], m.side, m.whole);
    dims->insert(dims->end(), head.dims.begin(), head.dims.end());
    std::ifstream f(head.path, std::ios::binary);
    f.seekg(labels_at(m.whole, counts[j]));
    const size_t at = s.labels.size();
    s.labels.resize(at + size_t(counts[j]));
    f.read(reinterpret_cast<char*>(s.labels.data() + at), std::streamsize(counts[j] * 8));
    if (pixels && !m.whole) {
      s.pixels.resize((at + size_t(counts[j])) * per);
      f.read(reinterpret_cast<char*>(s.pixels.data() + at * per), std::streamsize(size_t(counts[j]) * per));
    }
    if (!f) throw InputError(head.path + ": truncated; delete the folder " + dir + " to prepare the data again");
  }
  s.n = int(s.labels.size());
  if (pixels && m.whole) {
    const StoreReader reader(dir, m, split, *dims);
    s.pixels.resize(size_t(s.n) * per);
    int64_t label = 0;
    for (int64_t i = 0; i < s.n; ++i) reader.read(i, s.pixels.data() + size_t(i) * per, &label);
  }
  return s;
}

// A chunk file open for reads at offsets (pread: any number of threads);
// InputError naming it when it cannot be opened or read.
class ChunkFile {
 public:
  ChunkFile(std::string path, const std::string& dir) : path_(std::move(path)), dir_(dir) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw InputError(fmt::format("{}: cannot open ({}); delete {} to prepare the data again", path_,
                                              std::strerror(errno), dir_));
  }
  ~ChunkFile() { ::close(fd_); }
  ChunkFile(const ChunkFile&) = delete;
  ChunkFile& operator=(const ChunkFile&) = delete;
  // `bytes` at `at` into dst, of image `image` (for the message).
  void read(void* dst, size_t bytes, int64_t at, int64_t image) const {
    if (::pread(fd_, dst, bytes, off_t(at)) != ssize_t(bytes))
      throw InputError(fmt::format("{}: short read of image {}; delete {} to prepare the data again", path_, image,
                                   dir_));
  }

 private:
  std::string path_;
  const std::string& dir_;
  int fd_;
};
}  // namespace

ImageSet read_store_split(const std::string& dir, const StoreManifest& m, const std::string& split) {
  std::vector<int32_t> dims;
  return read_split(dir, m, split, true, &dims);
}

StoreReader::StoreReader(std::string dir, const StoreManifest& m, const std::string& split,
                         const std::vector<int32_t>& dims)
    : dir_(std::move(dir)), split_(split), c_(m.channels), side_(m.side), whole_(m.whole),
      counts_(split == "train" ? m.train_counts : m.test_counts) {
  starts_.push_back(0);
  for (int64_t n : counts_) starts_.push_back(starts_.back() + n);
  if (!whole_) return;
  if (dims.size() != size_t(starts_.back()) * 2)
    throw std::logic_error(fmt::format("StoreReader: {} sides for {} whole images", dims.size(), starts_.back()));
  dims_.reserve(size_t(starts_.back()));
  offsets_.reserve(size_t(starts_.back()));
  for (size_t j = 0, i = 0; j < counts_.size(); ++j)
    for (int64_t k = 0, at = 0; k < counts_[j]; ++k, ++i) {
      const int32_t h = dims[2 * i], w = dims[2 * i + 1];
      dims_.emplace_back(h, w);
      offsets_.push_back(at);
      at += int64_t(c_) * h * w;
    }
}

std::pair<size_t, int64_t> StoreReader::locate(int64_t i) const {
  const size_t j = size_t(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
  return {j, i - starts_[j]};
}

void StoreReader::read(int64_t i, uint8_t* pixels, int64_t* label) const {
  const auto [j, k] = locate(i);
  const int64_t n = counts_[j], per = int64_t(c_) * side_ * side_;
  const ChunkFile f(store_chunk_path(dir_, split_, int64_t(j)), dir_);
  f.read(label, 8, labels_at(whole_, n) + 8 * k, k);
  if (!whole_) return f.read(pixels, size_t(per), kChunkHeaderBytes + 8 * n + k * per, k);
  // The centre side x side of the whole image, as resize_center_crop cuts it.
  thread_local std::vector<uint8_t> img;
  const auto [h, w] = dims_[size_t(i)];
  img.resize(size_t(c_) * size_t(h) * size_t(w));
  f.read(img.data(), img.size(), kChunkHeaderBytes + 16 * n + offsets_[size_t(i)], k);
  const int y0 = (h - side_) / 2, x0 = (w - side_) / 2;
  for (int c = 0; c < c_; ++c)
    for (int y = 0; y < side_; ++y)
      std::memcpy(pixels + (size_t(c) * side_ + size_t(y)) * size_t(side_),
                  img.data() + (size_t(c) * size_t(h) + size_t(y0 + y)) * size_t(w) + size_t(x0), size_t(side_));
}

void StoreReader::read_whole(int64_t i, std::vector<uint8_t>* pixels, int* h, int* w) const {
  if (!whole_) throw std::logic_error("StoreReader::read_whole on a store of centre crops");
  const auto [j, k] = locate(i);
  *h = dims_[size_t(i)].first, *w = dims_[size_t(i)].second;
  pixels->resize(size_t(c_) * size_t(*h) * size_t(*w));
  const ChunkFile f(store_chunk_path(dir_, split_, int64_t(j)), dir_);
  f.read(pixels->data(), pixels->size(), kChunkHeaderBytes + 16 * counts_[j] + offsets_[size_t(i)], k);
}

ImageSet open_store_split(const std::string& dir, const StoreManifest& m, const std::string& split) {
  std::vector<int32_t> dims;  // whole stores: each image's sides, read once with the chunk heads
  ImageSet s = read_split(dir, m, split, false, &dims);
  s.store = std::make_shared<StoreReader>(dir, m, split, dims);
  return s;
}

}  // namespace ldae
