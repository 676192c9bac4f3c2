#include "backbones/backbone.hpp"

#include <fmt/core.h>

#include <cmath>

#include "core/base/errors.hpp"
#include "core/nn/linear.hpp"

namespace ldae {

torch::Tensor pool_features(const torch::Tensor& f, const std::string& pool, bool has_cls) {
  if (pool == "cls" || pool == "cls_mean") {
    if (!has_cls)
      throw InputError("probe.pool = \"" + pool + "\" needs a class token: set model.cls_token = true "
                       "(dit, uvit) or use probe.pool = \"mean\"");
    if (pool == "cls") return f.select(1, 0);                                 // (B, C)
    return torch::cat({f.select(1, 0), f.slice(1, 1).mean(/*dim=*/1)}, -1);  // (B, 2C)
  }
  return (has_cls ? f.slice(1, 1) : f).mean(/*dim=*/1);
}

int64_t pooled_width(int64_t width, const std::string& pool) { return pool == "cls_mean" ? 2 * width : width; }

torch::Tensor timestep_features(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  auto freqs = torch::exp(-std::log(10000.0) *
                          torch::arange(half, t.options().dtype(torch::kFloat32)) / double(half));
  auto args = t.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);  // (B, half)
  return torch::cat({torch::cos(args), torch::sin(args)}, /*dim=*/1);
}

torch::Tensor sincos_2d(int64_t h, int64_t w, int64_t width) {
  // Half the channels encode the column, half the row; each half is
  // [sin(pos * omega) | cos(pos * omega)] with omega = 1 / 10000^(k / (W/4)).
  const int64_t quarter = width / 4;
  auto omega = 1.0 / torch::pow(10000.0, torch::arange(quarter, torch::kFloat64) / double(quarter));
  auto ys = torch::arange(h, torch::kFloat64).repeat_interleave(w);  // (h*w,)
  auto xs = torch::arange(w, torch::kFloat64).repeat({h});
  auto enc = [&](const torch::Tensor& pos) {
    auto a = pos.unsqueeze(1) * omega.unsqueeze(0);  // (h*w, W/4)
    return torch::cat({torch::sin(a), torch::cos(a)}, 1);
  };
  auto e = torch::cat({enc(xs), enc(ys)}, 1);  // (h*w, 4 * quarter)
  if (e.size(1) < width) e = torch::cat({e, torch::zeros({h * w, width - e.size(1)}, e.options())}, 1);
  return e.to(torch::kFloat32);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  // LibTorch 2.11's fused CPU kernel is 5-8x slower than the plain product
  // in bf16 (forward + backward, B 64-128, N 16-64, dh 32-64: 16.4 vs 2.0 ms
  // at the quickstart's shape, 2 threads; the profile of a bf16 l-DAE step
  // had 45% of its time in its backward). fp32 and GPUs keep the fused one.
  if (q.is_cpu() && q.scalar_type() == torch::kBFloat16) {
    const double scale = 1.0 / std::sqrt(double(q.size(-1)));
    auto logits = torch::matmul(q, k.transpose(-2, -1)) * scale;  // (B, H, N, N)
    // softmax accumulated in fp32, as the fused kernels do
    return torch::matmul(logits.softmax(/*dim=*/-1, torch::kFloat32).to(v.scalar_type()), v);
  }
  return at::scaled_dot_product_attention(q, k, v);
}

