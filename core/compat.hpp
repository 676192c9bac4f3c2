// LibTorch version differences in one place: Debian's 1.13 (CPU, here and in
// CI) and the 2.x inside PyTorch on CUDA machines compile the same code.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#include <cmath>

namespace ldae::compat {

#if TORCH_VERSION_MAJOR >= 2
inline constexpr bool kFusedAttention = true;
#else
inline constexpr bool kFusedAttention = false;
#endif

// softmax(q k^T / sqrt(dh)) v for q, k, v (B, H, N, dh) -> (B, H, N, dh).
// 2.x: the fused kernel (flash / memory-efficient); 1.13: the plain product.
inline torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  auto a = torch::matmul(q, k.transpose(-2, -1)) * scale;  // (B, H, N, N)
  return torch::matmul(a.softmax(/*dim=*/-1), v);
#endif
}

// Scoped bf16 autocast on CPU or CUDA; restores the previous state. 2.4+
// has one API per device type (the CUDA-only one is deprecated there).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define LDAE_AUTOCAST_BY_DEVICE 1
#endif
class Autocast {
 public:
  Autocast(bool enabled, const torch::Device& device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
#ifdef LDAE_AUTOCAST_BY_DEVICE
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    prev_ = at::autocast::is_autocast_enabled(type);
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, at::kBFloat16);
#else
    if (cuda_) {
      prev_ = at::autocast::is_enabled();
      at::autocast::set_enabled(true);
#if TORCH_VERSION_MAJOR >= 2
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
    } else {
      prev_ = at::autocast::is_cpu_enabled();
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
#endif
  }
  ~Autocast() {
    if (!enabled_) return;
#ifdef LDAE_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, prev_);
#else
    if (cuda_) at::autocast::set_enabled(prev_);
    else at::autocast::set_cpu_enabled(prev_);
#endif
    at::autocast::clear_cache();
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool enabled_, cuda_, prev_ = false;
};

}  // namespace ldae::compat
