#include "core/data/batch_loader.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/base/errors.hpp"

namespace ldae {

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

BatchLoader::BatchLoader(const StoreReader& reader, EpochOrder order, int64_t offset, int64_t count,
                         int64_t first_step, int threads, int depth, bool pin)
    : reader_(reader), order_(std::move(order)), offset_(offset), count_(count), depth_(std::max(1, depth)),
      pin_(pin), next_to_claim_(first_step), next_to_return_(first_step) {
  for (int t = 0; t < std::max(1, threads); ++t) pool_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : pool_) t.join();
}

void BatchLoader::work() {
  const int64_t per = int64_t(reader_.channels()) * reader_.side() * reader_.side();
  for (;;) {
    Batch b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // At most `depth` batches claimed ahead of the one the trainer waits for.
      cv_.wait(lock, [&] { return closing_ || error_ || next_to_claim_ < next_to_return_ + depth_; });
      if (closing_ || error_) return;
      b.step = next_to_claim_++;
      b.idx = order_.batch(b.step, offset_, count_).first.clone();
    }
    try {
      auto opts = torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(pin_);
      b.images = torch::empty({count_, reader_.channels(), reader_.side(), reader_.side()}, opts);
      b.labels = torch::empty({count_}, torch::kLong);
      const int64_t* idx = b.idx.data_ptr<int64_t>();
      for (int64_t r = 0; r < count_; ++r)
        reader_.read(idx[r], b.images.data_ptr<uint8_t>() + r * per, b.labels.data_ptr<int64_t>() + r);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
      cv_.notify_all();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(b.step, std::move(b));
    }
    cv_.notify_all();
  }
}

BatchLoader::Batch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return error_ || ready_.count(next_to_return_); });
  if (error_) std::rethrow_exception(error_);
  auto it = ready_.find(next_to_return_);
  Batch b = std::move(it->second);
  ready_.erase(it);
  ++next_to_return_;
  cv_.notify_all();
  return b;
}

}  // namespace ldae
