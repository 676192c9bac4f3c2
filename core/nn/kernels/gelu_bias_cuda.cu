// CUDA kernels of core/nn/gelu_tanh's bias + GELU (tanh): see
// cuda_kernels.hpp for the layout and gelu_tanh_math.hpp for the formulas
// (the functions the CPU loops call). Arithmetic in float.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "core/nn/kernels/cuda_elements.cuh"
#include "core/nn/kernels/cuda_kernels.hpp"
#include "core/nn/kernels/gelu_tanh_math.hpp"
#include "core/nn/kernels/row_tiling.hpp"

namespace ldae::cuda_kernels {
namespace {

constexpr int kThreads = 256;
static_assert(kThreads >= 32 && (kThreads & (kThreads - 1)) == 0, "row_tiling needs a power-of-two block");

struct Tanh {
  __device__ float operator()(float v) const { return tanhf(v); }
};

template <class T>
__global__ void gelu_bias_fwd(const T* h, const float* bias, T* out, int64_t rows, int64_t W, RowTiling tl) {
  for_each_owned(
      tl, blockIdx.x, gridDim.x, threadIdx.x, rows, W, [](int64_t) { return 0; },
      [&](int, int64_t i, int64_t j) { store(out, i, gelu_math::forward(load(h, i) + bias[j], Tanh{})); });
}

// Block c: rows [c * chunk_rows, ...); a thread owns columns j = threadIdx.x +
// k * kThreads and walks the chunk's rows for each (coalesced across a warp).
template <class T>
__global__ void gelu_bias_bwd(const T* g, const T* h, const float* bias, T* dpre, float* part_bias, int64_t rows,
                              int64_t W, int64_t chunk_rows) {
  const int64_t r0 = blockIdx.x * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  for (int64_t j = threadIdx.x; j < W; j += kThreads) {
    const float b = bias[j];
    float acc = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r * W + j;
      const float d = gelu_math::backward(load(g, i), load(h, i) + b, Tanh{});
      store(dpre, i, d);
      acc += d;
    }
    part_bias[blockIdx.x * W + j] = acc;
  }
}

using BF16 = __nv_bfloat16;

}  // namespace

const char* gelu_bias_forward(const void* h, const float* bias, void* out, Dtype t, int64_t rows, int64_t width,
                              void* stream) {
  const RowTiling tl = row_tiling(width, kThreads);
  const unsigned blocks = unsigned(row_blocks(tl, rows, kMaxElementwiseBlocks));
  auto s = static_cast<cudaStream_t>(stream);
  if (t == Dtype::f32)
    gelu_bias_fwd<<<blocks, kThreads, 0, s>>>(static_cast<const float*>(h), bias, static_cast<float*>(out), rows, width,
                                              tl);
  else
    gelu_bias_fwd<<<blocks, kThreads, 0, s>>>(static_cast<const BF16*>(h), bias, static_cast<BF16*>(out), rows, width,
                                              tl);
  return launched();
}

const char* gelu_bias_backward(const void* g, const void* h, const float* bias, void* dpre, float* part_bias,
                               Dtype t, int64_t rows, int64_t width, int64_t chunk_rows, void* stream) {
  const unsigned blocks = unsigned((rows + chunk_rows - 1) / chunk_rows);
  auto s = static_cast<cudaStream_t>(stream);
  if (t == Dtype::f32)
    gelu_bias_bwd<<<blocks, kThreads, 0, s>>>(static_cast<const float*>(g), static_cast<const float*>(h), bias,
                                              static_cast<float*>(dpre), part_bias, rows, width, chunk_rows);
  else
    gelu_bias_bwd<<<blocks, kThreads, 0, s>>>(static_cast<const BF16*>(g), static_cast<const BF16*>(h), bias,
                                              static_cast<BF16*>(dpre), part_bias, rows, width, chunk_rows);
  return launched();
}

}  // namespace ldae::cuda_kernels
