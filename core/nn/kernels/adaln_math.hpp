// The element math of the DiT block's adaLN pieces, written once for the CPU
// loops (core/nn/kernels/adaln_kernel.cpp: V = float or at::vec's
// Vectorized<float>) and the CUDA kernels (core/nn/kernels/adaln_cuda.cu:
// V = float, __host__ __device__). Everything is computed in float32.
//
// LayerNorm without affine (eps inside the root, biased variance) followed by
// DiT's modulate (models.py: x * (1 + scale) + shift), per row of W:
//   xhat = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps)
//   y    = xhat * s1 + shift,   s1 = 1 + scale
// Backward, with gs = g * s1 (the gradient reaching xhat):
//   dx     = rstd * (gs - mean(gs) - xhat * mean(gs * xhat))   (LayerNorm's backward)
//   dshift = sum over tokens of g,  dscale = sum over tokens of g * xhat
// The gated residual (DiT's x + gate * branch):
//   out = x + gate * branch;  dbranch = g * gate;  dgate = sum over tokens of g * branch
#pragma once
#include "core/nn/kernels/host_device.hpp"

namespace ldae::adaln_math {

// y = (x - mean) * rstd * s1 + shift
template <class V>
LDAE_HOST_DEVICE inline V modulate(const V& x, const V& mean, const V& rstd, const V& s1, const V& shift) {
  return (x - mean) * rstd * s1 + shift;
}

// LayerNorm's input gradient from gs = g * s1, xhat, and the row means
// mean_gs = mean(gs), mean_gsx = mean(gs * xhat).
template <class V>
LDAE_HOST_DEVICE inline V norm_input_grad(const V& gs, const V& xhat, const V& rstd, const V& mean_gs,
                                          const V& mean_gsx) {
  return rstd * (gs - mean_gs - xhat * mean_gsx);
}

// out = x + gate * branch
template <class V>
LDAE_HOST_DEVICE inline V gated_residual(const V& x, const V& gate, const V& branch) {
  return x + gate * branch;
}

}  // namespace ldae::adaln_math
