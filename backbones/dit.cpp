#include "backbones/dit.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "core/base/errors.hpp"
#include "core/nn/adaln_fused.hpp"
#include "core/nn/gelu_tanh.hpp"

namespace ldae {
namespace F = torch::nn::functional;
namespace {

// x * (1 + scale) + shift, with (B, W) modulations broadcast over tokens.
torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& shift,
                       const torch::Tensor& scale) {
  return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

}  // namespace

DiTBlockImpl::DiTBlockImpl(int64_t width, int64_t heads_, double mlp_ratio, bool fused_)
    : heads(heads_), fused(fused_) {
  const int64_t hidden = int64_t(width * mlp_ratio);
  norm1 = register_module("norm1", layer_norm(width));
  qkv = register_module("qkv", FusedLinear(width, 3 * width));
  proj = register_module("proj", FusedLinear(width, width));
  norm2 = register_module("norm2", layer_norm(width));
  fc1 = register_module("fc1", FusedLinear(width, hidden));
  fc2 = register_module("fc2", FusedLinear(hidden, width));
  adaLN_modulation = register_module("adaLN_modulation", FusedLinear(width, 6 * width));
}

torch::Tensor DiTBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  auto mod = adaLN_modulation(F::silu(c)).chunk(6, /*dim=*/1);  // 6 x (B, W)
  if (drop_path > 0 && is_training()) {
    // Stochastic depth (timm's drop_path): each branch kept per sample with
    // probability 1 - p and scaled by 1 / (1 - p). A branch enters only
    // through its gate, so the (B, 1) keep mask multiplies the gates: both
    // paths below, fused or not, stay as they are.
    const double keep = 1.0 - drop_path;
    auto mask = [&] { return torch::empty({x.size(0), 1}, mod[2].options()).bernoulli_(keep).div_(keep); };
    mod[2] = mod[2] * mask();
    mod[5] = mod[5] * mask();
  }
  if (fused) {  // the same arithmetic as below, each line one fused function (core/nn/adaln_fused)
    const double eps1 = norm1->options.eps(), eps2 = norm2->options.eps();
    auto a = proj(self_attention(qkv(layer_norm_modulate(x, mod[0], mod[1], eps1)), heads));
    auto out = gated_residual(x, mod[2], a);
    auto m = fc2(linear_gelu_tanh(layer_norm_modulate(out, mod[3], mod[4], eps2), fc1->weight, fc1->bias));
    return gated_residual(out, mod[5], m);
  }
  auto a = proj(self_attention(qkv(modulate(norm1(x), mod[0], mod[1])), heads));
  auto out = x + mod[2].unsqueeze(1) * a;
  auto h = fc1(modulate(norm2(out), mod[3], mod[4]));
  auto m = fc2(torch::gelu(h, "tanh"));
  return out + mod[5].unsqueeze(1) * m;
}

void DiTImpl::set_drop_path(double rate, int64_t blocks) {
  const int64_t n = std::clamp<int64_t>(blocks, 1, int64_t(blocks_->size()));
  for (int64_t i = 0; i < int64_t(blocks_->size()); ++i)  // timm's VisionTransformer dpr over the n run
    blocks_[i]->as<DiTBlockImpl>()->drop_path = i < n && n > 1 ? rate * double(i) / double(n - 1) : rate;
}

void set_drop_path(BackboneImpl& model, double rate, int64_t blocks, const std::string& key) {
  auto* dit = model.as<DiTImpl>();
  if (!dit)
    throw InputError(fmt::format("{} is stochastic depth for model.backbone = \"dit\" only; set {} = 0", key, key));
  dit->set_drop_path(rate, blocks);
}

std::string DiTImpl::check(const BackboneOptions& o) {
  if (o.width % o.heads != 0)
    return fmt::format("width {} is not divisible by {} heads", o.width, o.heads);
  return "";
}

DiTImpl::DiTImpl(const BackboneOptions& o) : opt(o) {
  const int64_t W = o.width, p = o.patch;
  x_embedder = register_module("x_embedder", FusedLinear(o.in_dim * p * p, W));
  t_embedder = register_module("t_embedder", time_mlp(o.t_freq_dim, o.t_mlp_ratio, W));
  if (o.num_classes > 0)  // one extra row: the "null" class used for dropout
    y_embedder = register_module("y_embedder", torch::nn::Embedding(o.num_classes + 1, W));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth; ++i) blocks_->push_back(DiTBlock(W, o.heads, o.mlp_ratio, o.fused_kernels));
  norm_final = register_module("norm_final", layer_norm(W));
  final_adaLN = register_module("final_adaLN", FusedLinear(W, 2 * W));
  final_linear = register_module("final_linear", FusedLinear(W, o.out_dim * p * p));
  pos_embed = register_buffer("pos_embed",
                              sincos_2d(o.grid_h / p, o.grid_w / p, W).unsqueeze(0));
  if (o.cls_token) cls = register_parameter("cls_token", torch::zeros({1, 1, W}));
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
  for (auto& b : *blocks_) {
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
  // 7. The class token: normal(0, 0.02), as MAE's.
  if (cls.defined()) torch::nn::init::normal_(cls, 0.0, 0.02);
}

