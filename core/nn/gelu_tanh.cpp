#include "core/nn/gelu_tanh.hpp"

#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/record_function.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "core/nn/fused_support.hpp"
#include "core/nn/kernels/cpu_capability.hpp"
#include "core/nn/kernels/gelu_tanh_kernel.hpp"

namespace ldae {
namespace {

struct GeluTanh : torch::autograd::Function<GeluTanh> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    RECORD_FUNCTION("ldae::gelu_tanh", std::vector<c10::IValue>());  // names the forward in a trace
    auto xc = x.contiguous();
    ctx->save_for_backward({xc});
    auto out = torch::empty_like(xc);
    with_element_type(xc, [&](auto t) {
      using T = decltype(t);
      LDAE_CPU_KERNEL(gelu_tanh_forward, xc.data_ptr<T>(), out.data_ptr<T>(), xc.numel());
    });
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto g = grads[0].to(x.scalar_type()).contiguous();
    auto out = torch::empty_like(x);
    with_element_type(x, [&](auto t) {
      using T = decltype(t);
      LDAE_CPU_KERNEL(gelu_tanh_backward, g.data_ptr<T>(), x.data_ptr<T>(), out.data_ptr<T>(), x.numel());
    });
    return {out};
  }
};

// gelu_tanh(h + bias): h (..., W) float32 or bf16 on the CPU or a GPU
// (the result in h's dtype, as at::linear's under autocast); bias (W).
struct GeluTanhBias : torch::autograd::Function<GeluTanhBias> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h,
                               const torch::Tensor& bias) {
    RECORD_FUNCTION("ldae::gelu_tanh_bias", std::vector<c10::IValue>());  // names the forward in a trace
    const auto hc = h.contiguous();
    const auto b = bias.to(torch::kFloat32).contiguous();
    const int64_t W = hc.size(-1), rows = hc.numel() / std::max<int64_t>(W, 1);
    auto out = torch::empty_like(hc);
    if (hc.is_cpu()) {
      with_element_type(hc, [&](auto t) {
        using T = decltype(t);
        LDAE_CPU_KERNEL(gelu_bias_forward, hc.data_ptr<T>(), b.data_ptr<float>(), out.data_ptr<T>(), rows, W);
      });
    } else {
      const c10::cuda::CUDAGuard guard(hc.device());
      check_launch(cuda_kernels::gelu_bias_forward(hc.data_ptr(), b.data_ptr<float>(), out.data_ptr(),
                                                   kernel_dtype(hc, "gelu_tanh_bias"),
                                                   rows, W, at::cuda::getCurrentCUDAStream().stream()),
                   "gelu_tanh_bias");
    }
    ctx->save_for_backward({hc, b, bias});
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &h = saved[0], &b = saved[1];
    const auto g = grads[0].to(h.scalar_type()).contiguous();
    const int64_t W = h.size(-1), rows = h.numel() / std::max<int64_t>(W, 1);
    const int64_t chunk = rows_per_task(h.is_cpu(), 1, rows, W);
    auto dpre = torch::empty_like(h);
    auto parts = torch::empty({(rows + chunk - 1) / chunk, W}, h.options().dtype(torch::kFloat32));
    if (h.is_cpu()) {
      with_element_type(h, [&](auto t) {
        using T = decltype(t);
        LDAE_CPU_KERNEL(gelu_bias_backward, g.data_ptr<T>(), h.data_ptr<T>(), b.data_ptr<float>(), dpre.data_ptr<T>(),
                        parts.data_ptr<float>(), rows, W, chunk);
      });
    } else {
      const c10::cuda::CUDAGuard guard(h.device());
      check_launch(cuda_kernels::gelu_bias_backward(g.data_ptr(), h.data_ptr(), b.data_ptr<float>(), dpre.data_ptr(),
                                                    parts.data_ptr<float>(), kernel_dtype(h, "gelu_tanh_bias"), rows, W, chunk,
                                                    at::cuda::getCurrentCUDAStream().stream()),
                   "gelu_tanh_bias backward");
    }
    return {dpre, parts.sum(0).to(saved[2].scalar_type())};
  }
};

// Whether x W^T can be taken without its bias and the bias folded into the
// GELU pass: on the CPU a float32 or bf16 product (x and weight of one of
// those dtypes, or CPU autocast to bf16, which makes the product bf16); on a
// GPU whose kernels were compiled, float32 or bf16 too.
bool bias_fusable(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!bias.defined() || bias.dim() != 1 || x.dim() < 1 || x.numel() == 0) return false;
  if (bias.size(0) != weight.size(0) || bias.device() != x.device() || weight.device() != x.device()) return false;
  if (x.is_cpu()) {
    if (at::autocast::is_autocast_enabled(at::kCPU))
      return at::autocast::get_autocast_dtype(at::kCPU) == torch::kBFloat16 && is_float_or_bf16(x) &&
             is_float_or_bf16(weight);
    return is_float_or_bf16(x) && weight.scalar_type() == x.scalar_type();
  }
  return gpu_kernels_usable(x);
}

}  // namespace

torch::Tensor linear_gelu_tanh(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (!x.is_cuda() || torch::GradMode::is_enabled() || !bias.defined() || x.dim() < 2) {
    if (bias_fusable(x, weight, bias)) {
      auto h = at::matmul(x, weight.t());  // autocast's dtype where autocast is on: the kernels take f32 and bf16
      if (h.scalar_type() == torch::kFloat32 || h.scalar_type() == torch::kBFloat16) return GeluTanhBias::apply(h, bias);
      return gelu_tanh(h + bias.to(h.scalar_type()));
    }
    return gelu_tanh(at::linear(x, weight, bias));
  }
  auto in = x.reshape({-1, x.size(-1)});
  auto w = weight, b = bias;
  if (at::autocast::is_autocast_enabled(at::kCUDA)) {  // linear's autocast rule: all three in its dtype
    const auto dt = at::autocast::get_autocast_dtype(at::kCUDA);
    in = in.to(dt), w = w.to(dt), b = b.to(dt);
  }
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  return at::_addmm_activation(b, in, w.t(), 1, 1, /*use_gelu=*/true).view(sizes);
}

torch::Tensor gelu_tanh(const torch::Tensor& x) {
  if (!x.is_cpu() || !is_float_or_bf16(x)) return torch::gelu(x, "tanh");
  return GeluTanh::apply(x);
}

}  // namespace ldae
