#include "core/nn/adaln_fused.hpp"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/record_function.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "core/nn/fused_support.hpp"
#include "core/nn/kernels/adaln_kernel.hpp"
#include "core/nn/kernels/cpu_capability.hpp"

namespace ldae {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;
using BF16 = c10::BFloat16;

cuda_kernels::Dtype cuda_dtype(const Tensor& t) { return kernel_dtype(t, "adaln_fused"); }

// x (B, L, W) on the CPU or a GPU the compiled kernels serve, with (B, W)
// modulations on the same device.
bool fusable_rows(const Tensor& x, const Tensor& bw) {
  if (x.dim() != 3 || bw.dim() != 2 || bw.size(0) != x.size(0) || bw.size(1) != x.size(2)) return false;
  if (bw.device() != x.device() || !bw.is_floating_point() || x.numel() == 0) return false;
  return x.is_cpu() || (x.size(2) <= cuda_kernels::kMaxWidth && gpu_kernels_usable(x));
}

// Tokens per backward task (one task per row b at the quickstart's 16 x 128).
int64_t chunk_rows(const Tensor& x) { return rows_per_task(x.is_cpu(), x.size(0), x.size(1), x.size(2)); }

kernels::Rows cpu_rows(const Tensor& x) { return {x.size(0), x.size(1), x.size(2)}; }
cuda_kernels::Rows gpu_rows(const Tensor& x) { return {x.size(0), x.size(1), x.size(2)}; }

// (B, chunks, W) column sums of every task -> (B, W) in `like`'s dtype (one
// chunk per row b, as at the quickstart's 16 tokens: no reduction to run).
Tensor column_sums(const Tensor& parts, const Tensor& like) {
  return (parts.size(1) == 1 ? parts.squeeze(1) : parts.sum(1)).to(like.scalar_type());
}

Tensor float_parts(const Tensor& x) {
  const int64_t chunks = (x.size(1) + chunk_rows(x) - 1) / chunk_rows(x);
  return torch::empty({x.size(0), chunks, x.size(2)}, x.options().dtype(torch::kFloat32));
}

struct LayerNormModulate : torch::autograd::Function<LayerNormModulate> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& shift, const Tensor& scale,
                        double eps) {
    RECORD_FUNCTION("ldae::layer_norm_modulate", std::vector<c10::IValue>());  // names the forward in a trace
    const auto xc = x.contiguous();
    const auto s1 = (scale.to(torch::kFloat32) + 1).contiguous();
    const auto sh = shift.to(torch::kFloat32).contiguous();
    auto y = torch::empty_like(xc);
    const auto stats = xc.options().dtype(torch::kFloat32);
    auto mean = torch::empty({x.size(0) * x.size(1)}, stats), rstd = torch::empty_like(mean);
    if (xc.is_cpu()) {
      with_element_type(xc, [&](auto t) {
        using T = decltype(t);
        LDAE_CPU_KERNEL(layer_norm_modulate_forward, xc.data_ptr<T>(), sh.data_ptr<float>(), s1.data_ptr<float>(),
                        y.data_ptr<T>(), mean.data_ptr<float>(), rstd.data_ptr<float>(), cpu_rows(xc), float(eps));
      });
    } else {
      const c10::cuda::CUDAGuard guard(xc.device());
      check_launch(cuda_kernels::layer_norm_modulate_forward(
                       xc.data_ptr(), sh.data_ptr<float>(), s1.data_ptr<float>(), y.data_ptr(), mean.data_ptr<float>(),
                       rstd.data_ptr<float>(), cuda_dtype(xc), gpu_rows(xc), float(eps),
                       at::cuda::getCurrentCUDAStream().stream()),
                   "layer_norm_modulate");
    }
    ctx->save_for_backward({xc, s1, mean, rstd, shift, scale});
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &s1 = saved[1], &mean = saved[2], &rstd = saved[3];
    const auto g = grads[0].to(x.scalar_type()).contiguous();
    auto dx = torch::empty_like(x);
    auto p_shift = float_parts(x), p_scale = float_parts(x);
    const int64_t rows = chunk_rows(x);
    if (x.is_cpu()) {
      with_element_type(x, [&](auto t) {
        using T = decltype(t);
        LDAE_CPU_KERNEL(layer_norm_modulate_backward, g.data_ptr<T>(), x.data_ptr<T>(), s1.data_ptr<float>(),
                        mean.data_ptr<float>(), rstd.data_ptr<float>(), dx.data_ptr<T>(), p_shift.data_ptr<float>(),
                        p_scale.data_ptr<float>(), cpu_rows(x), rows);
      });
    } else {
      const c10::cuda::CUDAGuard guard(x.device());
      check_launch(cuda_kernels::layer_norm_modulate_backward(
                       g.data_ptr(), x.data_ptr(), s1.data_ptr<float>(), mean.data_ptr<float>(), rstd.data_ptr<float>(),
                       dx.data_ptr(), p_shift.data_ptr<float>(), p_scale.data_ptr<float>(), cuda_dtype(x),
                       gpu_rows(x), rows, at::cuda::getCurrentCUDAStream().stream()),
                   "layer_norm_modulate backward");
    }
    return {dx, column_sums(p_shift, saved[4]), column_sums(p_scale, saved[5]), Tensor()};
  }
};

