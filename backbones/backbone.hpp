// The Backbone interface: the denoiser a run pre-trains and the encoder its
// probes read. Every backbone maps tokenizer tokens (B, L, in_dim) on an
// h x w token grid, a time t (B,) on the T-step scale and optional labels to
// a prediction (B, L, out_dim), and exposes its hidden state after any
// feature point ("block") as tokens for pooling. One file per backbone in
// backbones/, one line each in the registry (backbones/registry.cpp).
//
// The pieces every backbone shares live here too: sinusoidal time features,
// the fixed 2-D sin-cos positions, attention, grouping p x p tokens (DiT's
// patch size on a latent grid) and pooling for the probe.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>

namespace ldae {

// What a backbone is built from: token widths from the tokenizer and the
// objective, the token grid from the image size, the rest from model.*.
struct BackboneOptions {
  int64_t in_dim = 16, out_dim = 16;  // per tokenizer token
  int64_t grid_h = 8, grid_w = 8;     // tokenizer token grid
  int64_t patch = 1;                  // tokens grouped p x p (model.patch)
  int64_t depth = 8, width = 128, heads = 4;
  double mlp_ratio = 4.0;
  double t_mlp_ratio = 1.0;           // l-DAE: 0.25
  int64_t t_freq_dim = 256;
  int64_t num_classes = 0;            // 0 = unconditional
  double class_dropout = 0.1;
  int64_t split = 4;                  // feature point the probe reads by default
  bool cls_token = false;             // transformers: a learned class token (ViT)
  // uvit only (model.time_mlp, model.qkv_bias, model.conv_out): U-ViT's official options.
  bool time_mlp = true, qkv_bias = true, conv_out = false;
  // unet only (model.attn_resolutions): sides of the levels that attend; empty = below the top.
  std::vector<int64_t> attn_sides;
  // train.fused_kernels: the DiT block's LayerNorm + adaLN modulate and gated
  // residuals by core/nn/adaln_fused (CPU and CUDA kernels) and its MLP
  // activation by core/nn/gelu_tanh (a vectorised CPU pass) instead of
  // LibTorch's ops.
  bool fused_kernels = false;
};
// model.attn_resolutions ("16", "16, 8") -> its sides; InputError naming the
// key for anything but positive integers separated by commas.
std::vector<int64_t> parse_attn_resolutions(const std::string& text);

struct BackboneImpl : torch::nn::Module {
  // tokens (B, L, in_dim), t (B,) float steps, y (B,) int64 labels or
  // undefined -> prediction (B, L, out_dim).
  virtual torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& t,
                                const torch::Tensor& y = {}) = 0;
  // Hidden state after feature point `block` (0 = the embedded input,
  // 1..blocks() = after that block) as tokens (B, N, C): with a class token
  // it is token 0 (has_cls_token()). Throws InputError for a block out of
  // range.
  virtual torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                                 const torch::Tensor& y = {}) = 0;
  // Number of feature points (valid `block` values are 0..blocks()).
  virtual int64_t blocks() const = 0;
  // Channels C of the features at `block`.
  virtual int64_t feature_width(int64_t block) const = 0;
  // A name for `block` in logs ("block 4", "mid", "up 2.1 (8x8)").
  virtual std::string block_name(int64_t block) const { return "block " + std::to_string(block); }
  virtual bool has_cls_token() const { return false; }

  // MAE's encoder (methods/mae.hpp): the features after `block` of the
  // backbone tokens kept, keep (B, K) int64 indices into the L' = L / p^2
  // backbone tokens, each keeping its position in the full grid ->
  // (B, [1 +] K, C), class token first. InputError for a backbone that
  // cannot drop tokens (the convolutional U-Net).
  virtual torch::Tensor visible_features(const torch::Tensor& tokens, const torch::Tensor& t,
                                         const torch::Tensor& keep, int64_t block);
  // Multiply-adds of one image's forward pass through feature point `block`
  // (blocks() = the whole network with its output layer) when n backbone
  // tokens enter; 0 = not counted (the U-Net's convolutions).
  virtual double forward_macs(int64_t n_tokens, int64_t block) const { return 0; }
  // Layer id of a parameter for layer-wise lr decay (fine-tuning, MAE /
  // BEiT): 0 = the input embeddings, i = inside feature point i, and -1 for
  // everything after the last (no decay).
  virtual int64_t layer_of(const std::string& /*param*/) const { return -1; }
  // Name prefix of the input (patch) embedding's parameters: MoCo v3's frozen
  // random patch projection freezes them. "" = none.
  virtual std::string input_embedding() const { return ""; }

  // Representation alignment (REPA) reads a hidden state of the denoising
  // pass itself: after tap(block), each forward() keeps the state after that
  // feature point as features() would give it (tokens (B, N, C), class token
  // first when there is one) with its grid (h, w), N = [1 +] h * w.
  // tap(-1) stops it.
  void tap(int64_t block) { tap_block_ = block, tapped_ = torch::Tensor(); }
  const torch::Tensor& tapped() const { return tapped_; }
  std::pair<int64_t, int64_t> tapped_grid() const { return tapped_grid_; }

 protected:
  // Called by forward() at every feature point with the state there.
  void keep_if_tapped(int64_t point, const std::function<torch::Tensor()>& tokens, int64_t h, int64_t w) {
    if (point == tap_block_) tapped_ = tokens(), tapped_grid_ = {h, w};
  }

 private:
  int64_t tap_block_ = -1;
  torch::Tensor tapped_;
  std::pair<int64_t, int64_t> tapped_grid_{0, 0};
};
TORCH_MODULE(Backbone);

