#include "core/nn/gelu_tanh.hpp"

#include "core/nn/kernels/gelu_tanh_kernel.hpp"

namespace ldae {
namespace {

// The widest instruction set this CPU runs (AVX-512 as ATen requires it:
// F, BW, VL, DQ), chosen once; the loops were compiled for each.
struct Kernels {
  void (*forward)(const float*, float*, int64_t);
  void (*backward)(const float*, const float*, float*, int64_t);
};
const Kernels& kernels() {
  static const Kernels k = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return Kernels{kernels::AVX512::gelu_tanh_forward, kernels::AVX512::gelu_tanh_backward};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Kernels{kernels::AVX2::gelu_tanh_forward, kernels::AVX2::gelu_tanh_backward};
    return Kernels{kernels::DEFAULT::gelu_tanh_forward, kernels::DEFAULT::gelu_tanh_backward};
  }();
  return k;
}

struct GeluTanh : torch::autograd::Function<GeluTanh> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    auto xc = x.contiguous();
    ctx->save_for_backward({xc});
    auto out = torch::empty_like(xc);
    kernels().forward(xc.data_ptr<float>(), out.data_ptr<float>(), xc.numel());
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto g = grads[0].contiguous();
    auto out = torch::empty_like(x);
    kernels().backward(g.data_ptr<float>(), x.data_ptr<float>(), out.data_ptr<float>(), x.numel());
    return {out};
  }
};

}  // namespace

torch::Tensor gelu_tanh(const torch::Tensor& x) {
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat32) return torch::gelu(x, "tanh");
  return GeluTanh::apply(x);
}

}  // namespace ldae
