// Raw loops of core/nn/gelu_tanh, compiled once per instruction set (as
// ATen's own CPU kernels are: CMake's ldae_cpu_kernels, with CPU_CAPABILITY
// = DEFAULT, AVX2 or AVX512 and the matching compiler flags) so at::vec
// takes the wide registers; gelu_tanh.cpp picks one at run time. Each
// processes n contiguous float32 or bfloat16 elements (bfloat16 computed in
// float32, rounded once as stored), parallel over chunks. The bias
// variants take `rows` contiguous rows of `width` and a float32 bias (width):
// gelu(h + bias) forward; backward dpre = g * gelu'(h + bias) and per-chunk
// column sums part_bias (ceil(rows / chunk_rows), width), for the caller to
// sum (so the bias gradient does not depend on the thread count).
#pragma once
#include <c10/util/BFloat16.h>

#include <cstdint>

namespace ldae::kernels {
#define LDAE_GELU_KERNELS_FOR(T)                                                                          \
  void gelu_tanh_forward(const T* x, T* out, int64_t n);                                                    \
  void gelu_tanh_backward(const T* grad, const T* x, T* out, int64_t n);                                    \
  void gelu_bias_forward(const T* h, const float* bias, T* out, int64_t rows, int64_t width);               \
  void gelu_bias_backward(const T* g, const T* h, const float* bias, T* dpre, float* part_bias, int64_t rows, \
                          int64_t width, int64_t chunk_rows);
#define LDAE_GELU_KERNELS(CAP)         \
  namespace CAP {                      \
  LDAE_GELU_KERNELS_FOR(float)         \
  LDAE_GELU_KERNELS_FOR(c10::BFloat16) \
  }
LDAE_GELU_KERNELS(DEFAULT)
LDAE_GELU_KERNELS(AVX2)
LDAE_GELU_KERNELS(AVX512)
#undef LDAE_GELU_KERNELS
#undef LDAE_GELU_KERNELS_FOR
}  // namespace ldae::kernels
