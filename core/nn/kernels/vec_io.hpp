// Loads and stores of Vec::size() float32 or bfloat16 elements as at::vec's
// float32 lanes, for the CPU kernels of core/nn/kernels/ (compiled once per
// instruction set: include it only from those files, where CPU_CAPABILITY
// names the namespace). bfloat16 is converted as it is loaded and rounded to
// nearest even as it is stored.
#pragma once
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/BFloat16.h>

namespace ldae::kernels::CPU_CAPABILITY {
namespace {

using Vec = at::vec::Vectorized<float>;

inline Vec vload(const float* p) { return Vec::loadu(p); }
inline Vec vload(const c10::BFloat16* p) {
  Vec v;
  at::vec::load_to_float(p, v);
  return v;
}
inline void vstore(float* p, const Vec& v) { v.store(p); }
inline void vstore(c10::BFloat16* p, const Vec& v) {
  at::vec::convert_from_float<c10::BFloat16>(v, v).store(p, Vec::size());
}

}  // namespace
}  // namespace ldae::kernels::CPU_CAPABILITY
