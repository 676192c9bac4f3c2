// One instruction set's LayerNorm + modulate and gated-residual loops; see
// adaln_kernel.hpp for the layout and adaln_math.hpp for the formulas.
#include "core/nn/kernels/adaln_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/nn/kernels/adaln_math.hpp"
#include "core/nn/kernels/parallel.hpp"
#include "core/nn/kernels/vec_io.hpp"

namespace ldae::kernels::CPU_CAPABILITY {
namespace {

namespace math = adaln_math;

float hsum(const Vec& v) {
  alignas(64) float lanes[Vec::size()];
  v.store(lanes);
  float s = 0;
  for (int64_t i = 0; i < Vec::size(); ++i) s += lanes[i];
  return s;
}

// vec_op(j) on whole vectors of a row of W, then scalar_op(j) on the rest.
template <class VecOp, class ScalarOp>
inline void each(int64_t W, VecOp vec_op, ScalarOp scalar_op) {
  int64_t j = 0;
  for (; j + Vec::size() <= W; j += Vec::size()) vec_op(j);
  for (; j < W; ++j) scalar_op(j);
}

// Rows per task for row-parallel loops: about 16k elements of work.
int64_t row_grain(int64_t W) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(W, 1)); }

template <class T>
void ln_forward(const T* x, const float* shift, const float* s1, T* y, float* mean, float* rstd, Rows r,
                float eps) {
  const int64_t W = r.width;
  at::parallel_for(0, r.batch * r.tokens, row_grain(W), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const T* xr = x + row * W;
      T* yr = y + row * W;
      const int64_t b = row / r.tokens;
      const float* sh = shift + b * W;
      const float* sc = s1 + b * W;
      Vec acc(0.0f);
      float s = 0;
      each(W, [&](int64_t j) { acc += vload(xr + j); }, [&](int64_t j) { s += float(xr[j]); });
      const float m = (hsum(acc) + s) / float(W);
      const Vec vm(m);
      acc = Vec(0.0f);
      s = 0;
      each(W, [&](int64_t j) { const Vec d = vload(xr + j) - vm; acc += d * d; },
           [&](int64_t j) { const float d = float(xr[j]) - m; s += d * d; });
      const float rs = 1.0f / std::sqrt((hsum(acc) + s) / float(W) + eps);
      const Vec vrs(rs);
      each(W,
           [&](int64_t j) {
             vstore(yr + j, math::modulate(vload(xr + j), vm, vrs, Vec::loadu(sc + j), Vec::loadu(sh + j)));
           },
           [&](int64_t j) { yr[j] = T(math::modulate(float(xr[j]), m, rs, sc[j], sh[j])); });
      mean[row] = m;
      rstd[row] = rs;
    }
  });
}

// The backward's tasks: one per (batch row b, chunk of chunk_rows tokens),
// each writing its own column sums; fn(b, l_begin, l_end, task).
template <class Fn>
void for_each_chunk(Rows r, int64_t chunk_rows, Fn fn) {
  const int64_t chunks = (r.tokens + chunk_rows - 1) / chunk_rows;
  at::parallel_for(0, r.batch * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / chunks, c = task % chunks;
      fn(b, c * chunk_rows, std::min(r.tokens, (c + 1) * chunk_rows), task);
    }
  });
}

template <class T>
void ln_backward(const T* g, const T* x, const float* s1, const float* mean, const float* rstd, T* dx,
                 float* part_shift, float* part_scale, Rows r, int64_t chunk_rows) {
  const int64_t W = r.width;
  for_each_chunk(r, chunk_rows, [&](int64_t b, int64_t l0, int64_t l1, int64_t task) {
    float* ps = part_shift + task * W;
    float* pc = part_scale + task * W;
    std::fill(ps, ps + W, 0.0f);
    std::fill(pc, pc + W, 0.0f);
    const float* sc = s1 + b * W;
    for (int64_t l = l0; l < l1; ++l) {
      const int64_t row = b * r.tokens + l;
      const T* gr = g + row * W;
      const T* xr = x + row * W;
      T* dr = dx + row * W;
      const float m = mean[row], rs = rstd[row];
      const Vec vm(m), vrs(rs);
      Vec acc_gs(0.0f), acc_gsx(0.0f);
      float gs_sum = 0, gsx_sum = 0;
      each(W,
           [&](int64_t j) {
             const Vec gv = vload(gr + j), xh = (vload(xr + j) - vm) * vrs;
             const Vec gs = gv * Vec::loadu(sc + j);
             acc_gs += gs;
             acc_gsx += gs * xh;
             (Vec::loadu(ps + j) + gv).store(ps + j);
             (Vec::loadu(pc + j) + gv * xh).store(pc + j);
           },
           [&](int64_t j) {
             const float gv = float(gr[j]), xh = (float(xr[j]) - m) * rs, gs = gv * sc[j];
             gs_sum += gs;
             gsx_sum += gs * xh;
             ps[j] += gv;
             pc[j] += gv * xh;
           });
      const float a = (hsum(acc_gs) + gs_sum) / float(W), c = (hsum(acc_gsx) + gsx_sum) / float(W);
      const Vec va(a), vc(c);
      each(W,
           [&](int64_t j) {
             const Vec xh = (vload(xr + j) - vm) * vrs;
             vstore(dr + j, math::norm_input_grad(vload(gr + j) * Vec::loadu(sc + j), xh, vrs, va, vc));
           },
           [&](int64_t j) {
             const float xh = (float(xr[j]) - m) * rs;
             dr[j] = T(math::norm_input_grad(float(gr[j]) * sc[j], xh, rs, a, c));
           });
    }
  });
}

