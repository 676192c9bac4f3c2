#include "backbones/uvit.hpp"

#include <fmt/core.h>

#include <cmath>

#include "core/base/errors.hpp"

namespace ldae {

UViTBlockImpl::UViTBlockImpl(int64_t width, int64_t heads_, double mlp_ratio, bool skip, bool qkv_bias)
    : heads(heads_) {
  const int64_t hidden = int64_t(width * mlp_ratio);
  if (skip) skip_linear = register_module("skip_linear", FusedLinear(2 * width, width));
  norm1 = register_module("norm1", layer_norm(width, /*affine=*/true));
  qkv = register_module("qkv", FusedLinear(torch::nn::LinearOptions(width, 3 * width).bias(qkv_bias)));
  proj = register_module("proj", FusedLinear(width, width));
  norm2 = register_module("norm2", layer_norm(width, /*affine=*/true));
  fc1 = register_module("fc1", FusedLinear(width, hidden));
  fc2 = register_module("fc2", FusedLinear(hidden, width));
}

torch::Tensor UViTBlockImpl::forward(const torch::Tensor& x_in, const torch::Tensor& skip) {
  auto x = skip_linear ? skip_linear(torch::cat({x_in, skip}, /*dim=*/-1)) : x_in;
  x = x + proj(self_attention(qkv(norm1(x)), heads));
  return x + fc2(torch::gelu(fc1(norm2(x))));
}

std::string UViTImpl::check(const BackboneOptions& o) {
  if (o.width % o.heads != 0)
    return fmt::format("width {} is not divisible by {} heads", o.width, o.heads);
  if (o.depth < 2) return fmt::format("uvit needs depth >= 2 (one block each side of the middle), got {}", o.depth);
  return "";
}

UViTImpl::UViTImpl(const BackboneOptions& o) : opt(o) {
  const int64_t W = o.width, p = o.patch, L = (o.grid_h / p) * (o.grid_w / p);
  x_embedder = register_module("x_embedder", FusedLinear(o.in_dim * p * p, W));
  // U-ViT's mlp_time_embed = False: the time token is the raw sinusoid of width W.
  if (o.time_mlp) t_embedder = register_module("t_embedder", time_mlp(o.t_freq_dim, o.t_mlp_ratio, W));
  if (o.num_classes > 0)  // one extra row: the "null" class used for dropout
    y_embedder = register_module("y_embedder", torch::nn::Embedding(o.num_classes + 1, W));
  in_blocks = register_module("in_blocks", torch::nn::ModuleList());
  out_blocks = register_module("out_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth / 2; ++i)
    in_blocks->push_back(UViTBlock(W, o.heads, o.mlp_ratio, false, o.qkv_bias));
  mid_block = register_module("mid_block", UViTBlock(W, o.heads, o.mlp_ratio, false, o.qkv_bias));
  for (int64_t i = 0; i < o.depth / 2; ++i)
    out_blocks->push_back(UViTBlock(W, o.heads, o.mlp_ratio, true, o.qkv_bias));
  norm_final = register_module("norm_final", layer_norm(W, /*affine=*/true));
  final_linear = register_module("final_linear", FusedLinear(W, o.out_dim * p * p));
  // U-ViT's conv = True: a 3 x 3 convolution over the output token grid
  // (its "image": here the tokenizer's grid of out_dim channels).
  if (o.conv_out)
    conv_out = register_module("conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.out_dim, o.out_dim, 3).padding(1)));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, extras() + L, W}));
  if (o.cls_token) cls = register_parameter("cls_token", torch::zeros({1, 1, W}));
  // U-ViT's init: timm's trunc_normal_(std = 0.02) for every linear weight
  // and the positions, zero biases, LayerNorms at (1, 0). timm truncates at
  // +-2 absolute, 100 standard deviations: a plain normal(0, 0.02).
  torch::NoGradGuard ng;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* lin = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(lin->weight, 0.0, 0.02);
      if (lin->bias.defined()) torch::nn::init::zeros_(lin->bias);
    }
  torch::nn::init::normal_(pos_embed, 0.0, 0.02);
  if (y_embedder) torch::nn::init::normal_(y_embedder->weight, 0.0, 0.02);
  if (cls.defined()) torch::nn::init::normal_(cls, 0.0, 0.02);
}

int64_t UViTImpl::extras() const { return 1 + (opt.num_classes > 0) + (opt.cls_token ? 1 : 0); }

torch::Tensor UViTImpl::embed(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& y) {
  auto x = x_embedder(group_tokens(tokens, opt.grid_h, opt.grid_w, opt.patch));  // (B, L', W)
  const int64_t B = x.size(0), W = opt.width;
  auto time = t_embedder ? t_embedder->forward(timestep_features(t, opt.t_freq_dim)) : timestep_features(t, W);
  std::vector<torch::Tensor> parts = {time.unsqueeze(1).to(x.dtype())};
  if (y_embedder)
    parts.push_back(y_embedder(conditioning_labels(y, B, opt.num_classes, opt.class_dropout, is_training(),
                                                   tokens.device())).unsqueeze(1).to(x.dtype()));
  if (cls.defined()) parts.push_back(cls.expand({B, 1, W}).to(x.dtype()));
  parts.push_back(x);
  return torch::cat(parts, 1) + pos_embed;  // (B, extras + L', W)
}

torch::Tensor UViTImpl::run(torch::Tensor x, int64_t n) {
  const int64_t half = opt.depth / 2, h = opt.grid_h / opt.patch, w = opt.grid_w / opt.patch;
  const int64_t first = extras() - (opt.cls_token ? 1 : 0);  // features keep the class token
  std::vector<torch::Tensor> skips;
  int64_t done = 0;
  auto point = [&] {  // true when feature point n is reached
    keep_if_tapped(done, [&] { return x.slice(1, first); }, h, w);
    return done++ == n;
  };
  for (auto& b : *in_blocks) {
    if (point()) return x;
    x = b->as<UViTBlockImpl>()->forward(x);
    skips.push_back(x);
  }
  if (point()) return x;
  x = mid_block->forward(x);
  for (int64_t i = 0; i < half; ++i) {
    if (point()) return x;
    x = out_blocks[i]->as<UViTBlockImpl>()->forward(x, skips[half - 1 - i]);  // mirror skip
  }
  point();
  return x;
}

torch::Tensor UViTImpl::forward(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& y) {
  auto x = run(embed(tokens, t, y), blocks());
  x = final_linear(norm_final(x)).slice(1, extras());  // the grid tokens only
  x = ungroup_tokens(x, opt.grid_h, opt.grid_w, opt.patch);  // (B, L, out)
  if (!conv_out) return x;
  const int64_t B = x.size(0), C = x.size(2);
  auto grid = x.transpose(1, 2).reshape({B, C, opt.grid_h, opt.grid_w});
  return conv_out(grid).reshape({B, C, -1}).transpose(1, 2);
}

torch::Tensor UViTImpl::features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                                 const torch::Tensor& y) {
  if (block < 0 || block > blocks())
    throw InputError(fmt::format("probe.block = {}: uvit (depth {}) has blocks 0..{} (0 = the "
                                 "embedded input, {} = the middle block)",
                                 block, opt.depth, blocks(), default_block(opt)));
  auto x = run(embed(tokens, t, y), block);
  // drop the time and label tokens; keep the class token first
  return x.slice(1, extras() - (opt.cls_token ? 1 : 0));
}

std::string UViTImpl::block_name(int64_t block) const {
  const int64_t half = opt.depth / 2;
  if (block == 0) return "embedding";
  if (block <= half) return fmt::format("in {}", block);
  if (block == half + 1) return "mid";
  return fmt::format("out {}", block - half - 1);
}

torch::Tensor UViTImpl::visible_features(const torch::Tensor& tokens, const torch::Tensor& t,
                                         const torch::Tensor& keep, int64_t block) {
  if (block < 0 || block > blocks())
    throw InputError(fmt::format("block {}: uvit has feature points 0..{}", block, blocks()));
  auto x = embed(tokens, t, {});  // (B, extras + L', W), positions added
  const int64_t e = extras();
  auto grid = x.slice(1, e).gather(1, keep.unsqueeze(-1).expand({-1, -1, x.size(2)}));  // (B, K, W)
  x = run(torch::cat({x.slice(1, 0, e), grid}, 1), block);
  return x.slice(1, e - (opt.cls_token ? 1 : 0));
}

double UViTImpl::forward_macs(int64_t n_tokens, int64_t block) const {
  const double W = double(opt.width), p2 = double(opt.patch * opt.patch);
  const double t_hidden = double(std::max<int64_t>(1, int64_t(std::llround(W * opt.t_mlp_ratio))));
  const int64_t n = n_tokens + extras(), half = opt.depth / 2;
  const int64_t skips = std::max<int64_t>(0, block - half - 1);  // out blocks reached: 2W -> W each
  const double time = opt.time_mlp ? opt.t_freq_dim * t_hidden + t_hidden * W : 0.0;  // the raw sinusoid: none
  double macs = double(n_tokens) * opt.in_dim * p2 * W + time +
                transformer_block_macs(n, block, opt.width, opt.mlp_ratio) + double(skips) * n * 2 * W * W;
  if (block == blocks()) macs += double(n_tokens) * W * opt.out_dim * p2;  // final linear
  if (block == blocks() && opt.conv_out) macs += double(n_tokens) * p2 * 9.0 * opt.out_dim * opt.out_dim;
  return macs;
}

int64_t UViTImpl::layer_of(const std::string& name) const {
  const int64_t half = opt.depth / 2;
  if (name.rfind("in_blocks.", 0) == 0) return std::stoll(name.substr(10)) + 1;
  if (name.rfind("mid_block", 0) == 0) return half + 1;
  if (name.rfind("out_blocks.", 0) == 0) return std::stoll(name.substr(11)) + half + 2;
  for (const char* e : {"x_embedder", "t_embedder", "y_embedder", "cls_token", "pos_embed"})
    if (name.rfind(e, 0) == 0) return 0;
  return -1;
}

}  // namespace ldae
