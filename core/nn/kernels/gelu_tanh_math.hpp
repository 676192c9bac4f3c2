// The element math of GELU (tanh approximation), for scalars and for
// at::vec vectors alike (a template over the arithmetic type): what the CPU
// kernels (core/nn/kernels/gelu_tanh_kernel.cpp, once per instruction set)
// and the CUDA bias + GELU kernels (gelu_bias_cuda.cu, V = float) run,
// written once.
#pragma once
#include "core/nn/kernels/host_device.hpp"

namespace ldae::gelu_math {

constexpr float kK = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kC = 0.044715f;

// gelu(x) = 0.5 x (1 + tanh(k (x + c x^3)))
template <class V, class Tanh>
LDAE_HOST_DEVICE inline V forward(const V& x, Tanh tanh) {
  const V half(0.5f), one(1.0f), k(kK), c(kC);
  const V t = tanh(k * (x + c * x * x * x));
  return half * x * (one + t);
}

// g * gelu'(x), gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)
template <class V, class Tanh>
LDAE_HOST_DEVICE inline V backward(const V& g, const V& x, Tanh tanh) {
  const V half(0.5f), one(1.0f), k(kK), c(kC), c3(3.0f * kC);
  const V x2 = x * x;
  const V t = tanh(k * (x + c * x2 * x));
  return g * (half * (one + t) + half * x * (one - t * t) * k * (one + c3 * x2));
}

}  // namespace ldae::gelu_math
