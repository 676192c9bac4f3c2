// DiT backbone (Peebles & Xie 2023): token embedding, fixed 2-D sin-cos
// positions, t-embedding MLP, optional class embedding, adaLN-Zero blocks,
// adaLN final layer. The first `split` blocks are the encoder that the probe
// reads (paper: 12 of DiT-L's 24). Tokens come from a tokenizer on an h x w
// grid; `patch` groups p x p neighbouring tokens into one, as DiT's patch
// size does on a VAE latent. With cls_token, a learned token (no position)
// is prepended, ViT's convention, for probe.pool = "cls".
#pragma once
#include <torch/torch.h>

#include "backbones/backbone.hpp"
#include "core/nn/linear.hpp"

namespace ldae {

struct DiTBlockImpl : torch::nn::Module {
  // fused (train.fused_kernels): LayerNorm + modulate and the gated residuals by
  // core/nn/adaln_fused, the MLP's GELU by core/nn/gelu_tanh.
  DiTBlockImpl(int64_t width, int64_t heads, double mlp_ratio, bool fused = false);
  // x (B, N, W), c (B, W) -> (B, N, W)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);
  int64_t heads;
  bool fused;
  double drop_path = 0;  // this block's stochastic-depth rate, training mode only (DiTImpl::set_drop_path)
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  FusedLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  FusedLinear adaLN_modulation{nullptr};  // (W) -> (6W): shift/scale/gate x2
};
TORCH_MODULE(DiTBlock);

struct DiTImpl : BackboneImpl {
  explicit DiTImpl(const BackboneOptions& o);
  // tokens (B, L, in_dim), t (B,) float steps, y (B,) labels or undefined
  // -> (B, L, out_dim)
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& t,
                        const torch::Tensor& y = {}) override;
  // Output of the first `block` blocks, (B, [1 +] L / p^2, width).
  torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                         const torch::Tensor& y = {}) override;
  int64_t blocks() const override { return opt.depth; }
  int64_t feature_width(int64_t) const override { return opt.width; }
  std::string block_name(int64_t block) const override {
    return block == 0 ? "embedding" : "block " + std::to_string(block);
  }
  bool has_cls_token() const override { return opt.cls_token; }
  torch::Tensor visible_features(const torch::Tensor& tokens, const torch::Tensor& t,
                                 const torch::Tensor& keep, int64_t block) override;
  double forward_macs(int64_t n_tokens, int64_t block) const override;
  int64_t layer_of(const std::string& param) const override;
  std::string input_embedding() const override { return "x_embedder"; }
  void init_weights();
  // Stochastic depth from now on, in training mode, over the first `blocks`
  // blocks (those an encoder that ends there runs): block i of them drops its
  // branches per sample at rate x i / (blocks - 1), timm's linear dpr of a
  // ViT that deep; blocks after the encoder at `rate`. 0 = off (the default).
  // Fine-tuning's eval.finetune_drop_path and DINO's student (dino.drop_path).
  void set_drop_path(double rate, int64_t blocks);

  static int64_t count_blocks(const BackboneOptions& o) { return o.depth; }
  static int64_t default_block(const BackboneOptions& o) { return o.depth / 2; }
  static std::string check(const BackboneOptions& o);

  BackboneOptions opt;
  FusedLinear x_embedder{nullptr};
  torch::nn::Sequential t_embedder{nullptr};
  torch::nn::Embedding y_embedder{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_final{nullptr};
  FusedLinear final_adaLN{nullptr}, final_linear{nullptr};
  torch::Tensor pos_embed;  // buffer (1, L', W), frozen
  torch::Tensor cls;        // (1, 1, W) parameter when opt.cls_token

 private:
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& t,
                      const torch::Tensor& y, torch::Tensor* c);
};
TORCH_MODULE(DiT);

// DiTImpl::set_drop_path on `model`, which must be a dit: InputError naming
// `key` (the setting that asked) for any other backbone. Planning refuses
// such runs first; this keeps a plugin's backbone from being dropped silently.
void set_drop_path(BackboneImpl& model, double rate, int64_t blocks, const std::string& key);

}  // namespace ldae
