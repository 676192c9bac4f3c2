// U-ViT backbone (Bao et al. 2023, "All are Worth Words"): every input is a
// token (time, the class label when conditional, the class token for the
// probe, then the grid tokens), pre-norm transformer blocks without adaLN,
// and long skips: block i of the first half feeds the mirror block of the
// second half, which concatenates it with its input and maps 2W -> W by a
// linear layer. depth/2 blocks in, one middle block, depth/2 blocks out
// (U-ViT's layout: its depth-13 S model is 6 + 1 + 6). The probe reads the
// first half plus the middle block by default (block depth/2 + 1).
// Learned positions, affine LayerNorms and U-ViT's init (normal 0.02
// weights and positions, zero biases). U-ViT's final 3 x 3 convolution
// (conv = True in its configs) is model.conv_out, which convolves the output
// token grid with out_dim channels: U-ViT convolves its unpatchified image
// (C channels), but the tokens of a patch tokenizer are not pixels, so the
// grid is the nearest thing to its image.
#pragma once
#include <torch/torch.h>

#include "backbones/backbone.hpp"
#include "core/nn/linear.hpp"

namespace ldae {

struct UViTBlockImpl : torch::nn::Module {
  UViTBlockImpl(int64_t width, int64_t heads, double mlp_ratio, bool skip, bool qkv_bias = true);
  // x (B, N, W), skip (B, N, W) or undefined -> (B, N, W)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip = {});
  int64_t heads;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  FusedLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  FusedLinear skip_linear{nullptr};  // (2W) -> (W), out blocks only
};
TORCH_MODULE(UViTBlock);

struct UViTImpl : BackboneImpl {
  explicit UViTImpl(const BackboneOptions& o);
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& t,
                        const torch::Tensor& y = {}) override;
  // After `block` of the in, mid, out sequence: (B, [1 +] L / p^2, width).
  torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                         const torch::Tensor& y = {}) override;
  int64_t blocks() const override { return count_blocks(opt); }
  int64_t feature_width(int64_t) const override { return opt.width; }
  torch::Tensor visible_features(const torch::Tensor& tokens, const torch::Tensor& t,
                                 const torch::Tensor& keep, int64_t block) override;
  double forward_macs(int64_t n_tokens, int64_t block) const override;
  int64_t layer_of(const std::string& param) const override;
  std::string input_embedding() const override { return "x_embedder"; }
  std::string block_name(int64_t block) const override;
  bool has_cls_token() const override { return opt.cls_token; }

  static int64_t count_blocks(const BackboneOptions& o) { return 2 * (o.depth / 2) + 1; }
  static int64_t default_block(const BackboneOptions& o) { return o.depth / 2 + 1; }
  static std::string check(const BackboneOptions& o);

  BackboneOptions opt;
  FusedLinear x_embedder{nullptr};
  torch::nn::Sequential t_embedder{nullptr};
  torch::nn::Embedding y_embedder{nullptr};
  torch::nn::ModuleList in_blocks{nullptr}, out_blocks{nullptr};
  UViTBlock mid_block{nullptr};
  torch::nn::LayerNorm norm_final{nullptr};
  FusedLinear final_linear{nullptr};
  torch::nn::Conv2d conv_out{nullptr};  // opt.conv_out: 3 x 3 over the output token grid
  torch::Tensor pos_embed;  // (1, extras + L', W) parameter
  torch::Tensor cls;        // (1, 1, W) parameter when opt.cls_token

 private:
  // Tokens [time, (label), (cls), grid...] (B, extras + L', W).
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& y);
  // Run blocks 1..n of the in, mid, out sequence on x.
  torch::Tensor run(torch::Tensor x, int64_t n);
  int64_t extras() const;     // time (+ label) (+ cls) tokens before the grid
};
TORCH_MODULE(UViT);

}  // namespace ldae
