// The order the training images are visited in, epoch by epoch: a
// permutation of the N images that depends only on (seed, epoch), so a
// resumed run sees what an uninterrupted one sees, and a streamed run
// (core/data/batch_loader.hpp) what a resident one sees.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <utility>

#include "core/base/seeds.hpp"

namespace ldae {

class EpochOrder {
 public:
  // n images, global batches of `batch`, steps_per_epoch steps an epoch;
  // the permutation is copied to `device` once per epoch (none per step).
  EpochOrder(int64_t n, int64_t batch, int64_t steps_per_epoch, uint64_t seed, torch::Device device = torch::kCPU)
      : n_(n), batch_(batch), spe_(steps_per_epoch), seed_(seed), device_(device) {}

  // Images [offset, offset + count) of step `step`'s global batch (a
  // data-parallel rank's share): host indices (count,) int64 and the same
  // on the device.
  std::pair<torch::Tensor, torch::Tensor> batch(int64_t step, int64_t offset, int64_t count) {
    const int64_t epoch = step / spe_, i = step % spe_;
    if (epoch != epoch_) {
      auto gen = at::detail::createCPUGenerator(step_seed(seed_, uint64_t(1) << 40 | uint64_t(epoch)));
      perm_ = torch::randperm(n_, gen, torch::kLong);
      perm_dev_ = device_.is_cpu() ? perm_ : perm_.to(device_);
      epoch_ = epoch;
    }
    const int64_t start = i * batch_ + offset;
    return {perm_.slice(0, start, start + count), perm_dev_.slice(0, start, start + count)};
  }

 private:
  int64_t n_, batch_, spe_;
  uint64_t seed_;
  torch::Device device_;
  int64_t epoch_ = -1;
  torch::Tensor perm_, perm_dev_;
};

}  // namespace ldae