namespace {

// (B, N, 3W) -> q, k, v, each (B, H, N, dh): views of the input, as
// reshape + permute + unbind give them. Backward writes the three gradients
// into one (B, N, 3W) tensor, one strided copy each, where unbind's backward
// stacks them into (3, B, H, N, dh) and the reshape's backward copies that
// stack again (two passes over the qkv gradient; inductor generates the one
// pass too: cpp_fused_add_clone_permute_select_backward). The same values
// bit for bit (copies only).
struct SplitHeads : torch::autograd::Function<SplitHeads> {
  static torch::autograd::tensor_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv_x,
                                              int64_t heads) {
    const auto B = qkv_x.size(0), N = qkv_x.size(1), W = qkv_x.size(2) / 3;
    ctx->saved_data["shape"] = std::vector<int64_t>{B, N, 3, heads, W / heads};
    const auto q_k_v = qkv_x.view({B, N, 3, heads, W / heads}).permute({2, 0, 3, 1, 4});
    return {q_k_v[0], q_k_v[1], q_k_v[2]};
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto shape = ctx->saved_data["shape"].toIntVector();
    torch::Tensor like;
    for (const auto& g : grads)
      if (g.defined()) like = g;
    auto out = torch::empty(shape, like.options());  // (B, N, 3, H, dh)
    const auto parts = out.permute({2, 0, 3, 1, 4});  // (3, B, H, N, dh) view of it
    for (int64_t i = 0; i < 3; ++i) {
      if (grads[size_t(i)].defined())
        parts[i].copy_(grads[size_t(i)]);
      else
        parts[i].zero_();
    }
    return {out.view({shape[0], shape[1], 3 * shape[3] * shape[4]}), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor self_attention(const torch::Tensor& qkv_x, int64_t heads) {
  const auto B = qkv_x.size(0), N = qkv_x.size(1), W = qkv_x.size(2) / 3;
  // (B, N, 3W) -> 3 x (B, H, N, dh) as one node (SplitHeads above), where
  // indexing made three select-backward nodes (each a zero-fill and an add)
  // and unbind one that stacks the gradients before a reshape copies them.
  const auto q_k_v = SplitHeads::apply(qkv_x.contiguous(), heads);
  auto a = attention(q_k_v[0], q_k_v[1], q_k_v[2]);  // (B, H, N, dh)
  return a.transpose(1, 2).reshape({B, N, W});
}

torch::Tensor resize_positions(const torch::Tensor& pos, int64_t h, int64_t w, int64_t h2, int64_t w2) {
  if (h == h2 && w == w2) return pos;
  const int64_t W = pos.size(2);
  auto grid = pos.reshape({1, h, w, W}).permute({0, 3, 1, 2});  // (1, W, h, w)
  namespace F = torch::nn::functional;
  auto r = F::interpolate(grid, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{h2, w2})
                                    .mode(torch::kBicubic)
                                    .align_corners(false));
  return r.permute({0, 2, 3, 1}).reshape({1, h2 * w2, W});
}

torch::Tensor group_tokens(const torch::Tensor& x, int64_t h, int64_t w, int64_t p) {
  if (p == 1) return x;
  const auto B = x.size(0), d = x.size(2);
  return x.reshape({B, h / p, p, w / p, p, d})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({B, (h / p) * (w / p), p * p * d});
}

torch::Tensor ungroup_tokens(const torch::Tensor& x, int64_t h, int64_t w, int64_t p) {
  if (p == 1) return x;
  const auto B = x.size(0), d = x.size(2) / (p * p);
  return x.reshape({B, h / p, w / p, p, p, d})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({B, h * w, d});
}

torch::Tensor conditioning_labels(const torch::Tensor& y, int64_t batch, int64_t num_classes, double dropout,
                                  bool training, torch::Device device) {
  auto labels = y.defined() ? y : torch::full({batch}, num_classes, torch::dtype(torch::kLong).device(device));
  if (training && y.defined() && dropout > 0) {
    auto drop = torch::rand({batch}, torch::dtype(torch::kFloat32).device(device)) < dropout;
    labels = torch::where(drop, torch::full_like(labels, num_classes), labels);
  }
  return labels;
}

torch::nn::Sequential time_mlp(int64_t freq_dim, double t_mlp_ratio, int64_t out) {
  const int64_t hidden = std::max<int64_t>(1, int64_t(std::lround(double(out) * t_mlp_ratio)));
  return torch::nn::Sequential(FusedLinear(freq_dim, hidden), torch::nn::SiLU(), FusedLinear(hidden, out));
}

torch::nn::LayerNorm layer_norm(int64_t width, bool affine) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({width}).elementwise_affine(affine).eps(1e-6));
}

torch::Tensor BackboneImpl::visible_features(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                                             int64_t) {
  throw InputError("this backbone cannot drop tokens, which MAE's encoder needs: use model.backbone = "
                   "\"dit\" or \"uvit\" with method.name = \"mae\"");
}

double transformer_block_macs(int64_t n_tokens, int64_t blocks, int64_t width, double mlp_ratio) {
  const double n = double(n_tokens), W = double(width), hidden = double(int64_t(W * mlp_ratio));
  return double(blocks) * (n * (4 * W * W + 2 * W * hidden) + 2 * n * n * W);
}

}  // namespace ldae
