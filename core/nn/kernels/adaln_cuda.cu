// CUDA kernels of core/nn/adaln_fused; see cuda_kernels.hpp for the layout and
// adaln_math.hpp for the formulas (the same functions the CPU loops call).
// One block per row (forward) or per (b, chunk of tokens) (backward); row
// sums by warp shuffles and one shared-memory step; all arithmetic in float.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "core/nn/kernels/cuda_elements.cuh"
#include "core/nn/kernels/cuda_kernels.hpp"
#include "core/nn/kernels/adaln_math.hpp"
#include "core/nn/kernels/row_tiling.hpp"

namespace ldae::cuda_kernels {
namespace {

namespace math = adaln_math;
constexpr int kThreads = 256;
static_assert(kThreads >= 32 && (kThreads & (kThreads - 1)) == 0, "row_tiling needs a power-of-two block");

// The sum of v over the block, returned to every thread. `scratch` holds
// kThreads / 32 floats; the call begins and ends with a barrier so it can be
// called again at once.
__device__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0;
  for (int w = 0; w < kThreads / 32; ++w) s += scratch[w];
  __syncthreads();
  return s;
}

template <class T>
__global__ void ln_forward(const T* x, const float* shift, const float* s1, T* y, float* mean, float* rstd,
                           Rows r, float eps) {
  __shared__ float scratch[kThreads / 32];
  const int64_t row = blockIdx.x, W = r.width, b = row / r.tokens;
  const T* xr = x + row * W;
  float s = 0;
  for (int64_t j = threadIdx.x; j < W; j += kThreads) s += load(xr, j);
  const float m = block_sum(s, scratch) / float(W);
  s = 0;
  for (int64_t j = threadIdx.x; j < W; j += kThreads) {
    const float d = load(xr, j) - m;
    s += d * d;
  }
  const float rs = rsqrtf(block_sum(s, scratch) / float(W) + eps);
  for (int64_t j = threadIdx.x; j < W; j += kThreads)
    store(y + row * W, j, math::modulate(load(xr, j), m, rs, s1[b * W + j], shift[b * W + j]));
  if (threadIdx.x == 0) {
    mean[row] = m;
    rstd[row] = rs;
  }
}

// Block (b, chunk): each thread keeps the column sums of its own columns
// (j = threadIdx.x + k * kThreads) in shared memory, 2 W floats.
template <class T>
__global__ void ln_backward(const T* g, const T* x, const float* s1, const float* mean, const float* rstd, T* dx,
                            float* part_shift, float* part_scale, Rows r, int64_t chunk_rows) {
  extern __shared__ float cols[];  // [0, W): shift's sums, [W, 2W): scale's
  __shared__ float scratch[kThreads / 32];
  const int64_t W = r.width, chunks = (r.tokens + chunk_rows - 1) / chunk_rows;
  const int64_t b = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const int64_t l0 = c * chunk_rows, l1 = min(r.tokens, l0 + chunk_rows);
  const float* sc = s1 + b * W;
  for (int64_t j = threadIdx.x; j < 2 * W; j += kThreads) cols[j] = 0;
  __syncthreads();  // zeroed by other threads than those that add to them
  for (int64_t l = l0; l < l1; ++l) {
    const int64_t row = b * r.tokens + l;
    const T* gr = g + row * W;
    const T* xr = x + row * W;
    const float m = mean[row], rs = rstd[row];
    float s_gs = 0, s_gsx = 0;
    for (int64_t j = threadIdx.x; j < W; j += kThreads) {
      const float gv = load(gr, j), xh = (load(xr, j) - m) * rs, gs = gv * sc[j];
      s_gs += gs;
      s_gsx += gs * xh;
      cols[j] += gv;
      cols[W + j] += gv * xh;
    }
    const float a = block_sum(s_gs, scratch) / float(W);
    const float cc = block_sum(s_gsx, scratch) / float(W);
    for (int64_t j = threadIdx.x; j < W; j += kThreads) {
      const float xh = (load(xr, j) - m) * rs;
      store(dx + row * W, j, math::norm_input_grad(load(gr, j) * sc[j], xh, rs, a, cc));
    }
  }
  for (int64_t j = threadIdx.x; j < W; j += kThreads) {
    part_shift[blockIdx.x * W + j] = cols[j];
    part_scale[blockIdx.x * W + j] = cols[W + j];
  }
}

template <class TX, class TB>
__global__ void gated_forward(const TX* x, const float* gate, const TB* branch, TX* out, Rows r, RowTiling tl) {
  for_each_owned(
      tl, blockIdx.x, gridDim.x, threadIdx.x, r.batch * r.tokens, r.width,
      [&](int64_t row) { return gate + (row / r.tokens) * r.width; },  // b's gate: one division per row
      [&](const float* gt, int64_t i, int64_t j) {
        store(out, i, math::gated_residual(load(x, i), gt[j], load(branch, i)));
      });
}

// Block (b, chunk); a thread owns columns j = threadIdx.x + k * kThreads and
// walks the chunk's rows for each (reads coalesced across the warp).
template <class TX, class TB>
__global__ void gated_backward(const TX* g, const float* gate, const TB* branch, TB* dbranch, float* part_gate,
                               Rows r, int64_t chunk_rows) {
  const int64_t W = r.width, chunks = (r.tokens + chunk_rows - 1) / chunk_rows;
  const int64_t b = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const int64_t l0 = c * chunk_rows, l1 = min(r.tokens, l0 + chunk_rows);
  for (int64_t j = threadIdx.x; j < W; j += kThreads) {
    const float gt = gate[b * W + j];
    float acc = 0;
    for (int64_t l = l0; l < l1; ++l) {
      const int64_t i = (b * r.tokens + l) * W + j;
      const float gv = load(g, i);
      store(dbranch, i, gv * gt);
      acc += gv * load(branch, i);
    }
    part_gate[blockIdx.x * W + j] = acc;
  }
}

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
int64_t chunk_count(Rows r, int64_t chunk_rows) { return r.batch * ((r.tokens + chunk_rows - 1) / chunk_rows); }
using BF16 = __nv_bfloat16;

}  // namespace

