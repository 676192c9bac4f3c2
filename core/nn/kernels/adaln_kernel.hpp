// Raw CPU loops of core/nn/adaln_fused (the DiT block's LayerNorm + adaLN
// modulate and gated residual), compiled once per instruction set as the
// GELU's are (CMake's ldae_cpu_kernels: CPU_CAPABILITY = DEFAULT, AVX2 or
// AVX512); adaln_fused.cpp picks one at run time. The element math is
// kernels/adaln_math.hpp, shared with the CUDA kernels.
//
// Layout: x, y, g, dx, branch, out are contiguous (B, L, W) rows; shift, s1
// (= 1 + scale), gate are float32 (B, W); mean, rstd float32 (B * L). The
// backward passes write per-chunk column sums, part_* of shape
// (B, ceil(L / chunk_rows), W) float32, which the caller sums over chunks
// (so the result does not depend on the thread count). Every loop runs on
// at::vec's float32 lanes; bfloat16 elements are converted as they are loaded
// and stored.
#pragma once
#include <c10/util/BFloat16.h>

#include <cstdint>

namespace ldae::kernels {

struct Rows {
  int64_t batch, tokens, width;  // B, L, W
};

#define LDAE_ADALN_KERNELS(CAP)                                                                             \
  namespace CAP {                                                                                            \
  void layer_norm_modulate_forward(const float* x, const float* shift, const float* s1, float* y,            \
                                   float* mean, float* rstd, Rows r, float eps);                             \
  void layer_norm_modulate_forward(const c10::BFloat16* x, const float* shift, const float* s1,              \
                                   c10::BFloat16* y, float* mean, float* rstd, Rows r, float eps);            \
  void layer_norm_modulate_backward(const float* g, const float* x, const float* s1, const float* mean,      \
                                    const float* rstd, float* dx, float* part_shift, float* part_scale,       \
                                    Rows r, int64_t chunk_rows);                                              \
  void layer_norm_modulate_backward(const c10::BFloat16* g, const c10::BFloat16* x, const float* s1,         \
                                    const float* mean, const float* rstd, c10::BFloat16* dx,                 \
                                    float* part_shift, float* part_scale, Rows r, int64_t chunk_rows);       \
  void gated_residual_forward(const float* x, const float* gate, const float* branch, float* out, Rows r);   \
  void gated_residual_forward(const float* x, const float* gate, const c10::BFloat16* branch, float* out,    \
                              Rows r);                                                                        \
  void gated_residual_forward(const c10::BFloat16* x, const float* gate, const c10::BFloat16* branch,        \
                              c10::BFloat16* out, Rows r);                                                    \
  void gated_residual_backward(const float* g, const float* gate, const float* branch, float* dbranch,       \
                               float* part_gate, Rows r, int64_t chunk_rows);                                 \
  void gated_residual_backward(const float* g, const float* gate, const c10::BFloat16* branch,               \
                               c10::BFloat16* dbranch, float* part_gate, Rows r, int64_t chunk_rows);         \
  void gated_residual_backward(const c10::BFloat16* g, const float* gate, const c10::BFloat16* branch,       \
                               c10::BFloat16* dbranch, float* part_gate, Rows r, int64_t chunk_rows);         \
  }
LDAE_ADALN_KERNELS(DEFAULT)
LDAE_ADALN_KERNELS(AVX2)
LDAE_ADALN_KERNELS(AVX512)
#undef LDAE_ADALN_KERNELS

}  // namespace ldae::kernels
