// One instruction set's GELU (tanh) loops; see gelu_tanh_kernel.hpp.
#include "core/nn/kernels/gelu_tanh_kernel.hpp"

#include <algorithm>
#include <cmath>

#include "core/nn/kernels/gelu_tanh_math.hpp"
#include "core/nn/kernels/parallel.hpp"
#include "core/nn/kernels/vec_io.hpp"

namespace ldae::kernels::CPU_CAPABILITY {
namespace {

constexpr int64_t kGrain = 16384;  // elements per task: a few microseconds of work

// op_vec(i) on whole vectors, op_scalar(i) on the tail, parallel over
// chunks of whole vectors: every element takes the same path (vector or
// scalar tail) whatever the thread count, so results do not depend on it.
template <class VecOp, class ScalarOp>
void for_each_element(int64_t n, VecOp op_vec, ScalarOp op_scalar) {
  const int64_t vectors = n / Vec::size();
  at::parallel_for(0, vectors, kGrain / Vec::size(), [&](int64_t begin, int64_t end) {
    for (int64_t v = begin; v < end; ++v) op_vec(v * Vec::size());
  });
  for (int64_t i = vectors * Vec::size(); i < n; ++i) op_scalar(i);
}

// tanh(u) = 1 - 2 / (exp(2u) + 1), with ATen's fast exp (exp_u20: a
// polynomial, 20 ulp): Sleef's tanh (Vectorized::tanh) took 2.2 ms on
// 2048 x 512 floats on this CPU (AVX-512, 2 threads), 7x LibTorch's own tanh;
// exp overflowing to inf gives 1, underflowing to 0 gives -1.
const auto vec_tanh = [](const Vec& v) {
  const Vec one(1.0f), two(2.0f);
  return one - two / ((v * two).exp_u20() + one);
};
const auto scalar_tanh = [](float v) { return std::tanh(v); };

// The loops, for T = float or c10::BFloat16 (loaded as float32 lanes,
// computed in float32, rounded once as stored).
template <class T>
void forward_loop(const T* x, T* out, int64_t n) {
  for_each_element(
      n, [&](int64_t i) { vstore(out + i, gelu_math::forward(vload(x + i), vec_tanh)); },
      [&](int64_t i) { out[i] = T(gelu_math::forward(float(x[i]), scalar_tanh)); });
}

template <class T>
void backward_loop(const T* grad, const T* x, T* out, int64_t n) {
  for_each_element(
      n, [&](int64_t i) { vstore(out + i, gelu_math::backward(vload(grad + i), vload(x + i), vec_tanh)); },
      [&](int64_t i) { out[i] = T(gelu_math::backward(float(grad[i]), float(x[i]), scalar_tanh)); });
}

template <class T>
void bias_forward_loop(const T* h, const float* bias, T* out, int64_t rows, int64_t width) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(width, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* hr = h + r * width;
      T* orow = out + r * width;
      int64_t j = 0;
      for (; j + Vec::size() <= width; j += Vec::size())
        vstore(orow + j, gelu_math::forward(vload(hr + j) + Vec::loadu(bias + j), vec_tanh));
      for (; j < width; ++j) orow[j] = T(gelu_math::forward(float(hr[j]) + bias[j], scalar_tanh));
    }
  });
}

// The bias's column sums add the float32 gradient before it is rounded to T.
template <class T>
void bias_backward_loop(const T* g, const T* h, const float* bias, T* dpre, float* part_bias, int64_t rows,
                        int64_t width, int64_t chunk_rows) {
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      float* acc = part_bias + c * width;
      std::fill(acc, acc + width, 0.0f);
      for (int64_t r = c * chunk_rows; r < std::min(rows, (c + 1) * chunk_rows); ++r) {
        const T *gr = g + r * width, *hr = h + r * width;
        T* dr = dpre + r * width;
        int64_t j = 0;
        for (; j + Vec::size() <= width; j += Vec::size()) {
          const Vec d = gelu_math::backward(vload(gr + j), vload(hr + j) + Vec::loadu(bias + j), vec_tanh);
          vstore(dr + j, d);
          (Vec::loadu(acc + j) + d).store(acc + j);
        }
        for (; j < width; ++j) {
          const float d = gelu_math::backward(float(gr[j]), float(hr[j]) + bias[j], scalar_tanh);
          dr[j] = T(d);
          acc[j] += d;
        }
      }
    }
  });
}

}  // namespace

using BF16 = c10::BFloat16;

void gelu_tanh_forward(const float* x, float* out, int64_t n) { forward_loop(x, out, n); }
void gelu_tanh_forward(const BF16* x, BF16* out, int64_t n) { forward_loop(x, out, n); }
void gelu_tanh_backward(const float* grad, const float* x, float* out, int64_t n) { backward_loop(grad, x, out, n); }
void gelu_tanh_backward(const BF16* grad, const BF16* x, BF16* out, int64_t n) { backward_loop(grad, x, out, n); }
void gelu_bias_forward(const float* h, const float* bias, float* out, int64_t rows, int64_t width) {
  bias_forward_loop(h, bias, out, rows, width);
}
void gelu_bias_forward(const BF16* h, const float* bias, BF16* out, int64_t rows, int64_t width) {
  bias_forward_loop(h, bias, out, rows, width);
}
void gelu_bias_backward(const float* g, const float* h, const float* bias, float* dpre, float* part_bias,
                        int64_t rows, int64_t width, int64_t chunk_rows) {
  bias_backward_loop(g, h, bias, dpre, part_bias, rows, width, chunk_rows);
}
void gelu_bias_backward(const BF16* g, const BF16* h, const float* bias, BF16* dpre, float* part_bias,
                        int64_t rows, int64_t width, int64_t chunk_rows) {
  bias_backward_loop(g, h, bias, dpre, part_bias, rows, width, chunk_rows);
}

}  // namespace ldae::kernels::CPU_CAPABILITY
