// Stands in for adaln_cuda.cu and gelu_bias_cuda.cu in a build configured
// without nvcc: the launchers exist and say why they cannot run (nothing
// sends them a GPU tensor, since compiled() is false).
#include "core/nn/kernels/cuda_kernels.hpp"

namespace ldae::cuda_kernels {
namespace {
constexpr const char* kNotBuilt = "this build has no CUDA kernels (nvcc was not found when CMake configured it)";
}

bool compiled() { return false; }
bool usable_on_current_device() { return false; }

const char* layer_norm_modulate_forward(const void*, const float*, const float*, void*, float*, float*, Dtype, Rows,
                                        float, void*) {
  return kNotBuilt;
}
const char* layer_norm_modulate_backward(const void*, const void*, const float*, const float*, const float*, void*,
                                         float*, float*, Dtype, Rows, int64_t, void*) {
  return kNotBuilt;
}
const char* gated_residual_forward(const void*, const float*, const void*, void*, Dtype, Dtype, Rows, void*) {
  return kNotBuilt;
}
const char* gated_residual_backward(const void*, const float*, const void*, void*, float*, Dtype, Dtype, Rows,
                                    int64_t, void*) {
  return kNotBuilt;
}

const char* gelu_bias_forward(const void*, const float*, void*, Dtype, int64_t, int64_t, void*) { return kNotBuilt; }
const char* gelu_bias_backward(const void*, const void*, const float*, void*, float*, Dtype, int64_t, int64_t, int64_t,
                               void*) {
  return kNotBuilt;
}

}  // namespace ldae::cuda_kernels
