// What every fused CUDA kernel file uses (nvcc only): float32 and bfloat16
// elements read and written as float, and a launch's error as text.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace ldae::cuda_kernels {

__device__ inline float load(const float* p, int64_t i) { return p[i]; }
__device__ inline float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

// The most blocks an elementwise kernel launches; its threads stride over
// the rest (far below gridDim.x's 2^31 - 1: enough blocks to fill any GPU).
constexpr int64_t kMaxElementwiseBlocks = 65535 * 8;

// nullptr, or the text of the last launch's error.
inline const char* launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace ldae::cuda_kernels
