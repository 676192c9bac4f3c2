// Raw loops of core/nn/gelu_tanh, compiled once per instruction set (as
// ATen's own CPU kernels are: CMake's ldae_cpu_kernels, with CPU_CAPABILITY
// = DEFAULT, AVX2 or AVX512 and the matching compiler flags) so at::vec
// takes the wide registers; gelu_tanh.cpp picks one at run time. Each
// processes n contiguous float32 elements, parallel over chunks.
#pragma once
#include <cstdint>

namespace ldae::kernels {
#define LDAE_GELU_KERNELS(CAP)                                                            \
  namespace CAP {                                                                          \
  void gelu_tanh_forward(const float* x, float* out, int64_t n);                           \
  void gelu_tanh_backward(const float* grad, const float* x, float* out, int64_t n);       \
  }
LDAE_GELU_KERNELS(DEFAULT)
LDAE_GELU_KERNELS(AVX2)
LDAE_GELU_KERNELS(AVX512)
#undef LDAE_GELU_KERNELS
}  // namespace ldae::kernels
