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

// Scoped bf16 autocast on CPU or CUDA; restores the previous state.
class Autocast {
 public:
  Autocast(bool enabled, const torch::Device& device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
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
  }
  ~Autocast() {
    if (!enabled_) return;
    if (cuda_) at::autocast::set_enabled(prev_);
    else at::autocast::set_cpu_enabled(prev_);
    at::autocast::clear_cache();
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool enabled_, cuda_, prev_ = false;
};

}  // namespace ldae::compat
