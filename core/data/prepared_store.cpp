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

// What a chunk holds per image: its int64 label and 3 x side x side uint8 pixels.
uint64_t bytes_per_image(int side) { return 8 + uint64_t(3) * side * side; }

// One chunk to prepare: files [begin, end) of a split.
struct Job {
  std::string split;
  int64_t index, begin, end;
  const std::vector<StoreSource::Item>* items;
};

// Decodes a job's files and writes its chunk atomically. Returns the files
// it skipped (skip_bad); `stop` ends it early without writing.
int64_t prepare_chunk(const Job& job, const std::string& dir, int side, bool skip_bad, const ImageDecoder& decode,
                      std::atomic<int64_t>& done, const std::atomic<bool>& stop) {
  const int64_t per = int64_t(3) * side * side;
  std::vector<int64_t> labels;
  std::vector<uint8_t> pixels;
  pixels.reserve(size_t((job.end - job.begin) * per));
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
    if (one.n != 1 || one.c != 3 || one.h != side || one.w != side)
      throw std::logic_error(fmt::format("{}: decoded to {}x{}x{}x{}, not 1x3x{}x{}", item.path, one.n, one.c,
                                         one.h, one.w, side, side));
    pixels.insert(pixels.end(), one.pixels.begin(), one.pixels.end());
    labels.push_back(item.label);
  }
  const int64_t n = int64_t(labels.size()), header[4] = {n, 3, side, side};
  write_file_atomically(store_chunk_path(dir, job.split, job.index), [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    f.write(kMagic, 8);
    f.write(reinterpret_cast<const char*>(header), sizeof(header));
    f.write(reinterpret_cast<const char*>(labels.data()), std::streamsize(labels.size() * sizeof(int64_t)));
    f.write(reinterpret_cast<const char*>(pixels.data()), std::streamsize(pixels.size()));
    f.close();
    if (!f) throw InputError(tmp + ": write failed");
  }, uint64_t(kChunkHeaderBytes) + uint64_t(n) * bytes_per_image(side));
  return skipped;
}

// The header of a chunk file: its image count; InputError when it is not one.
int64_t chunk_count(const std::string& path, int side) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {0};
  int64_t h[4] = {0, 0, 0, 0};
  f.read(magic, 8);
  f.read(reinterpret_cast<char*>(h), sizeof(h));
  if (!f || std::memcmp(magic, kMagic, 8) != 0 || h[1] != 3 || h[2] != side || h[3] != side || h[0] < 0)
    throw InputError(fmt::format("{}: not a prepared chunk of 3 x {} x {} images; delete the folder {} to "
                                 "prepare the data again", path, side, side, fs::path(path).parent_path().string()));
  const auto want = uint64_t(kChunkHeaderBytes) + uint64_t(h[0]) * bytes_per_image(side);
  if (fs::file_size(path) != want)
    throw InputError(fmt::format("{}: {} bytes, expected {}; delete the folder {} to prepare the data again", path,
                                 fs::file_size(path), want, fs::path(path).parent_path().string()));
  return h[0];
}

// Runs the jobs on `threads` workers with a progress line; rethrows the
// first worker's error, or Interrupted after a stop request.
int64_t run_jobs(const std::vector<Job>& jobs, const std::string& dir, int side, bool skip_bad,
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
        skipped += prepare_chunk(jobs[j], dir, side, skip_bad, decode, done, stop);
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
  const nlohmann::json j = {{"format", 1},           {"classes", m.classes},         {"channels", m.channels},
                            {"side", m.side},        {"chunk_images", m.chunk_images}, {"train_counts", m.train_counts},
                            {"test_counts", m.test_counts}, {"skipped", m.skipped},   {"source", m.source}};
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
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: unreadable manifest ({}); delete the folder {} to prepare the data again",
                                 path, e.what(), dir));
  }
  count_images(*m);
  return true;
}

