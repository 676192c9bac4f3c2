// Batches read from the prepared-data store (core/data/prepared_store.hpp)
// by background threads while the caller trains on the previous ones: the
// order is the run's EpochOrder (so a streamed run sees the batches a
// resident one sees), each data-parallel rank reads only its share of every
// global batch (as DistributedSampler does), and a resumed run starts at its
// step, mid-epoch. Memory: `depth` batches, whatever the dataset's size.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/data/data.hpp"
#include "core/data/epoch_order.hpp"

namespace ldae {

class BatchLoader {
 public:
  struct Batch {
    int64_t step = 0;
    torch::Tensor idx;     // (b,) int64 image indices
    torch::Tensor images;  // (b, C, S, S) uint8 (crops with Crops), pinned when asked
    torch::Tensor labels;  // (b,) int64
  };
  // Steps first_step, first_step + 1, ... of `order` over the images of
  // `images` (streamed or resident; it must outlive the loader); of each global batch
  // the images [offset, offset + count). `threads` readers keep up to `depth`
  // batches ready; pin: page-locked host memory for non-blocking copies to
  // a GPU. Steps from end_step on are never read (a run's last batches
  // leave nothing read ahead in vain).
  // Crops cut from whole images (read_crops) instead of the images: area
  // fraction [scale_lo, scale_hi], each step's seed step_seed(seed, step),
  // the images numbered from `offset` (so every rank draws as one process),
  // each batch's crops on `threads` threads (a crop is a bicubic resize:
  // CPU work that reading alone is not).
  struct Crops {
    double scale_lo = 0.2, scale_hi = 1.0;
    uint64_t seed = 0;
    int threads = 1;
  };
  BatchLoader(const ImageSet& images, EpochOrder order, int64_t offset, int64_t count, int64_t first_step,
              int threads, int depth, bool pin, int64_t end_step = std::numeric_limits<int64_t>::max(),
              std::optional<Crops> crops = std::nullopt);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  // The next step's batch (blocks until it is read); rethrows a reader's
  // error; std::out_of_range at end_step (a caller's bug).
  Batch next();

 private:
  void work();
  const ImageSet& images_;
  EpochOrder order_;  // used under mu_ (its permutation is cached per epoch)
  const int64_t offset_, count_;
  const int depth_;
  const bool pin_;
  const int64_t end_step_;
  const std::optional<Crops> crops_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_to_claim_, next_to_return_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool closing_ = false;
  std::vector<std::thread> pool_;
};

}  // namespace ldae
