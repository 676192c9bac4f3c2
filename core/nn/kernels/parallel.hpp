// at::parallel_for for the CPU kernels of core/nn/kernels/, with a check
// that it runs in parallel. LibTorch's PyPI build uses the OpenMP backend
// (ATen/Config.h: AT_PARALLEL_OPENMP), whose parallel_for is inlined into the
// caller: a file compiled without -fopenmp runs every loop on one thread,
// whatever at::set_num_threads says, and nothing fails (it did here until
// 2026-12-06: the fused kernels ran on one of two cores). CMake compiles the
// kernels with OpenMP (CMakeLists.txt, ldae_cpu_kernels); this header turns
// a kernel file (one compiled per instruction set: CPU_CAPABILITY defined)
// built without it into a compile error, unless CMake found no OpenMP for
// the compiler and said so (LDAE_KERNELS_WITHOUT_OPENMP: the loops then run
// on one thread). Other files may include it for the probe's declaration.
#pragma once
#include <ATen/Parallel.h>

#include <cstdint>

#if defined(CPU_CAPABILITY) && AT_PARALLEL_OPENMP && !defined(_OPENMP) && !defined(LDAE_KERNELS_WITHOUT_OPENMP)
#error "core/nn/kernels: compile with OpenMP (-fopenmp): LibTorch's at::parallel_for would run on one thread"
#endif

namespace ldae::kernels {

#define LDAE_PARALLEL_PROBE(CAP)                                                          \
  namespace CAP {                                                                         \
  /* How many threads at::parallel_for ran `items` items of grain 1 on (at most */        \
  /* at::get_num_threads()): what the kernels compiled for CAP get. */                    \
  int64_t parallel_for_threads(int64_t items);                                            \
  /* Whether the kernels for CAP were compiled with OpenMP. */                            \
  bool built_with_openmp();                                                               \
  }
LDAE_PARALLEL_PROBE(DEFAULT)
LDAE_PARALLEL_PROBE(AVX2)
LDAE_PARALLEL_PROBE(AVX512)
#undef LDAE_PARALLEL_PROBE

}  // namespace ldae::kernels
