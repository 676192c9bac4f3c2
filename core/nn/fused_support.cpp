#include "core/nn/fused_support.hpp"

#include <c10/cuda/CUDAGuard.h>
#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>

namespace ldae {

namespace {
// Whether the compiled kernels run on GPU `device` (asked once per device).
bool usable_on(const torch::Device& device) {
  const c10::cuda::CUDAGuard guard(device);
  return cuda_kernels::usable_on_current_device();
}
}  // namespace

bool gpu_kernels_usable(const torch::Tensor& x) {
  return x.is_cuda() && cuda_kernels::compiled() && usable_on(x.device());
}

std::string gpu_kernels_missing(bool compiled, bool usable) {
  if (!compiled)
    return "this build has no CUDA kernels (nvcc was not found when CMake configured it: put the CUDA toolkit's "
           "bin on PATH, or set CMAKE_CUDA_COMPILER, and configure again)";
  if (!usable)
    return "the CUDA kernels were not compiled for this GPU's architecture (add it to TORCH_CUDA_ARCH_LIST, "
           "e.g. 9.0 for an H100, and configure again)";
  return "";
}

std::string gpu_kernels_missing(const torch::Device& device) {
  if (!device.is_cuda()) return "";
  const bool built = cuda_kernels::compiled();
  return gpu_kernels_missing(built, built && usable_on(device));
}

cuda_kernels::Dtype kernel_dtype(const torch::Tensor& t, const char* who) {
  if (t.scalar_type() == torch::kFloat32) return cuda_kernels::Dtype::f32;
  if (t.scalar_type() == torch::kBFloat16) return cuda_kernels::Dtype::bf16;
  throw std::logic_error(fmt::format("{}: {} tensor sent to the CUDA kernels", who, c10::toString(t.scalar_type())));
}

void check_launch(const char* err, const char* what) {
  if (err) throw std::runtime_error(fmt::format("{}: CUDA kernel launch failed: {}", what, err));
}

int64_t rows_per_task(bool cpu, int64_t groups, int64_t rows, int64_t width) {
  if (cpu) return std::clamp<int64_t>(16384 / std::max<int64_t>(width, 1), 1, std::max<int64_t>(rows, 1));
  const int64_t per_group = std::clamp<int64_t>((528 + groups - 1) / std::max<int64_t>(groups, 1), 1,
                                                std::max<int64_t>(rows, 1));
  return (rows + per_group - 1) / per_group;
}

}  // namespace ldae
