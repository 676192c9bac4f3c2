// The DiT block's adaLN pieces as fused autograd functions (train.fused_kernels):
//   layer_norm_modulate(x, shift, scale) = LayerNorm(x) * (1 + scale) + shift
//   gated_residual(x, gate, branch)      = x + gate * branch
// DiT (Peebles & Xie 2023, models.py: modulate, DiTBlock.forward): LayerNorm
// without affine, eps 1e-6; (B, W) modulations broadcast over the L tokens.
// Why: unfused, each is 3-5 passes over the (B, L, W) activations forward
// and as many backward, plus the reductions that form the modulations'
// gradients; fused, one pass forward and one (gated) or two (LayerNorm,
// which needs its row sums first) backward, the column sums made in the
// same pass. The element math is core/nn/kernels/adaln_math.hpp, shared by
// the CPU loops (at::vec, parallel over rows; kernels/adaln_kernel.cpp) and
// the CUDA kernels (kernels/adaln_cuda.cu).
#pragma once
#include <torch/torch.h>

namespace ldae {

// x (B, L, W), shift and scale (B, W) -> (B, L, W) of x's dtype; differentiable
// in all three. Fused where x is float32 or bfloat16 on the CPU or (when the
// CUDA kernels were compiled, W <= 4096) a GPU, and the result's dtype is x's
// (e.g. float32 x with bfloat16 modulations under autocast); otherwise the
// unfused ops below. Arithmetic in float32; equal to the unfused ops to float
// rounding, not bit for bit.
torch::Tensor layer_norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale,
                                  double eps);

// x (B, L, W), gate (B, W), branch (B, L, W) -> x + gate * branch, of x's
// dtype; differentiable in all three. Fused for (x, branch) dtypes (float32,
// float32), (float32, bfloat16) (autocast: a float32 residual stream, bf16
// branch) and (bfloat16, bfloat16); otherwise the unfused ops below. The
// product is not rounded to the branch's dtype first, as the unfused
// autocast ops round it.
torch::Tensor gated_residual(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& branch);

// The same by LibTorch's ops, as the DiT block computes them unfused.
torch::Tensor layer_norm_modulate_unfused(const torch::Tensor& x, const torch::Tensor& shift,
                                          const torch::Tensor& scale, double eps);
torch::Tensor gated_residual_unfused(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& branch);

// Whether the fused CUDA kernels (core/nn/kernels/*.cu: these and gelu_tanh's
// bias + GELU) were compiled into this build (nvcc found at configure time).
bool fused_cuda_kernels_built();

}  // namespace ldae
