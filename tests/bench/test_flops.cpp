// Model FLOPs for MFU: the count against DiT's published cost and a count
// by hand; the peak table.
#include <gtest/gtest.h>

#include "bench/flops.hpp"

using namespace ldae;

namespace {
BackboneOptions dit(int64_t width, int64_t depth, int64_t tokens_side, int64_t in_dim) {
  BackboneOptions o;
  o.width = width, o.depth = depth, o.heads = width / 64;
  o.grid_h = o.grid_w = tokens_side, o.patch = 1;
  o.in_dim = o.out_dim = in_dim;
  return o;
}
}  // namespace

TEST(Flops, DiTLAt256TokensMatchesThePublishedCost) {
  // DiT-L/2 on a 32x32x4 latent: 256 tokens of 2x2x4 = 16 values; the DiT
  // paper (Table 4) gives 80.7 Gflops, counted as multiply-adds.
  const double g = dit_forward_macs(dit(1024, 24, 16, 16)) / 1e9;
  EXPECT_NEAR(g, 80.7, 0.8) << g;
  // DiT-B/2: 23.0 Gflops.
  EXPECT_NEAR(dit_forward_macs(dit(768, 12, 16, 16)) / 1e9, 23.0, 0.3);
  EXPECT_DOUBLE_EQ(dit_train_flops(dit(768, 12, 16, 16)), 6 * dit_forward_macs(dit(768, 12, 16, 16)));
}

TEST(Flops, HandCountOfATinyModel) {
  // W = 4, one block, 2x2 tokens of 3 values, MLP 16, t-MLP 4 from 256 freqs.
  BackboneOptions o = dit(4, 1, 2, 3);
  const double N = 4, W = 4;
  const double per_token = 3 * W + (3 * W * W + W * W + 2 * W * 16) + W * 3;
  const double per_image = 256 * 4 + 4 * 4 + 6 * W * W + 2 * W * W;
  EXPECT_DOUBLE_EQ(dit_forward_macs(o), N * per_token + per_image + 2 * N * N * W);
  // Grouping p x p tokens (DiT's patch) divides the tokens, widens the embedding.
  o.patch = 2;
  EXPECT_DOUBLE_EQ(dit_forward_macs(o), 1 * (12 * W + (4 * W * W + 2 * W * 16) + W * 12) + per_image + 2 * W);
}

TEST(Flops, DenseBf16Peaks) {
  EXPECT_DOUBLE_EQ(dense_bf16_peak_tflops("NVIDIA H100 80GB HBM3"), 989.4);
  EXPECT_DOUBLE_EQ(dense_bf16_peak_tflops("NVIDIA H100 PCIe"), 756.5);
  EXPECT_DOUBLE_EQ(dense_bf16_peak_tflops("NVIDIA H200"), 989.4);
  EXPECT_DOUBLE_EQ(dense_bf16_peak_tflops("NVIDIA A100-SXM4-80GB"), 312.0);
  EXPECT_DOUBLE_EQ(dense_bf16_peak_tflops("Some Future GPU"), 0.0);
}
