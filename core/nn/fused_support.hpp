// What the fused autograd functions (core/nn/adaln_fused, core/nn/gelu_tanh)
// share around their kernels: whether a GPU tensor can take the CUDA
// kernels, the kernels' dtype code, their launch check, and how many rows a
// backward task sums (the per-chunk column sums behind the modulations' and
// biases' gradients).
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/nn/kernels/cuda_kernels.hpp"

namespace ldae {

// x on a GPU whose architecture the compiled CUDA kernels serve (false in a
// build without nvcc, or for an architecture outside TORCH_CUDA_ARCH_LIST).
bool gpu_kernels_usable(const torch::Tensor& x);

// Why the fused CUDA kernels will not run on GPU `device` ("" when they will,
// and for a CPU device): a build configured without nvcc, or a GPU whose
// architecture they were not compiled for. The fused functions then take
// LibTorch's ops there; a run with train.fused_kernels says so in its log.
std::string gpu_kernels_missing(const torch::Device& device);
// The same from the two facts: kernels compiled into this build, and usable
// on the GPU in question.
std::string gpu_kernels_missing(bool compiled, bool usable);

// float32 or bfloat16 as the kernels' code; std::logic_error for any other
// dtype (the callers' checks keep every other dtype on LibTorch's ops).
cuda_kernels::Dtype kernel_dtype(const torch::Tensor& t, const char* who);

// Throws std::runtime_error naming `what` when a launcher returned an error.
void check_launch(const char* err, const char* what);

// Rows per backward task over `groups` groups of `rows` rows of width W each
// (a task never spans two groups): about 16k elements on the CPU; on a GPU
// enough tasks (blocks) to fill it, about 4 per SM of an H100/H200's 132.
int64_t rows_per_task(bool cpu, int64_t groups, int64_t rows, int64_t width);

// Whether t is float32 or bfloat16: the dtypes the fused kernels compute.
inline bool is_float_or_bf16(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16;
}

// f(T{}) with T the element type of t's dtype: float for float32,
// c10::BFloat16 for bfloat16 (call it only after is_float_or_bf16(t)). Picks
// the CPU kernels' overload once instead of an if/else per call site.
template <class F>
void with_element_type(const torch::Tensor& t, F f) {
  if (t.scalar_type() == torch::kFloat32)
    f(float{});
  else
    f(c10::BFloat16{});
}

}  // namespace ldae
