// U-Net backbone of the DDPM / ADM family (Ho et al. 2020; Dhariwal & Nichol
// 2021) at small scale, the network most diffusion-representation studies
// probe (DDAE, Xiang et al. 2023). It works on the token grid: tokens
// (B, L, d) become a d x h x w map (h x w the tokenizer's grid, so patch 1
// pixels or a PCA / VAE latent), after grouping p x p tokens (model.patch).
//   input:  3x3 conv to C channels, then per level `res` residual blocks
//           (+ self-attention below the top level, or at the sides
//           model.attn_resolutions names: DDPM's 16 x 16) and a stride-2 conv down
//   middle: residual block, self-attention, residual block
//   output: per level `res + 1` residual blocks on [x | skip] (+ the same attention),
//           nearest 2x up + 3x3 conv
//   out:    GroupNorm, SiLU, zero-initialised 3x3 conv to the target width
// Residual blocks take the time (and class) embedding as a scale and shift
// of their second normalisation (ADM's use_scale_shift_norm); their last conv
// and each attention output start at zero, so every block starts as the
// identity. Sizes from model.*: C = width / 2, channel multipliers 1, 2, 2, 2
// over as many levels as the grid halves (down to 2 x 2, at most 4), `res` =
// 2 blocks per level, heads = model.heads, time embedding 4C wide.
//
// Feature points ("blocks", DDAE's practice of probing any block): 0 the
// input conv, then every input step, the middle, every output step, in the
// order the data flows; block_name() names them ("in 1.2 (8x8)", "mid",
// "out 2.0 (4x4)"). The probe reads the middle by default.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "backbones/backbone.hpp"
#include "core/nn/linear.hpp"

namespace ldae {

struct UNetResBlockImpl : torch::nn::Module {
  UNetResBlockImpl(int64_t in_ch, int64_t out_ch, int64_t emb_dim);
  // x (B, in, h, w), emb (B, E) -> (B, out, h, w)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  FusedLinear emb_proj{nullptr};  // (E) -> (2 out): scale and shift
};
TORCH_MODULE(UNetResBlock);

struct UNetAttentionImpl : torch::nn::Module {
  UNetAttentionImpl(int64_t ch, int64_t heads);
  // x (B, C, h, w) -> x + attention over the h x w positions
  torch::Tensor forward(const torch::Tensor& x);
  int64_t heads;
  torch::nn::GroupNorm norm{nullptr};
  FusedLinear qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(UNetAttention);

// One feature point: optional residual block, attention, second residual
// block (the middle), and a resampling conv (3x3: stride 2 down, or nearest
// 2x up before it; stride 1 for the input conv).
struct UNetStepImpl : torch::nn::Module {
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& emb);
  UNetResBlock res{nullptr}, res2{nullptr};
  UNetAttention attn{nullptr};
  torch::nn::Conv2d conv{nullptr};
  bool upsample = false;
  std::string name;
  int64_t channels = 0;
};
TORCH_MODULE(UNetStep);

struct UNetImpl : BackboneImpl {
  explicit UNetImpl(const BackboneOptions& o);
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& t,
                        const torch::Tensor& y = {}) override;
  // After feature point `block`: (B, h' * w', C') tokens of the map there.
  torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                         const torch::Tensor& y = {}) override;
  int64_t blocks() const override { return count_blocks(opt); }
  int64_t feature_width(int64_t block) const override;
  std::string block_name(int64_t block) const override;

  // Levels the grid allows: halvings down to a 2 x 2 map, at most 4.
  static int64_t levels(const BackboneOptions& o);
  static bool attends(const BackboneOptions& o, int64_t level);
  static int64_t count_blocks(const BackboneOptions& o);
  static int64_t default_block(const BackboneOptions& o);  // the middle
  static std::string check(const BackboneOptions& o);
  static constexpr int64_t kResBlocks = 2;

  BackboneOptions opt;
  torch::nn::Sequential t_embedder{nullptr};
  torch::nn::Embedding y_embedder{nullptr};
  torch::nn::ModuleList input_steps{nullptr}, output_steps{nullptr};
  UNetStep middle{nullptr};
  torch::nn::GroupNorm out_norm{nullptr};
  torch::nn::Conv2d out_conv{nullptr};

 private:
  torch::Tensor embed_time(const torch::Tensor& t, const torch::Tensor& y, int64_t B,
                           torch::Device device);
  torch::Tensor to_map(const torch::Tensor& tokens) const;  // (B, L, d) -> (B, p*p*d, h', w')
  // Run feature points 0..n; the map after point n (n = blocks(): the last).
  torch::Tensor run(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& y,
                    int64_t n);
};
TORCH_MODULE(UNet);

}  // namespace ldae
