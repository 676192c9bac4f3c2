// GELU with the tanh approximation (Hendrycks & Gimpel 2016, Eq. 2; DiT's
// MLP activation, nn.GELU(approximate="tanh")) as one vectorised pass per
// direction on the CPU:
//   gelu(x)  = 0.5 x (1 + tanh(k (x + c x^3))),  k = sqrt(2 / pi), c = 0.044715
//   gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2),  t = tanh(k (x + c x^3))
// Why: LibTorch 2.11's CPU kernel for the tanh variant is 5.5x slower than
// for exact GELU (1.37 vs 0.25 ms forward on 2048 x 512 float32, 2 threads,
// AVX-512; backward 1.18 vs 0.45 ms), 20% of the quickstart step's time in
// its trace; torch.compile generates its own vectorised code for it. This
// one: forward + backward through autograd 1.69 ms where LibTorch's take
// 2.49 ms (same tensor and machine; the forward loop alone 0.51 ms).
// The element math is in kernels/gelu_tanh_math.hpp, shared by every loop;
// the loops (core/nn/kernels/) are compiled per instruction set.
#pragma once
#include <torch/torch.h>

namespace ldae {

// x (any shape) -> gelu_tanh(x), differentiable. float32 and bfloat16
// tensors on the CPU take the vectorised kernel (at::vec, parallel over
// chunks; bfloat16 computed in float32 and rounded once); any other dtype or
// device takes LibTorch's torch::gelu(x, "tanh") (its CUDA kernel is one
// memory-bound pass already). Equal to torch::gelu(x, "tanh") to float
// rounding (a few ulp), not bit for bit: train.fused_kernels selects it.
torch::Tensor gelu_tanh(const torch::Tensor& x);

// gelu_tanh(x W^T + b): x (..., in), weight (out, in), bias (out) -> (..., out),
// differentiable in all three (DiT's MLP: fc1 then GELU).
// - On a GPU with autograd off (evaluation: probe features, samples): one
//   cuBLASLt matrix product whose epilogue adds the bias and applies GELU
//   (tanh) (at::_addmm_activation; LibTorch 2.11 gives it no backward), in
//   autocast's dtype when autocast is on, as at::linear would be.
// - Training, float32 or bf16 on the CPU (bf16 also under CPU autocast) or
//   on a GPU with the CUDA kernels: x W^T without the bias, then one pass adding the bias
//   and applying GELU; backward one pass giving the pre-activation's
//   gradient and the bias's (column sums per chunk of rows, then summed:
//   independent of the thread count). Saves addmm's copy of the bias into
//   its output and the separate bias-gradient reduction. The result keeps
//   the product's dtype (bf16 under autocast, as at::linear's).
// - Otherwise at::linear then gelu_tanh.
torch::Tensor linear_gelu_tanh(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

}  // namespace ldae
