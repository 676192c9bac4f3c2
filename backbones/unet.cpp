#include "backbones/unet.hpp"

#include <fmt/core.h>

#include <cmath>
#include <numeric>

#include "core/base/errors.hpp"

namespace ldae {
namespace {

constexpr int64_t kMult[] = {1, 2, 2, 2};  // channel multiplier per level (DDPM's CIFAR-10)

torch::nn::GroupNorm group_norm(int64_t ch) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(std::gcd<int64_t>(32, ch), ch).eps(1e-5));
}

torch::nn::Conv2d conv3(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

void zero(torch::nn::Conv2d& c) {
  torch::NoGradGuard ng;
  torch::nn::init::zeros_(c->weight);
  torch::nn::init::zeros_(c->bias);
}

int64_t base_channels(const BackboneOptions& o) { return std::max<int64_t>(1, o.width / 2); }

}  // namespace

UNetResBlockImpl::UNetResBlockImpl(int64_t in_ch, int64_t out_ch, int64_t emb_dim) {
  norm1 = register_module("norm1", group_norm(in_ch));
  conv1 = register_module("conv1", conv3(in_ch, out_ch));
  emb_proj = register_module("emb_proj", FusedLinear(emb_dim, 2 * out_ch));
  norm2 = register_module("norm2", group_norm(out_ch));
  conv2 = register_module("conv2", conv3(out_ch, out_ch));
  zero(conv2);  // the block starts as its skip path
  if (in_ch != out_ch)
    skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_ch, out_ch, 1)));
}

torch::Tensor UNetResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  auto h = conv1(torch::silu(norm1(x)));
  auto ss = emb_proj(torch::silu(emb)).to(h.dtype()).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
  h = norm2(h) * (1 + ss[0]) + ss[1];  // scale, shift (ADM's use_scale_shift_norm)
  h = conv2(torch::silu(h));
  return (skip ? skip(x) : x) + h;
}

UNetAttentionImpl::UNetAttentionImpl(int64_t ch, int64_t heads_) : heads(heads_) {
  norm = register_module("norm", group_norm(ch));
  qkv = register_module("qkv", FusedLinear(ch, 3 * ch));
  proj = register_module("proj", FusedLinear(ch, ch));
  torch::NoGradGuard ng;
  torch::nn::init::zeros_(proj->weight);  // starts as the identity (ADM's zero_module)
  torch::nn::init::zeros_(proj->bias);
}

torch::Tensor UNetAttentionImpl::forward(const torch::Tensor& x) {
  const auto B = x.size(0), C = x.size(1), h = x.size(2), w = x.size(3);
  auto tokens = norm(x).flatten(2).transpose(1, 2);  // (B, h*w, C)
  auto a = proj(self_attention(qkv(tokens), heads));  // (B, h*w, C)
  return x + a.transpose(1, 2).reshape({B, C, h, w});
}

torch::Tensor UNetStepImpl::forward(torch::Tensor x, const torch::Tensor& emb) {
  if (res) x = res(x, emb);
  if (attn) x = attn(x);
  if (res2) x = res2(x, emb);
  if (conv) {
    if (upsample)
      x = torch::nn::functional::interpolate(
          x, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2})
                 .mode(torch::kNearest));
    x = conv(x);
  }
  return x;
}

// Whether level l (side (h / p) >> l) attends: DDPM's attn_resolutions, or
// every level below the top without them.
bool UNetImpl::attends(const BackboneOptions& o, int64_t l) {
  if (o.attn_sides.empty()) return l > 0;
  const int64_t side = (o.grid_h / o.patch) >> l;
  return std::find(o.attn_sides.begin(), o.attn_sides.end(), side) != o.attn_sides.end();
}

int64_t UNetImpl::levels(const BackboneOptions& o) {
  const int64_t h = o.grid_h / o.patch, w = o.grid_w / o.patch;
  int64_t n = 1;
  while (n < 4) {
    const int64_t f = int64_t(1) << n;  // the next level's downsampling
    if (h % f != 0 || w % f != 0 || h / f < 2 || w / f < 2) break;
    ++n;
  }
  return n;
}

int64_t UNetImpl::count_blocks(const BackboneOptions& o) {
  const int64_t n = levels(o);
  // input: n x res + (n - 1) downs; middle; output: n x (res + 1)
  return n * kResBlocks + (n - 1) + 1 + n * (kResBlocks + 1);
}

