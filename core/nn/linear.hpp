// A Linear layer whose forward is ATen's linear (what PyTorch's nn.Linear
// calls): one fused addmm for inputs of any rank, bias included, and the
// autocast rule for linear (weight, bias and input all cast to bf16).
// The C++ frontend's torch::nn::Linear instead runs matmul and then adds the
// bias in place for non-2-D inputs: under bf16 autocast that adds an fp32
// bias into a bf16 product element by element, which took 17 ms of a 150 ms
// l-DAE step on this CPU (profile of bench_train --sweep, 2026-11-30).
// Same parameters, names and init as torch::nn::Linear (state dicts and
// `as<torch::nn::Linear>()` keep working).
#pragma once
#include <torch/torch.h>

namespace ldae {

struct FusedLinearImpl : torch::nn::LinearImpl {
  using torch::nn::LinearImpl::LinearImpl;
  // (..., in) -> (..., out)
  torch::Tensor forward(const torch::Tensor& input) { return at::linear(input, weight, bias); }
};
TORCH_MODULE(FusedLinear);

}  // namespace ldae
