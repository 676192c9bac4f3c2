// CUDA launchers of the fused kernels: core/nn/adaln_fused's (adaln_cuda.cu)
// and core/nn/gelu_tanh's bias + GELU (gelu_bias_cuda.cu), compiled by nvcc
// in every build where CMake finds it; otherwise cuda_kernels_absent.cpp
// stands in, and compiled() says which. The layout is the CPU loops' (adaln_kernel.hpp): contiguous (B, L, W)
// rows of float32 or bfloat16 (Dtype), float32 (B, W) shift, s1 = 1 + scale
// and gate, float32 (B * L) mean and rstd, and per-chunk column sums
// part_* of shape (B, ceil(L / chunk_rows), W) float32. No CUDA or LibTorch
// header here: the caller passes its current stream as a void*.
// Each returns nullptr, or the CUDA error's text when the launch failed.
#pragma once
#include <cstdint>

namespace ldae::cuda_kernels {

enum class Dtype { f32, bf16 };

struct Rows {
  int64_t batch, tokens, width;  // B, L, W
};

// Whether the kernels were compiled (false: every launcher returns an error).
bool compiled();
// Whether the current GPU runs them: compiled for its architecture
// (TORCH_CUDA_ARCH_LIST at configure time; a GPU of another architecture
// takes LibTorch's ops). Asked once per device.
bool usable_on_current_device();

// The widest row the LayerNorm backward's shared-memory column sums take
// (2 W floats beside its 32 bytes of scratch, within the 48 KiB a block gets
// without opting in; DiT-XL is 1152 wide).
constexpr int64_t kMaxWidth = 4096;

const char* layer_norm_modulate_forward(const void* x, const float* shift, const float* s1, void* y,
                                        float* mean, float* rstd, Dtype t, Rows r, float eps, void* stream);
const char* layer_norm_modulate_backward(const void* g, const void* x, const float* s1, const float* mean,
                                         const float* rstd, void* dx, float* part_shift, float* part_scale,
                                         Dtype t, Rows r, int64_t chunk_rows, void* stream);
// x and out of type tx, branch and dbranch of type tb; g of type tx.
const char* gated_residual_forward(const void* x, const float* gate, const void* branch, void* out, Dtype tx,
                                   Dtype tb, Rows r, void* stream);
const char* gated_residual_backward(const void* g, const float* gate, const void* branch, void* dbranch,
                                    float* part_gate, Dtype tx, Dtype tb, Rows r, int64_t chunk_rows,
                                    void* stream);

// gelu_tanh(h + bias) over `rows` contiguous rows of W: h, out, g, dpre of
// type t, bias float32 (W); the backward writes dpre = g * gelu'(h + bias)
// and per-chunk column sums part_bias (ceil(rows / chunk_rows), W) float32.
const char* gelu_bias_forward(const void* h, const float* bias, void* out, Dtype t, int64_t rows, int64_t width,
                              void* stream);
const char* gelu_bias_backward(const void* g, const void* h, const float* bias, void* dpre, float* part_bias,
                               Dtype t, int64_t rows, int64_t width, int64_t chunk_rows, void* stream);

}  // namespace ldae::cuda_kernels