torch::Tensor DiTImpl::embed(const torch::Tensor& tokens, const torch::Tensor& t,
                             const torch::Tensor& y, torch::Tensor* c) {
  const int64_t p = opt.patch, L = tokens.size(1);
  int64_t gh = opt.grid_h, gw = opt.grid_w;
  torch::Tensor pos = pos_embed;
  if (L != gh * gw) {  // a view of another size (DINO's local crops): a square grid
    const int64_t g = std::llround(std::sqrt(double(L)));
    if (g * g != L || g % p != 0)
      throw InputError(fmt::format("dit: {} tokens are neither its {} x {} grid nor a square grid of {} x {} "
                                   "groups (model.patch)", L, gh, gw, p, p));
    gh = gw = g;
    pos = resize_positions(pos_embed, opt.grid_h / p, opt.grid_w / p, g / p, g / p);
  }
  auto x = x_embedder(group_tokens(tokens, gh, gw, p)) + pos;  // (B, L', W)
  *c = t_embedder->forward(timestep_features(t, opt.t_freq_dim));  // (B, W)
  if (y_embedder) {
    *c = *c + y_embedder(conditioning_labels(y, tokens.size(0), opt.num_classes, opt.class_dropout,
                                             is_training(), tokens.device()));
  }
  if (cls.defined()) x = torch::cat({cls.expand({x.size(0), 1, x.size(2)}).to(x.dtype()), x}, 1);
  return x;  // (B, [1 +] L', W)
}

torch::Tensor DiTImpl::forward(const torch::Tensor& tokens, const torch::Tensor& t,
                               const torch::Tensor& y) {
  torch::Tensor c;
  auto x = embed(tokens, t, y, &c);
  const int64_t h = opt.grid_h / opt.patch, w = opt.grid_w / opt.patch;
  keep_if_tapped(0, [&] { return x; }, h, w);
  for (int64_t i = 0; i < opt.depth; ++i) {
    x = blocks_[i]->as<DiTBlockImpl>()->forward(x, c);
    keep_if_tapped(i + 1, [&] { return x; }, h, w);
  }
  if (cls.defined()) x = x.slice(1, 1);  // the class token predicts nothing
  auto mod = final_adaLN(F::silu(c)).chunk(2, /*dim=*/1);
  auto out = final_linear(modulate(norm_final(x), mod[0], mod[1]));
  return ungroup_tokens(out, opt.grid_h, opt.grid_w, opt.patch);  // (B, L, out)
}

torch::Tensor DiTImpl::features(const torch::Tensor& tokens, const torch::Tensor& t,
                                int64_t n_blocks, const torch::Tensor& y) {
  if (n_blocks < 0 || n_blocks > opt.depth)
    throw InputError(fmt::format("probe.block = {}: dit has blocks 0..{} (0 = the embedded input)",
                                 n_blocks, opt.depth));
  torch::Tensor c;
  auto x = embed(tokens, t, y, &c);
  for (int64_t i = 0; i < n_blocks; ++i) x = blocks_[i]->as<DiTBlockImpl>()->forward(x, c);
  return x;
}

torch::Tensor DiTImpl::visible_features(const torch::Tensor& tokens, const torch::Tensor& t,
                                        const torch::Tensor& keep, int64_t n_blocks) {
  torch::Tensor c;
  auto x = embed(tokens, t, {}, &c);  // (B, [1 +] L', W), positions added
  const int64_t first = cls.defined() ? 1 : 0;
  auto grid = x.slice(1, first).gather(1, keep.unsqueeze(-1).expand({-1, -1, x.size(2)}));  // (B, K, W)
  x = first ? torch::cat({x.slice(1, 0, 1), grid}, 1) : grid;
  for (int64_t i = 0; i < n_blocks; ++i) x = blocks_[i]->as<DiTBlockImpl>()->forward(x, c);
  return x;
}

double DiTImpl::forward_macs(int64_t n_tokens, int64_t block) const {
  const double W = double(opt.width), p2 = double(opt.patch * opt.patch);
  const double t_hidden = double(std::max<int64_t>(1, int64_t(std::llround(W * opt.t_mlp_ratio))));
  const int64_t n = n_tokens + (opt.cls_token ? 1 : 0);
  double macs = double(n_tokens) * opt.in_dim * p2 * W                   // x_embedder
                + opt.t_freq_dim * t_hidden + t_hidden * W              // t-embedding MLP
                + double(block) * 6 * W * W                              // adaLN modulations
                + transformer_block_macs(n, block, opt.width, opt.mlp_ratio);
  if (block == opt.depth) macs += 2 * W * W + double(n_tokens) * W * opt.out_dim * p2;  // final layer
  return macs;
}

int64_t DiTImpl::layer_of(const std::string& name) const {
  if (name.rfind("blocks.", 0) == 0) return std::stoll(name.substr(7)) + 1;
  for (const char* e : {"x_embedder", "t_embedder", "y_embedder", "cls_token", "pos_embed"})
    if (name.rfind(e, 0) == 0) return 0;
  return -1;
}

}  // namespace ldae
