#include "probes/finetune_batches.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>

#include "core/base/seeds.hpp"
#include "core/data/augment.hpp"
#include "core/data/rand_augment.hpp"
#include "core/data/random_erasing.hpp"

namespace ldae {

// The steps' augmentation seeds are a stream apart from every other use of
// (seed, counter) in a run (EpochOrder takes 1 << 40 | epoch).
constexpr uint64_t kAugmentStream = uint64_t(1) << 41;

torch::Tensor augment_for_finetuning(const ImageBatches& images, const torch::Tensor& idx, bool normalized,
                                     const EvalConfig& cfg, std::optional<at::Generator> gen) {
  auto x = crop_images(images, idx, cfg.finetune_crop_min, 1.0, 0, torch::kCPU, gen);
  if (cfg.finetune_randaug_n <= 0 && cfg.finetune_reprob <= 0) return x;  // no draws: recorded runs keep their stream
  x = (normalized ? (x + 1) * 0.5 : x.clone()).to(torch::kFloat32).contiguous();  // [0, 1], ours to change
  rand_augment_(x, {cfg.finetune_randaug_n, cfg.finetune_randaug_m, cfg.finetune_randaug_mstd}, gen);
  random_erasing_(x, cfg.finetune_reprob, gen);
  return normalized ? x * 2 - 1 : x;
}

FinetuneBatches::FinetuneBatches(const ImageBatches& images, torch::Tensor labels, bool normalized,
                                 const EvalConfig& cfg, int64_t B, int64_t spe, int64_t total, uint64_t seed,
                                 int ahead)
    : images_(images), labels_(std::move(labels)), normalized_(normalized), cfg_(cfg), B_(B), total_(total),
      seed_(seed), ahead_(std::max(0, ahead)), order_(images.n, B, spe, seed) {
  if (ahead_ > 0) thread_ = std::thread([this] { work(); });
}

FinetuneBatches::~FinetuneBatches() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

FinetuneBatches::Batch FinetuneBatches::make(int64_t step) {
  torch::NoGradGuard ng;
  auto idx = order_.batch(step, 0, B_).first;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(step_seed(seed_, kAugmentStream | uint64_t(step)));
  return {augment_for_finetuning(images_, idx, normalized_, cfg_, gen), labels_.index_select(0, idx)};
}

void FinetuneBatches::work() {
  try {
    for (int64_t step = 0; step < total_; ++step) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closing_ || int64_t(ready_.size()) < ahead_; });
        if (closing_) return;
      }
      Batch b = make(step);  // unlocked: the caller takes batches meanwhile
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(b));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

FinetuneBatches::Batch FinetuneBatches::next() {
  if (next_ >= total_) throw std::out_of_range("FinetuneBatches::next past the last step");
  if (ahead_ == 0) return make(next_++);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  ++next_;
  cv_.notify_all();
  return b;
}

}  // namespace ldae
