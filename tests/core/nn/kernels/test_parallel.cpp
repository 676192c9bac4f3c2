// The CPU kernels' loops run on every thread LibTorch is given: their files
// are compiled with OpenMP (core/nn/kernels/parallel.hpp), without which
// at::parallel_for runs on one thread and nothing else fails (the fused
// kernels ran so until 2026-12-06). Asked of each instruction set's build
// that this CPU can run.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "core/nn/kernels/cpu_capability.hpp"
#include "core/nn/kernels/parallel.hpp"

namespace ldae::kernels {
namespace {

struct Threads {
  explicit Threads(int n) : before(at::get_num_threads()) { at::set_num_threads(n); }
  ~Threads() { at::set_num_threads(before); }
  int before;
};

// Skipped only where CMake found no OpenMP for the compiler and warned.
class Parallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DEFAULT::built_with_openmp())
      GTEST_SKIP() << "the kernels were built without OpenMP (no OpenMP for this compiler): they run on one thread";
  }
};

TEST_F(Parallel, TheKernelsLoopsRunOnEveryThread) {
  const auto cap = cpu_capability();
  for (int n : {1, 2, 3}) {
    const Threads threads(n);
    SCOPED_TRACE(n);
    EXPECT_EQ(DEFAULT::parallel_for_threads(64), n);
    if (cap >= Capability::AVX2) EXPECT_EQ(AVX2::parallel_for_threads(64), n);
    if (cap >= Capability::AVX512) EXPECT_EQ(AVX512::parallel_for_threads(64), n);
  }
}

TEST_F(Parallel, NoMoreThreadsThanItems) {
  const Threads threads(3);
  EXPECT_EQ(DEFAULT::parallel_for_threads(1), 1);
  EXPECT_EQ(DEFAULT::parallel_for_threads(2), 2);
}

}  // namespace
}  // namespace ldae::kernels