int64_t UNetImpl::default_block(const BackboneOptions& o) {
  const int64_t n = levels(o);
  return n * kResBlocks + (n - 1) + 1;
}

std::string UNetImpl::check(const BackboneOptions& o) {
  if (o.cls_token)
    return "model.cls_token is for the transformer backbones (dit, uvit); the unet's features "
           "are pooled over positions (probe.pool = \"mean\")";
  const int64_t C = base_channels(o);
  std::string sides;
  for (int64_t l = 0; l < levels(o); ++l) sides += (l ? ", " : "") + std::to_string((o.grid_h / o.patch) >> l);
  for (int64_t s : o.attn_sides) {
    bool found = false;
    for (int64_t l = 0; l < levels(o); ++l) found = found || ((o.grid_h / o.patch) >> l) == s;
    if (!found)
      return fmt::format("model.attn_resolutions names side {}, which this unet's levels do not have (sides {})",
                         s, sides);
  }
  // Every level that attends, and the middle (at the last level's width).
  for (int64_t l = 0; l < levels(o); ++l)
    if ((attends(o, l) || l == levels(o) - 1) && (C * kMult[l]) % o.heads != 0)
      return fmt::format("unet channels {} (width / 2 x {}) do not split into {} heads (model.heads)",
                         C * kMult[l], kMult[l], o.heads);
  return "";
}

UNetImpl::UNetImpl(const BackboneOptions& o) : opt(o) {
  if (auto e = check(o); !e.empty()) throw InputError("model.backbone = \"unet\": " + e);
  const int64_t C = base_channels(o), E = 4 * C, n = levels(o), p = o.patch;
  t_embedder = register_module("t_embedder", time_mlp(o.t_freq_dim, o.t_mlp_ratio, E));
  if (o.num_classes > 0)  // one extra row: the "null" class used for dropout
    y_embedder = register_module("y_embedder", torch::nn::Embedding(o.num_classes + 1, E));
  input_steps = register_module("input_steps", torch::nn::ModuleList());
  output_steps = register_module("output_steps", torch::nn::ModuleList());
  int64_t h = o.grid_h / p, w = o.grid_w / p;
  auto step = [](std::string name, int64_t ch) {
    UNetStep s;
    s->name = std::move(name), s->channels = ch;
    return s;
  };
  std::vector<int64_t> skip_ch;  // channels of every input step, for the output side
  UNetStep in = step(fmt::format("input conv ({}x{})", h, w), C);
  in->conv = in->register_module("conv", conv3(o.in_dim * p * p, C));
  input_steps->push_back(in);
  skip_ch.push_back(C);
  int64_t ch = C;
  for (int64_t l = 0; l < n; ++l) {
    for (int64_t i = 0; i < kResBlocks; ++i) {
      UNetStep s = step(fmt::format("in {}.{} ({}x{})", l, i, h, w), C * kMult[l]);
      s->res = s->register_module("res", UNetResBlock(ch, C * kMult[l], E));
      ch = C * kMult[l];
      if (attends(o, l)) s->attn = s->register_module("attn", UNetAttention(ch, o.heads));
      input_steps->push_back(s);
      skip_ch.push_back(ch);
    }
    if (l + 1 < n) {
      h /= 2, w /= 2;
      UNetStep s = step(fmt::format("down {} ({}x{})", l, h, w), ch);
      s->conv = s->register_module("conv", conv3(ch, ch, /*stride=*/2));
      input_steps->push_back(s);
      skip_ch.push_back(ch);
    }
  }
  middle = register_module("middle", step(fmt::format("mid ({}x{})", h, w), ch));
  middle->res = middle->register_module("res", UNetResBlock(ch, ch, E));
  middle->attn = middle->register_module("attn", UNetAttention(ch, o.heads));
  middle->res2 = middle->register_module("res2", UNetResBlock(ch, ch, E));
  for (int64_t l = n - 1; l >= 0; --l) {
    for (int64_t i = 0; i <= kResBlocks; ++i) {
      UNetStep s = step(fmt::format("out {}.{} ({}x{})", l, i, h, w), C * kMult[l]);
      s->res = s->register_module("res", UNetResBlock(ch + skip_ch.back(), C * kMult[l], E));
      skip_ch.pop_back();
      ch = C * kMult[l];
      if (attends(o, l)) s->attn = s->register_module("attn", UNetAttention(ch, o.heads));
      if (l > 0 && i == kResBlocks) {  // the level's last step goes up
        s->conv = s->register_module("conv", conv3(ch, ch));
        s->upsample = true;
        h *= 2, w *= 2;
        s->name = fmt::format("out {}.{} + up ({}x{})", l, i, h, w);  // its output's size
      }
      output_steps->push_back(s);
    }
  }
  out_norm = register_module("out_norm", group_norm(ch));
  out_conv = register_module("out_conv", conv3(ch, o.out_dim * p * p));
  zero(out_conv);  // the network starts by predicting 0
  torch::NoGradGuard ng;
  for (auto& m : t_embedder->modules(false))  // as DiT's: normal(0, 0.02)
    if (auto* lin = m->as<torch::nn::Linear>()) torch::nn::init::normal_(lin->weight, 0.0, 0.02);
  if (y_embedder) torch::nn::init::normal_(y_embedder->weight, 0.0, 0.02);
}

