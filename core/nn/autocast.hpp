// Scoped bf16 autocast (mixed precision: bf16 matrix products, fp32 master
// weights and reductions) on the CPU or a CUDA device, by LibTorch's
// per-device autocast API. Restores the previous state on exit.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace ldae {

class Autocast {
 public:
  // enabled: train.bf16; device: where the forward pass runs (kCPU or kCUDA).
  Autocast(bool enabled, const torch::Device& device)
      : enabled_(enabled), type_(device.is_cuda() ? at::kCUDA : at::kCPU) {
    if (!enabled_) return;
    prev_ = at::autocast::is_autocast_enabled(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  }
  ~Autocast() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(type_, prev_);
    at::autocast::clear_cache();
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool enabled_;
  at::DeviceType type_;
  bool prev_ = false;
};

}  // namespace ldae
