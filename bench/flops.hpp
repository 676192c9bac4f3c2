// Model FLOPs of a DiT training step and the dense bf16 peaks of common
// GPUs, for model FLOPs utilisation (MFU = achieved model FLOP/s / peak).
// Counted as PaLM does: 2 FLOPs per multiply-add, training = 3 x forward
// (backward costs two forwards), no recomputation counted.
#pragma once
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "backbones/backbone.hpp"

namespace ldae {

// Forward multiply-adds of one image through the DiT: token-wise linears
// (embedding, qkv, proj, MLP, final) once per token; per-image linears
// (t-embedding MLP, adaLN modulations) once; attention's two products
// q k^T and a v, each N^2 W per block.
inline double dit_forward_macs(const BackboneOptions& o) {
  const double p2 = double(o.patch * o.patch);
  const double N = double(o.grid_h * o.grid_w) / p2, W = double(o.width);
  const double hidden = double(int64_t(W * o.mlp_ratio));
  const double t_hidden = double(int64_t(W * o.t_mlp_ratio));
  const double per_token = o.in_dim * p2 * W                        // x_embedder
                           + o.depth * (3 * W * W + W * W + 2 * W * hidden)  // qkv, proj, fc1, fc2
                           + W * o.out_dim * p2;                    // final_linear
  const double per_image = o.t_freq_dim * t_hidden + t_hidden * W  // t_embedder
                           + o.depth * 6 * W * W + 2 * W * W;       // adaLN modulations
  const double attention = o.depth * 2 * N * N * W;
  return N * per_token + per_image + attention;
}

// Training FLOPs per image: 3 passes x 2 FLOPs per multiply-add.
inline double dit_train_flops(const BackboneOptions& o) { return 6.0 * dit_forward_macs(o); }

// Dense (no sparsity) bf16 tensor-core peak in TFLOP/s of the GPU the driver
// names, from the vendors' data sheets; 0 when unknown (give --peak-tflops).
inline double dense_bf16_peak_tflops(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H200")) return 989.4;
  if (has("H100")) return has("PCIE") ? 756.5 : has("NVL") ? 835.5 : 989.4;  // SXM5 / HBM3
  if (has("GH200")) return 989.4;
  if (has("A100")) return 312.0;
  if (has("L40S")) return 362.1;
  if (has("RTX 4090")) return 165.2;
  return 0.0;
}

}  // namespace ldae