torch::Tensor UNetImpl::embed_time(const torch::Tensor& t, const torch::Tensor& y, int64_t B,
                                   torch::Device device) {
  auto emb = t_embedder->forward(timestep_features(t, opt.t_freq_dim));  // (B, E)
  if (y_embedder)
    emb = emb + y_embedder(conditioning_labels(y, B, opt.num_classes, opt.class_dropout, is_training(), device));
  return emb;
}

torch::Tensor UNetImpl::to_map(const torch::Tensor& tokens) const {
  const int64_t p = opt.patch, h = opt.grid_h / p, w = opt.grid_w / p;
  auto g = group_tokens(tokens, opt.grid_h, opt.grid_w, p);  // (B, h*w, C)
  return g.transpose(1, 2).reshape({g.size(0), g.size(2), h, w});
}

torch::Tensor UNetImpl::run(const torch::Tensor& tokens, const torch::Tensor& t,
                            const torch::Tensor& y, int64_t n) {
  const auto emb = embed_time(t, y, tokens.size(0), tokens.device());
  auto x = to_map(tokens);
  std::vector<torch::Tensor> skips;
  int64_t done = 0;
  auto point = [&] {  // true when feature point n is reached
    keep_if_tapped(done, [&] { return x.flatten(2).transpose(1, 2); }, x.size(2), x.size(3));
    return done++ == n;
  };
  for (auto& s : *input_steps) {
    x = s->as<UNetStepImpl>()->forward(x, emb);
    skips.push_back(x);
    if (point()) return x;
  }
  x = middle->forward(x, emb);
  if (point()) return x;
  for (auto& s : *output_steps) {
    x = s->as<UNetStepImpl>()->forward(torch::cat({x, skips.back()}, 1), emb);
    skips.pop_back();
    if (point()) return x;
  }
  return x;
}

torch::Tensor UNetImpl::forward(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& y) {
  auto x = run(tokens, t, y, blocks());
  x = out_conv(torch::silu(out_norm(x)));  // (B, p*p*out, h', w')
  auto g = x.flatten(2).transpose(1, 2);   // (B, h'*w', p*p*out)
  return ungroup_tokens(g, opt.grid_h, opt.grid_w, opt.patch);
}

torch::Tensor UNetImpl::features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                                 const torch::Tensor& y) {
  if (block < 0 || block > blocks())
    throw InputError(fmt::format("probe.block = {}: this unet has feature points 0..{} (0 = {}, "
                                 "{} = the middle; see run_sweep --list)",
                                 block, blocks(), block_name(0), default_block(opt)));
  return run(tokens, t, y, block).flatten(2).transpose(1, 2);  // (B, h*w, C)
}

int64_t UNetImpl::feature_width(int64_t block) const {
  const int64_t n_in = int64_t(input_steps->size());
  if (block < n_in) return input_steps->ptr(block)->as<UNetStepImpl>()->channels;
  if (block == n_in) return middle->channels;
  return output_steps->ptr(block - n_in - 1)->as<UNetStepImpl>()->channels;
}

std::string UNetImpl::block_name(int64_t block) const {
  const int64_t n_in = int64_t(input_steps->size());
  if (block < n_in) return input_steps->ptr(block)->as<UNetStepImpl>()->name;
  if (block == n_in) return middle->name;
  if (block <= blocks()) return output_steps->ptr(block - n_in - 1)->as<UNetStepImpl>()->name;
  return fmt::format("block {} (out of range)", block);
}

}  // namespace ldae
