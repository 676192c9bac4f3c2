#include "core/dit.hpp"

#include <cmath>


namespace ldae {
namespace F = torch::nn::functional;
namespace {

// x * (1 + scale) + shift, with (B, W) modulations broadcast over tokens.
torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& shift,
                       const torch::Tensor& scale) {
  return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

torch::nn::LayerNorm plain_norm(int64_t w) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({w}).elementwise_affine(false).eps(1e-6));
}

}  // namespace

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

DiTBlockImpl::DiTBlockImpl(int64_t width, int64_t heads_, double mlp_ratio) : heads(heads_) {
  const int64_t hidden = int64_t(width * mlp_ratio);
  norm1 = register_module("norm1", plain_norm(width));
  qkv = register_module("qkv", FusedLinear(width, 3 * width));
  proj = register_module("proj", FusedLinear(width, width));
  norm2 = register_module("norm2", plain_norm(width));
  fc1 = register_module("fc1", FusedLinear(width, hidden));
  fc2 = register_module("fc2", FusedLinear(hidden, width));
  adaLN_modulation = register_module("adaLN_modulation", FusedLinear(width, 6 * width));
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

torch::Tensor DiTBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  auto mod = adaLN_modulation(F::silu(c)).chunk(6, /*dim=*/1);  // 6 x (B, W)
  const auto B = x.size(0), N = x.size(1), W = x.size(2), dh = W / heads;
  // attention: (B, N, 3W) -> 3 x (B, H, N, dh)
  auto h = modulate(norm1(x), mod[0], mod[1]);
  auto q_k_v = qkv(h).reshape({B, N, 3, heads, dh}).permute({2, 0, 3, 1, 4});
  auto a = attention(q_k_v[0], q_k_v[1], q_k_v[2]);  // (B, H, N, dh)
  a = proj(a.transpose(1, 2).reshape({B, N, W}));
  auto out = x + mod[2].unsqueeze(1) * a;
  auto m = fc2(torch::gelu(fc1(modulate(norm2(out), mod[3], mod[4])), "tanh"));
  return out + mod[5].unsqueeze(1) * m;
}

DiTImpl::DiTImpl(const DiTOptions& o) : opt(o) {
  const int64_t W = o.width, p = o.patch;
  x_embedder = register_module("x_embedder", FusedLinear(o.in_dim * p * p, W));
  const int64_t t_hidden = std::max<int64_t>(1, int64_t(std::lround(W * o.t_mlp_ratio)));
  t_embedder = register_module(
      "t_embedder", torch::nn::Sequential(FusedLinear(o.t_freq_dim, t_hidden),
                                          torch::nn::SiLU(), FusedLinear(t_hidden, W)));
  if (o.num_classes > 0)  // one extra row: the "null" class used for dropout
    y_embedder = register_module("y_embedder", torch::nn::Embedding(o.num_classes + 1, W));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth; ++i) blocks->push_back(DiTBlock(W, o.heads, o.mlp_ratio));
  norm_final = register_module("norm_final", plain_norm(W));
  final_adaLN = register_module("final_adaLN", FusedLinear(W, 2 * W));
  final_linear = register_module("final_linear", FusedLinear(W, o.out_dim * p * p));
  pos_embed = register_buffer("pos_embed",
                              sincos_2d(o.grid_h / p, o.grid_w / p, W).unsqueeze(0));
  init_weights();
}

void DiTImpl::init_weights() {
  torch::NoGradGuard ng;
  // 1. Every linear layer: Xavier-uniform weights, zero bias (DiT, ViT).
  for (auto& m : modules(/*include_self=*/false))
    if (auto* lin = m->as<torch::nn::Linear>()) {
      torch::nn::init::xavier_uniform_(lin->weight);
      if (lin->bias.defined()) torch::nn::init::zeros_(lin->bias);
    }
  // 2. Token embedding as DiT's patch conv: Xavier on the flattened kernel
  //    (our Linear already is that matrix, so step 1 covers it).
  // 3. Class and t embeddings: normal(0, 0.02).
  if (y_embedder) torch::nn::init::normal_(y_embedder->weight, 0.0, 0.02);
  for (auto& m : t_embedder->modules(false))
    if (auto* lin = m->as<torch::nn::Linear>()) torch::nn::init::normal_(lin->weight, 0.0, 0.02);
  // 4. adaLN-Zero: every block's modulation starts at zero, so each block is
  //    the identity at initialisation.
  for (auto& b : *blocks) {
    auto* blk = b->as<DiTBlockImpl>();
    torch::nn::init::zeros_(blk->adaLN_modulation->weight);
    torch::nn::init::zeros_(blk->adaLN_modulation->bias);
  }
  // 5. Final layer zeroed: the network starts by predicting 0.
  torch::nn::init::zeros_(final_adaLN->weight);
  torch::nn::init::zeros_(final_adaLN->bias);
  torch::nn::init::zeros_(final_linear->weight);
  torch::nn::init::zeros_(final_linear->bias);
  // 6. Positions are the fixed sin-cos buffer set in the constructor.
}

torch::Tensor DiTImpl::group(const torch::Tensor& x) const {
  const int64_t p = opt.patch;
  if (p == 1) return x;
  const auto B = x.size(0), d = x.size(2), h = opt.grid_h, w = opt.grid_w;
  return x.reshape({B, h / p, p, w / p, p, d})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({B, (h / p) * (w / p), p * p * d});
}

torch::Tensor DiTImpl::ungroup(const torch::Tensor& x) const {
  const int64_t p = opt.patch;
  if (p == 1) return x;
  const auto B = x.size(0), h = opt.grid_h, w = opt.grid_w, d = x.size(2) / (p * p);
  return x.reshape({B, h / p, w / p, p, p, d})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({B, h * w, d});
}

torch::Tensor DiTImpl::embed(const torch::Tensor& tokens, const torch::Tensor& t,
                             const torch::Tensor& y, torch::Tensor* c) {
  auto x = x_embedder(group(tokens)) + pos_embed;                  // (B, L', W)
  *c = t_embedder->forward(timestep_features(t, opt.t_freq_dim));  // (B, W)
  if (y_embedder) {
    auto labels = y.defined() ? y : torch::full({tokens.size(0)}, opt.num_classes,
                                                torch::dtype(torch::kLong).device(tokens.device()));
    if (is_training() && y.defined() && opt.class_dropout > 0) {
      auto drop = torch::rand({labels.size(0)}, tokens.options().dtype(torch::kFloat32)) <
                  opt.class_dropout;
      labels = torch::where(drop, torch::full_like(labels, opt.num_classes), labels);
    }
    *c = *c + y_embedder(labels);
  }
  return x;
}

torch::Tensor DiTImpl::forward(const torch::Tensor& tokens, const torch::Tensor& t,
                               const torch::Tensor& y) {
  torch::Tensor c;
  auto x = embed(tokens, t, y, &c);
  for (auto& b : *blocks) x = b->as<DiTBlockImpl>()->forward(x, c);
  auto mod = final_adaLN(F::silu(c)).chunk(2, /*dim=*/1);
  return ungroup(final_linear(modulate(norm_final(x), mod[0], mod[1])));  // (B, L, out)
}

torch::Tensor DiTImpl::features(const torch::Tensor& tokens, const torch::Tensor& t,
                                int64_t n_blocks, const torch::Tensor& y) {
  torch::Tensor c;
  auto x = embed(tokens, t, y, &c);
  for (int64_t i = 0; i < n_blocks; ++i) x = blocks[i]->as<DiTBlockImpl>()->forward(x, c);
  return x;
}

}  // namespace ldae