bool compiled() { return true; }

bool usable_on_current_device() {
  constexpr int kDevices = 64;
  static int known[kDevices] = {};  // 0 not asked, 1 usable, 2 not
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kDevices) return false;
  if (known[dev] == 0) {
    cudaFuncAttributes attr;
    // No kernel image for this device's architecture: cudaErrorInvalidDeviceFunction.
    known[dev] = cudaFuncGetAttributes(&attr, ln_forward<float>) == cudaSuccess ? 1 : 2;
    (void)cudaGetLastError();  // the failed query leaves no error behind for the next launch
  }
  return known[dev] == 1;
}

const char* layer_norm_modulate_forward(const void* x, const float* shift, const float* s1, void* y,
                                        float* mean, float* rstd, Dtype t, Rows r, float eps, void* stream) {
  const unsigned blocks = unsigned(r.batch * r.tokens);
  if (t == Dtype::f32)
    ln_forward<<<blocks, kThreads, 0, as_stream(stream)>>>(static_cast<const float*>(x), shift, s1,
                                                           static_cast<float*>(y), mean, rstd, r, eps);
  else
    ln_forward<<<blocks, kThreads, 0, as_stream(stream)>>>(static_cast<const BF16*>(x), shift, s1,
                                                           static_cast<BF16*>(y), mean, rstd, r, eps);
  return launched();
}

const char* layer_norm_modulate_backward(const void* g, const void* x, const float* s1, const float* mean,
                                         const float* rstd, void* dx, float* part_shift, float* part_scale,
                                         Dtype t, Rows r, int64_t chunk_rows, void* stream) {
  if (r.width > kMaxWidth) return "width above the fused LayerNorm's limit (kMaxWidth)";
  const unsigned blocks = unsigned(chunk_count(r, chunk_rows));
  const size_t shared = size_t(2 * r.width) * sizeof(float);
  if (t == Dtype::f32)
    ln_backward<<<blocks, kThreads, shared, as_stream(stream)>>>(
        static_cast<const float*>(g), static_cast<const float*>(x), s1, mean, rstd, static_cast<float*>(dx),
        part_shift, part_scale, r, chunk_rows);
  else
    ln_backward<<<blocks, kThreads, shared, as_stream(stream)>>>(
        static_cast<const BF16*>(g), static_cast<const BF16*>(x), s1, mean, rstd, static_cast<BF16*>(dx),
        part_shift, part_scale, r, chunk_rows);
  return launched();
}

const char* gated_residual_forward(const void* x, const float* gate, const void* branch, void* out, Dtype tx,
                                   Dtype tb, Rows r, void* stream) {
  const RowTiling tl = row_tiling(r.width, kThreads);
  const unsigned blocks = unsigned(row_blocks(tl, r.batch * r.tokens, kMaxElementwiseBlocks));
  auto s = as_stream(stream);
  if (tx == Dtype::f32 && tb == Dtype::f32)
    gated_forward<<<blocks, kThreads, 0, s>>>(static_cast<const float*>(x), gate, static_cast<const float*>(branch),
                                              static_cast<float*>(out), r, tl);
  else if (tx == Dtype::f32)
    gated_forward<<<blocks, kThreads, 0, s>>>(static_cast<const float*>(x), gate, static_cast<const BF16*>(branch),
                                              static_cast<float*>(out), r, tl);
  else
    gated_forward<<<blocks, kThreads, 0, s>>>(static_cast<const BF16*>(x), gate, static_cast<const BF16*>(branch),
                                              static_cast<BF16*>(out), r, tl);
  return launched();
}

const char* gated_residual_backward(const void* g, const float* gate, const void* branch, void* dbranch,
                                    float* part_gate, Dtype tx, Dtype tb, Rows r, int64_t chunk_rows,
                                    void* stream) {
  const unsigned blocks = unsigned(chunk_count(r, chunk_rows));
  auto s = as_stream(stream);
  if (tx == Dtype::f32 && tb == Dtype::f32)
    gated_backward<<<blocks, kThreads, 0, s>>>(static_cast<const float*>(g), gate, static_cast<const float*>(branch),
                                               static_cast<float*>(dbranch), part_gate, r, chunk_rows);
  else if (tx == Dtype::f32)
    gated_backward<<<blocks, kThreads, 0, s>>>(static_cast<const float*>(g), gate, static_cast<const BF16*>(branch),
                                               static_cast<BF16*>(dbranch), part_gate, r, chunk_rows);
  else
    gated_backward<<<blocks, kThreads, 0, s>>>(static_cast<const BF16*>(g), gate, static_cast<const BF16*>(branch),
                                               static_cast<BF16*>(dbranch), part_gate, r, chunk_rows);
  return launched();
}

}  // namespace ldae::cuda_kernels
