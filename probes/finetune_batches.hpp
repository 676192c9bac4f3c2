// The fine-tuning batches of a run with RandAugment or random erasing on
// (MAE's recipe, probes/finetune.hpp): each step's images read, cropped,
// flipped, RandAugmented and erased, by a background thread while the
// caller trains on the previous ones. That host work is per image and heavy
// (about 0.5 ms a 224-px image on one core, docs/benchmarks.md): on a GPU it
// would otherwise stall every step.
//
// Every draw comes from the step's own generator, seeded by (seed, step),
// and the epoch's order from (seed, epoch) (core/data/epoch_order.hpp), so
// the batches are the same whether they are made ahead on another thread or
// inline, and whatever the thread count. Memory: `ahead` batches.
#pragma once
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "core/config/config.hpp"
#include "core/data/epoch_order.hpp"
#include "core/data/image_source.hpp"

namespace ldae {

class FinetuneBatches {
 public:
  struct Batch {
    torch::Tensor images;  // (B, C, H, W) float32 host, in the images' range (erased pixels may leave it)
    torch::Tensor labels;  // (B,) int64
  };
  // Steps 0 .. total - 1 of batches of B over `images` (and `labels` (N,));
  // spe steps an epoch; normalized: images in [-1, 1] (else [0, 1]).
  // ahead > 0: a background thread keeps up to `ahead` batches made;
  // 0: each is made when asked for. `images` must outlive this.
  FinetuneBatches(const ImageBatches& images, torch::Tensor labels, bool normalized, const EvalConfig& cfg,
                  int64_t B, int64_t spe, int64_t total, uint64_t seed, int ahead);
  ~FinetuneBatches();
  FinetuneBatches(const FinetuneBatches&) = delete;
  FinetuneBatches& operator=(const FinetuneBatches&) = delete;
  // The next step's batch (blocks while it is made); rethrows the maker's
  // error; std::out_of_range past the last step.
  Batch next();
  // Whether batches are made on a background thread.
  bool ahead() const { return ahead_ > 0; }

 private:
  Batch make(int64_t step);
  void work();
  const ImageBatches& images_;
  torch::Tensor labels_;
  const bool normalized_;
  const EvalConfig cfg_;
  const int64_t B_, total_;
  const uint64_t seed_;
  const int ahead_;
  EpochOrder order_;  // used by one thread: the maker's, or the caller's inline
  int64_t next_ = 0;  // the step next() returns
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool closing_ = false;
  std::thread thread_;
};

// timm's training transform as MAE's main_finetune.py builds it, on
// training images idx (B,) of `images`, float (B, C, H, W) in [-1, 1]
// (normalized) or [0, 1]: random resized crop (eval.finetune_crop_min..1;
// ImageBatches::crop: from the whole image where the set keeps them) and
// flip, RandAugment, random erasing; the same range out (erased pixels may
// leave it). Draws from `gen`, else the global generator.
torch::Tensor augment_for_finetuning(const ImageBatches& images, const torch::Tensor& idx, bool normalized,
                                     const EvalConfig& cfg, std::optional<at::Generator> gen = std::nullopt);

}  // namespace ldae
