// core/nn/fused_support: what a run with train.fused_kernels says when the
// CUDA kernels cannot run on its GPU.
#include <gtest/gtest.h>

#include "core/nn/fused_support.hpp"

namespace ldae {
namespace {

TEST(FusedSupport, SaysWhyTheGpuKernelsCannotRun) {
  EXPECT_EQ(gpu_kernels_missing(torch::Device(torch::kCPU)), "");  // the CPU loops are always built
  EXPECT_EQ(gpu_kernels_missing(true, true), "");
  const std::string no_nvcc = gpu_kernels_missing(false, false);
  EXPECT_NE(no_nvcc.find("nvcc was not found"), std::string::npos) << no_nvcc;
  EXPECT_NE(no_nvcc.find("CMAKE_CUDA_COMPILER"), std::string::npos) << no_nvcc;
  const std::string arch = gpu_kernels_missing(true, false);
  EXPECT_NE(arch.find("TORCH_CUDA_ARCH_LIST"), std::string::npos) << arch;
}

}  // namespace
}  // namespace ldae
