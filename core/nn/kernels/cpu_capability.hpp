// Which of the instruction sets core/nn/kernels/ were compiled for this CPU
// runs: AVX-512 as ATen requires it (F, BW, VL, DQ), else AVX2 with FMA,
// else the x86-64 baseline. Asked once per process.
#pragma once

namespace ldae::kernels {

enum class Capability { DEFAULT, AVX2, AVX512 };

inline Capability cpu_capability() {
  static const Capability cap = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return Capability::AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Capability::AVX2;
    return Capability::DEFAULT;
  }();
  return cap;
}

}  // namespace ldae::kernels

// fn(args...) of core/nn/kernels/, compiled for the widest instruction set
// this CPU runs (the overload the arguments' types pick).
#define LDAE_CPU_KERNEL(fn, ...)                                                           \
  switch (::ldae::kernels::cpu_capability()) {                                             \
    case ::ldae::kernels::Capability::AVX512: ::ldae::kernels::AVX512::fn(__VA_ARGS__); break; \
    case ::ldae::kernels::Capability::AVX2: ::ldae::kernels::AVX2::fn(__VA_ARGS__); break;     \
    default: ::ldae::kernels::DEFAULT::fn(__VA_ARGS__);                                    \
  }
