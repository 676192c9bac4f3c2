// DiT backbone (Peebles & Xie): token embedding, fixed 2-D sin-cos positions,
// t-embedding MLP, optional class embedding, adaLN-Zero blocks, adaLN final
// layer. The first `split` blocks are the encoder that the probe reads
// (paper: 12 of DiT-L's 24). Tokens come from a tokenizer on an h x w grid;
// `patch` groups p x p neighbouring tokens into one, as DiT's patch size does
// on a VAE latent.
#pragma once
#include <torch/torch.h>

#include "core/linear.hpp"

namespace ldae {

struct DiTOptions {
  int64_t in_dim = 16, out_dim = 16;  // per tokenizer token
  int64_t grid_h = 8, grid_w = 8;     // tokenizer token grid
  int64_t patch = 1;
  int64_t depth = 8, width = 128, heads = 4;
  double mlp_ratio = 4.0;
  double t_mlp_ratio = 1.0;           // l-DAE: 0.25
  int64_t t_freq_dim = 256;
  int64_t num_classes = 0;            // 0 = unconditional
  double class_dropout = 0.1;
  int64_t split = 4;
};

// (B,) timesteps -> (B, dim) sinusoidal features [cos | sin], max period 1e4.
torch::Tensor timestep_features(const torch::Tensor& t, int64_t dim);
// Fixed 2-D sin-cos position embedding (h * w, width), MAE's construction.
torch::Tensor sincos_2d(int64_t h, int64_t w, int64_t width);
// softmax(q k^T / sqrt(dh)) v (Vaswani et al. 2017, Eq. 1) for q, k, v
// (B, H, N, dh) -> (B, H, N, dh), by LibTorch's fused kernel
// (at::scaled_dot_product_attention: flash / memory-efficient / cuDNN on the
// GPU, a flash kernel on the CPU in fp32); bf16 on the CPU takes the plain
// product with an fp32 softmax, several times faster there (dit.cpp).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

struct DiTBlockImpl : torch::nn::Module {
  DiTBlockImpl(int64_t width, int64_t heads, double mlp_ratio);
  // x (B, N, W), c (B, W) -> (B, N, W)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);
  int64_t heads;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  FusedLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  FusedLinear adaLN_modulation{nullptr};  // (W) -> (6W): shift/scale/gate x2
};
TORCH_MODULE(DiTBlock);

struct DiTImpl : torch::nn::Module {
  explicit DiTImpl(const DiTOptions& o);
  // tokens (B, L, in_dim), t (B,) float steps, y (B,) labels or undefined
  // -> (B, L, out_dim)
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& t,
                        const torch::Tensor& y = {});
  // Output of the first `blocks` blocks, (B, L / p^2, width).
  torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t blocks,
                         const torch::Tensor& y = {});
  void init_weights();

  DiTOptions opt;
  FusedLinear x_embedder{nullptr};
  torch::nn::Sequential t_embedder{nullptr};
  torch::nn::Embedding y_embedder{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm_final{nullptr};
  FusedLinear final_adaLN{nullptr}, final_linear{nullptr};
  torch::Tensor pos_embed;  // buffer (1, L', W), frozen

 private:
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& t,
                      const torch::Tensor& y, torch::Tensor* c);
  torch::Tensor group(const torch::Tensor& tokens) const;    // (B, L, d) -> (B, L', p*p*d)
  torch::Tensor ungroup(const torch::Tensor& tokens) const;  // inverse
};
TORCH_MODULE(DiT);

}  // namespace ldae