StoreManifest prepare_store(const StoreSource& src, const std::string& dir, int side, bool skip_bad,
                            const ImageDecoder& decode, int threads, int64_t chunk_images) {
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
  m.classes = src.classes, m.side = side, m.source = src.description;
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
  const uint64_t bytes = uint64_t(files) * bytes_per_image(side);
  if (files > 0) {
    fmt::print(stderr, "preparing {} images at {} x {} into {}: {:.2f} GiB\n", files, side, side, dir,
               double(bytes) / double(1ull << 30));
    require_free_space(dir, bytes, fmt::format("the prepared data ({} images at {} x {})", files, side, side));
  }
  if (threads <= 0) threads = default_threads();
  threads = int(std::min<int64_t>(threads, std::max<int64_t>(1, int64_t(jobs.size()))));
  try {
    run_jobs(jobs, dir, side, skip_bad, decode, threads, files);
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
      counts.push_back(chunk_count(store_chunk_path(dir, split, j), side));
      m.skipped += std::min<int64_t>(m.chunk_images, int64_t(items.size()) - b) - counts.back();
    }
  }
  count_images(m);
  write_manifest(dir, m);
  return m;
}

namespace {
// Chunk j of a split, checked against the manifest's count: its path.
std::string listed_chunk(const std::string& dir, const std::string& split, int64_t j, int64_t count, int side) {
  const std::string path = store_chunk_path(dir, split, j);
  if (!fs::exists(path) || chunk_count(path, side) != count)
    throw InputError(fmt::format("{}: missing or not the chunk the manifest lists ({} images); delete the "
                                 "folder {} to prepare the data again", path, count, dir));
  return path;
}
}  // namespace

namespace {
// A split's labels and, with pixels, its images, chunk by chunk.
ImageSet read_split(const std::string& dir, const StoreManifest& m, const std::string& split, bool pixels) {
  const auto& counts = split == "train" ? m.train_counts : m.test_counts;
  ImageSet s;
  s.c = m.channels, s.h = m.side, s.w = m.side;
  const size_t per = size_t(s.c) * s.h * s.w;
  for (size_t j = 0; j < counts.size(); ++j) {
    const std::string path = listed_chunk(dir, split, int64_t(j), counts[j], m.side);
    std::ifstream f(path, std::ios::binary);
    f.seekg(kChunkHeaderBytes);
    const size_t at = s.labels.size();
    s.labels.resize(at + size_t(counts[j]));
    f.read(reinterpret_cast<char*>(s.labels.data() + at), std::streamsize(counts[j] * 8));
    if (pixels) {
      s.pixels.resize((at + size_t(counts[j])) * per);
      f.read(reinterpret_cast<char*>(s.pixels.data() + at * per), std::streamsize(size_t(counts[j]) * per));
    }
    if (!f) throw InputError(path + ": truncated; delete the folder " + dir + " to prepare the data again");
  }
  s.n = int(s.labels.size());
  return s;
}
}  // namespace

ImageSet read_store_split(const std::string& dir, const StoreManifest& m, const std::string& split) {
  return read_split(dir, m, split, true);
}

StoreReader::StoreReader(std::string dir, const StoreManifest& m, const std::string& split)
    : dir_(std::move(dir)), split_(split), c_(m.channels), side_(m.side),
      counts_(split == "train" ? m.train_counts : m.test_counts) {
  starts_.push_back(0);
  for (int64_t n : counts_) starts_.push_back(starts_.back() + n);
}

void StoreReader::read(int64_t i, uint8_t* pixels, int64_t* label) const {
  // The chunk holding image i, and i's place in it.
  const size_t j = size_t(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
  const int64_t k = i - starts_[j], n = counts_[j], per = int64_t(c_) * side_ * side_;
  const std::string path = store_chunk_path(dir_, split_, int64_t(j));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open ({}); delete {} to prepare the data again", path,
                                           std::strerror(errno), dir_));
  const int64_t header = kChunkHeaderBytes;
  const bool ok = ::pread(fd, label, 8, off_t(header + 8 * k)) == 8 &&
                  ::pread(fd, pixels, size_t(per), off_t(header + 8 * n + k * per)) == per;
  ::close(fd);
  if (!ok) throw InputError(fmt::format("{}: short read of image {}; delete {} to prepare the data again", path, k,
                                        dir_));
}

ImageSet open_store_split(const std::string& dir, const StoreManifest& m, const std::string& split) {
  ImageSet s = read_split(dir, m, split, false);
  s.store = std::make_shared<StoreReader>(dir, m, split);
  return s;
}

}  // namespace ldae
