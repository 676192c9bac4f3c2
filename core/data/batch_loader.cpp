#include "core/data/batch_loader.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "core/base/errors.hpp"
#include "core/base/seeds.hpp"
#include "core/data/image_source.hpp"

namespace ldae {

BatchLoader::BatchLoader(const ImageSet& images, EpochOrder order, int64_t offset, int64_t count,
                         int64_t first_step, int threads, int depth, bool pin, int64_t end_step,
                         std::optional<Crops> crops)
    : images_(images), order_(std::move(order)), offset_(offset), count_(count), depth_(std::max(1, depth)),
      pin_(pin), end_step_(end_step), crops_(crops), next_to_claim_(first_step), next_to_return_(first_step) {
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
  for (;;) {
    Batch b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // At most `depth` batches claimed ahead of the one the trainer waits for.
      cv_.wait(lock, [&] { return closing_ || error_ || next_to_claim_ < next_to_return_ + depth_; });
      if (closing_ || error_ || next_to_claim_ >= end_step_) return;
      b.step = next_to_claim_++;
      b.idx = order_.batch(b.step, offset_, count_).first.clone();
    }
    try {
      // One thread a batch: the pool's threads read different batches at once.
      b.images = crops_ ? read_crops(images_, b.idx, crops_->scale_lo, crops_->scale_hi, 0,
                                     step_seed(crops_->seed, uint64_t(b.step)), offset_, crops_->threads)
                        : read_images(images_, b.idx, /*threads=*/1);
      if (pin_) b.images = b.images.pin_memory();
      b.labels = torch::empty({count_}, torch::kLong);
      const int64_t* idx = b.idx.data_ptr<int64_t>();
      for (int64_t r = 0; r < count_; ++r) b.labels.data_ptr<int64_t>()[r] = images_.labels[size_t(idx[r])];
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
  if (next_to_return_ >= end_step_)
    throw std::out_of_range(fmt::format("BatchLoader: step {} asked for; the loader ends at step {}",
                                        next_to_return_, end_step_));
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