// The backbone registry (backbones/registry.cpp), keyed by model.backbone.
// make_backbone builds one: InputError for an unknown name or options the
// backbone cannot take (with the fix).
Backbone make_backbone(const std::string& name, const BackboneOptions& o);
std::vector<std::string> backbone_names();
// The options of cfg's backbone on a grid_h x grid_w token grid (token widths
// and classes left to the caller; split resolved to the backbone's default
// probe block when model.split = -1); without a grid, the run's own (the
// image side of its data over tokenizer.patch). InputError for an unknown name.
struct RunConfig;
BackboneOptions backbone_options(const RunConfig& cfg, int64_t grid_h, int64_t grid_w);
BackboneOptions backbone_options(const RunConfig& cfg);
// Its feature points (probe.block 0..n), and "" or what it cannot take.
int64_t backbone_blocks(const std::string& name, const BackboneOptions& o);
std::string backbone_check(const std::string& name, const BackboneOptions& o);

// Multiply-adds of a pre-norm / adaLN transformer's forward per image with
// n tokens through `blocks` blocks of width W and MLP ratio r: per token and
// block the linears (3W^2 qkv, W^2 proj, 2 r W^2 MLP), per block attention's
// two products (2 n^2 W). The embeddings and heads are the caller's.
double transformer_block_macs(int64_t n_tokens, int64_t blocks, int64_t width, double mlp_ratio);

// Pool features (B, N, C) for the probe: "mean" averages the tokens
// (excluding the class token when there is one: MAE's global pool), "cls"
// takes the class token -> (B, C); "cls_mean" concatenates the class token
// and the other tokens' mean -> (B, 2C) (DINO's ViT-B linear readout,
// eval_linear.py --avgpool_patchtokens with n_last_blocks 1). InputError for
// cls or cls_mean without a class token.
torch::Tensor pool_features(const torch::Tensor& f, const std::string& pool, bool has_cls);
// Channels of pool_features' output for a feature point of `width` channels.
int64_t pooled_width(int64_t width, const std::string& pool);

// (B,) timesteps -> (B, dim) sinusoidal features [cos | sin], max period 1e4.
torch::Tensor timestep_features(const torch::Tensor& t, int64_t dim);
// Fixed 2-D sin-cos position embedding (h * w, width), MAE's construction.
torch::Tensor sincos_2d(int64_t h, int64_t w, int64_t width);
// Position embeddings (1, h * w, W) of an h x w grid resized to h2 x w2
// (1, h2 * w2, W), bicubic over the grid as DINO's
// vision_transformer.py interpolate_pos_encoding (align_corners false): a
// view smaller than the training grid (its local crops) keeps its
// positions spanning the whole image.
torch::Tensor resize_positions(const torch::Tensor& pos, int64_t h, int64_t w, int64_t h2, int64_t w2);
// softmax(q k^T / sqrt(dh)) v (Vaswani et al. 2017, Eq. 1) for q, k, v
// (B, H, N, dh) -> (B, H, N, dh), by LibTorch's fused kernel
// (at::scaled_dot_product_attention: flash / memory-efficient / cuDNN on the
// GPU, a flash kernel on the CPU in fp32); bf16 on the CPU takes the plain
// product with an fp32 softmax, several times faster there (backbone.cpp).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
// Multi-head self-attention on x (B, N, W) given its fused projection
// qkv(x) (B, N, 3W) -> (B, N, W) before the output projection.
torch::Tensor self_attention(const torch::Tensor& qkv_x, int64_t heads);

// Group p x p neighbouring tokens of an h x w grid into one:
// (B, h*w, d) -> (B, h/p * w/p, p*p*d), and back.
torch::Tensor group_tokens(const torch::Tensor& x, int64_t h, int64_t w, int64_t p);
torch::Tensor ungroup_tokens(const torch::Tensor& x, int64_t h, int64_t w, int64_t p);

// The labels a class embedding reads (B,) int64: y, or the null class
// (num_classes) when y is undefined; in training each label becomes the null
// class with probability `dropout` (classifier-free guidance's dropout).
torch::Tensor conditioning_labels(const torch::Tensor& y, int64_t batch, int64_t num_classes, double dropout,
                                  bool training, torch::Device device);
// DiT's t-embedding MLP: Linear(freq_dim, hidden), SiLU, Linear(hidden, out),
// hidden = max(1, round(out x t_mlp_ratio)) (l-DAE: ratio 1/4).
torch::nn::Sequential time_mlp(int64_t freq_dim, double t_mlp_ratio, int64_t out);

// LayerNorm without affine parameters, eps 1e-6 (DiT's and U-ViT's norms
// before adaLN or with affine after; `affine` switches the parameters on).
torch::nn::LayerNorm layer_norm(int64_t width, bool affine = false);

}  // namespace ldae