struct GatedResidual : torch::autograd::Function<GatedResidual> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& gate, const Tensor& branch) {
    RECORD_FUNCTION("ldae::gated_residual", std::vector<c10::IValue>());  // names the forward in a trace
    const auto xc = x.contiguous(), bc = branch.contiguous();
    const auto gt = gate.to(torch::kFloat32).contiguous();
    auto out = torch::empty_like(xc);
    if (xc.is_cpu()) {
      const bool fx = xc.scalar_type() == torch::kFloat32, fb = bc.scalar_type() == torch::kFloat32;
      if (fx && fb) {
        LDAE_CPU_KERNEL(gated_residual_forward, xc.data_ptr<float>(), gt.data_ptr<float>(), bc.data_ptr<float>(),
                        out.data_ptr<float>(), cpu_rows(xc));
      } else if (fx) {
        LDAE_CPU_KERNEL(gated_residual_forward, xc.data_ptr<float>(), gt.data_ptr<float>(), bc.data_ptr<BF16>(),
                        out.data_ptr<float>(), cpu_rows(xc));
      } else {
        LDAE_CPU_KERNEL(gated_residual_forward, xc.data_ptr<BF16>(), gt.data_ptr<float>(), bc.data_ptr<BF16>(),
                        out.data_ptr<BF16>(), cpu_rows(xc));
      }
    } else {
      const c10::cuda::CUDAGuard guard(xc.device());
      check_launch(cuda_kernels::gated_residual_forward(xc.data_ptr(), gt.data_ptr<float>(), bc.data_ptr(),
                                                        out.data_ptr(), cuda_dtype(xc), cuda_dtype(bc), gpu_rows(xc),
                                                        at::cuda::getCurrentCUDAStream().stream()),
                   "gated_residual");
    }
    ctx->save_for_backward({gt, bc, gate});
    ctx->saved_data["x_dtype"] = int64_t(xc.scalar_type());
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &gt = saved[0], &branch = saved[1];
    const auto x_dtype = c10::ScalarType(ctx->saved_data["x_dtype"].toInt());
    const auto g = grads[0].to(x_dtype).contiguous();
    auto dbranch = torch::empty_like(branch);
    auto p_gate = float_parts(branch);
    const int64_t rows = chunk_rows(branch);
    if (g.is_cpu()) {
      const bool fx = x_dtype == torch::kFloat32, fb = branch.scalar_type() == torch::kFloat32;
      if (fx && fb) {
        LDAE_CPU_KERNEL(gated_residual_backward, g.data_ptr<float>(), gt.data_ptr<float>(), branch.data_ptr<float>(),
                        dbranch.data_ptr<float>(), p_gate.data_ptr<float>(), cpu_rows(g), rows);
      } else if (fx) {
        LDAE_CPU_KERNEL(gated_residual_backward, g.data_ptr<float>(), gt.data_ptr<float>(), branch.data_ptr<BF16>(),
                        dbranch.data_ptr<BF16>(), p_gate.data_ptr<float>(), cpu_rows(g), rows);
      } else {
        LDAE_CPU_KERNEL(gated_residual_backward, g.data_ptr<BF16>(), gt.data_ptr<float>(), branch.data_ptr<BF16>(),
                        dbranch.data_ptr<BF16>(), p_gate.data_ptr<float>(), cpu_rows(g), rows);
      }
    } else {
      const c10::cuda::CUDAGuard guard(g.device());
      check_launch(cuda_kernels::gated_residual_backward(
                       g.data_ptr(), gt.data_ptr<float>(), branch.data_ptr(), dbranch.data_ptr(),
                       p_gate.data_ptr<float>(), cuda_dtype(g), cuda_dtype(branch), gpu_rows(g), rows,
                       at::cuda::getCurrentCUDAStream().stream()),
                   "gated_residual backward");
    }
    // d out / d x is the identity: the incoming gradient passes through.
    return {grads[0], column_sums(p_gate, saved[2]), dbranch};
  }
};

}  // namespace


bool fused_cuda_kernels_built() { return cuda_kernels::compiled(); }

Tensor layer_norm_modulate_unfused(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps) {
  namespace F = torch::nn::functional;
  const auto n = F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).eps(eps));
  return n * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

Tensor gated_residual_unfused(const Tensor& x, const Tensor& gate, const Tensor& branch) {
  return x + gate.unsqueeze(1) * branch;
}

Tensor layer_norm_modulate(const Tensor& x, const Tensor& shift, const Tensor& scale, double eps) {
  const bool ok = is_float_or_bf16(x) && fusable_rows(x, shift) && fusable_rows(x, scale) &&
                  torch::result_type(x, shift) == x.scalar_type() &&
                  torch::result_type(x, scale) == x.scalar_type();
  return ok ? LayerNormModulate::apply(x, shift, scale, eps) : layer_norm_modulate_unfused(x, shift, scale, eps);
}

Tensor gated_residual(const Tensor& x, const Tensor& gate, const Tensor& branch) {
  const bool ok = is_float_or_bf16(x) && is_float_or_bf16(branch) && fusable_rows(x, gate) &&
                  branch.sizes() == x.sizes() && branch.device() == x.device() &&
                  !(x.scalar_type() == torch::kBFloat16 && branch.scalar_type() == torch::kFloat32) &&
                  torch::result_type(x, gate) == x.scalar_type();
  return ok ? GatedResidual::apply(x, gate, branch) : gated_residual_unfused(x, gate, branch);
}

}  // namespace ldae