template <class TX, class TB>
void gated_forward(const TX* x, const float* gate, const TB* branch, TX* out, Rows r) {
  const int64_t W = r.width;
  at::parallel_for(0, r.batch * r.tokens, row_grain(W), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const float* gt = gate + (row / r.tokens) * W;
      const TX* xr = x + row * W;
      const TB* br = branch + row * W;
      TX* orow = out + row * W;
      each(W,
           [&](int64_t j) {
             vstore(orow + j, math::gated_residual(vload(xr + j), Vec::loadu(gt + j), vload(br + j)));
           },
           [&](int64_t j) { orow[j] = TX(math::gated_residual(float(xr[j]), gt[j], float(br[j]))); });
    }
  });
}

template <class TX, class TB>
void gated_backward(const TX* g, const float* gate, const TB* branch, TB* dbranch, float* part_gate, Rows r,
                    int64_t chunk_rows) {
  const int64_t W = r.width;
  for_each_chunk(r, chunk_rows, [&](int64_t b, int64_t l0, int64_t l1, int64_t task) {
    float* pg = part_gate + task * W;
    std::fill(pg, pg + W, 0.0f);
    const float* gt = gate + b * W;
    for (int64_t l = l0; l < l1; ++l) {
      const int64_t row = b * r.tokens + l;
      const TX* gr = g + row * W;
      const TB* br = branch + row * W;
      TB* dr = dbranch + row * W;
      each(W,
           [&](int64_t j) {
             const Vec gv = vload(gr + j);
             vstore(dr + j, gv * Vec::loadu(gt + j));
             (Vec::loadu(pg + j) + gv * vload(br + j)).store(pg + j);
           },
           [&](int64_t j) {
             const float gv = float(gr[j]);
             dr[j] = TB(gv * gt[j]);
             pg[j] += gv * float(br[j]);
           });
    }
  });
}

}  // namespace

using BF16 = c10::BFloat16;

void layer_norm_modulate_forward(const float* x, const float* shift, const float* s1, float* y, float* mean,
                                 float* rstd, Rows r, float eps) {
  ln_forward(x, shift, s1, y, mean, rstd, r, eps);
}
void layer_norm_modulate_forward(const BF16* x, const float* shift, const float* s1, BF16* y, float* mean,
                                 float* rstd, Rows r, float eps) {
  ln_forward(x, shift, s1, y, mean, rstd, r, eps);
}
void layer_norm_modulate_backward(const float* g, const float* x, const float* s1, const float* mean,
                                  const float* rstd, float* dx, float* part_shift, float* part_scale, Rows r,
                                  int64_t chunk_rows) {
  ln_backward(g, x, s1, mean, rstd, dx, part_shift, part_scale, r, chunk_rows);
}
void layer_norm_modulate_backward(const BF16* g, const BF16* x, const float* s1, const float* mean,
                                  const float* rstd, BF16* dx, float* part_shift, float* part_scale, Rows r,
                                  int64_t chunk_rows) {
  ln_backward(g, x, s1, mean, rstd, dx, part_shift, part_scale, r, chunk_rows);
}
void gated_residual_forward(const float* x, const float* gate, const float* branch, float* out, Rows r) {
  gated_forward(x, gate, branch, out, r);
}
void gated_residual_forward(const float* x, const float* gate, const BF16* branch, float* out, Rows r) {
  gated_forward(x, gate, branch, out, r);
}
void gated_residual_forward(const BF16* x, const float* gate, const BF16* branch, BF16* out, Rows r) {
  gated_forward(x, gate, branch, out, r);
}
void gated_residual_backward(const float* g, const float* gate, const float* branch, float* dbranch,
                             float* part_gate, Rows r, int64_t chunk_rows) {
  gated_backward(g, gate, branch, dbranch, part_gate, r, chunk_rows);
}
void gated_residual_backward(const float* g, const float* gate, const BF16* branch, BF16* dbranch,
                             float* part_gate, Rows r, int64_t chunk_rows) {
  gated_backward(g, gate, branch, dbranch, part_gate, r, chunk_rows);
}
void gated_residual_backward(const BF16* g, const float* gate, const BF16* branch, BF16* dbranch,
                             float* part_gate, Rows r, int64_t chunk_rows) {
  gated_backward(g, gate, branch, dbranch, part_gate, r, chunk_rows);
}

}  // namespace ldae::kernels::CPU_CAPABILITY
