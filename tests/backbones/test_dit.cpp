#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "backbones/dit.hpp"
#include "backbones/uvit.hpp"
#include "core/base/errors.hpp"

using namespace ldae;

TEST(DiT, FreshAdaLnZeroBlockIsTheIdentity) {
  torch::manual_seed(0);
  DiT model(BackboneOptions{});
  auto x = torch::randn({2, 16, 128}), c = torch::randn({2, 128});
  auto* blk = model->blocks_[0]->as<DiTBlockImpl>();
  EXPECT_TRUE(torch::equal(blk->forward(x, c), x));
}

TEST(DiT, FreshModelPredictsZeroAndShapesHold) {
  BackboneOptions o;
  o.in_dim = 12, o.out_dim = 48, o.grid_h = 4, o.grid_w = 4, o.patch = 2;
  o.depth = 4, o.width = 64, o.heads = 4, o.t_mlp_ratio = 0.25, o.num_classes = 10;
  DiT model(o);
  auto tokens = torch::randn({3, 16, 12});
  auto t = torch::tensor({1.0f, 500.0f, 999.0f});
  auto out = model->forward(tokens, t, torch::tensor({1, 2, 3}, torch::kLong));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 16, 48}));
  EXPECT_EQ(out.abs().max().item<float>(), 0.0f);  // final layer zero-initialised
  EXPECT_EQ(model->features(tokens, t, 2).sizes(), (std::vector<int64_t>{3, 4, 64}));
  // t-MLP hidden width = width x 1/4 (l-DAE)
  auto* fc1 = model->t_embedder[0]->as<torch::nn::Linear>();
  EXPECT_EQ(fc1->weight.size(0), 16);
}

TEST(DiT, SinCosPositionsAreFixedAndDistinct) {
  auto p = sincos_2d(4, 4, 32);
  EXPECT_EQ(p.sizes(), (std::vector<int64_t>{16, 32}));
  EXPECT_GT((p[1] - p[4]).abs().sum().item<float>(), 0.1f);  // (0,1) vs (1,0)
  DiT model(BackboneOptions{});
  for (auto& param : model->named_parameters()) EXPECT_EQ(param.key().find("pos_embed"), std::string::npos);
}

// DINO's local crops: a smaller square grid reads the training grid's
// positions resized to it (interpolate_pos_encoding); the same weights on
// that grid with those positions give the same features.
TEST(DiT, ASmallerSquareViewReadsItsResizedPositions) {
  BackboneOptions o;
  o.in_dim = 8, o.grid_h = 8, o.grid_w = 8, o.depth = 2, o.width = 32, o.heads = 2, o.patch = 2;
  torch::manual_seed(3);
  DiT big(o);
  o.grid_h = o.grid_w = 4;
  DiT small(o);
  {
    torch::NoGradGuard ng;
    auto from = big->named_parameters();
    for (auto& p : small->named_parameters()) p.value().copy_(from[p.key()]);
    small->pos_embed.copy_(resize_positions(big->pos_embed, 4, 4, 2, 2));
  }
  auto tokens = torch::randn({3, 16, 8}), t = torch::zeros({3});
  EXPECT_TRUE(torch::allclose(big->features(tokens, t, 2), small->features(tokens, t, 2), 1e-6, 1e-6));
  EXPECT_EQ(big->features(torch::randn({3, 64, 8}), t, 1).sizes(), (std::vector<int64_t>{3, 16, 32}));
  EXPECT_THROW(big->features(torch::randn({3, 15, 8}), t, 1), InputError);  // not a square grid
  EXPECT_THROW(big->features(torch::randn({3, 9, 8}), t, 1), InputError);   // 3 x 3 in 2 x 2 groups
  // Resizing to its own grid changes nothing; a constant grid stays constant.
  EXPECT_TRUE(torch::equal(resize_positions(big->pos_embed, 4, 4, 4, 4), big->pos_embed));
  auto flat = resize_positions(torch::full({1, 64, 3}, 0.25), 8, 8, 3, 3);
  EXPECT_EQ(flat.sizes(), (std::vector<int64_t>{1, 9, 3}));
  EXPECT_TRUE(torch::allclose(flat, torch::full({1, 9, 3}, 0.25), 1e-6, 1e-6));
}

// q, k and v are split from the qkv product by one autograd node whose
// backward writes their gradients into one (B, N, 3W) tensor: no
// UnbindBackward (which stacks them, then a reshape copies them again) and
// no SelectBackward (three zero-fills and adds).
TEST(DiT, AttentionSplitsQkvWithOneNode) {
  auto x = torch::randn({2, 5, 3 * 8}, torch::requires_grad());
  auto y = self_attention(x, 2);
  std::map<std::string, int> seen;
  std::vector<torch::autograd::Node*> todo{y.grad_fn().get()};
  std::set<torch::autograd::Node*> visited;
  while (!todo.empty()) {
    auto* n = todo.back();
    todo.pop_back();
    if (!n || !visited.insert(n).second) continue;
    ++seen[n->name()];
    for (const auto& e : n->next_edges()) todo.push_back(e.function.get());
  }
  std::string names;
  for (const auto& [k, v] : seen) names += k + " ";
  int split = 0;
  for (const auto& [k, v] : seen)
    if (k.find("SplitHeads") != std::string::npos) split += v;
  EXPECT_EQ(split, 1) << names;
  EXPECT_EQ(seen["UnbindBackward0"], 0) << names;
  EXPECT_EQ(seen["SelectBackward0"], 0) << names;
  y.sum().backward();
  EXPECT_TRUE(x.grad().defined());
}

// The split changes no value: output and the qkv gradient equal, bit for
// bit, those of reshape + permute + unbind (float32 and bf16).
TEST(DiT, AttentionSplitGivesUnbindsValuesBitForBit) {
  torch::manual_seed(3);
  for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
    const int64_t B = 3, N = 7, H = 4, dh = 8;
    auto x = torch::randn({B, N, 3 * H * dh}).to(dt).requires_grad_();
    auto g = torch::randn({B, N, H * dh}).to(dt);
    auto y = self_attention(x, H);
    y.backward(g);
    auto x2 = x.detach().clone().requires_grad_();
    const auto q_k_v = x2.reshape({B, N, 3, H, dh}).permute({2, 0, 3, 1, 4}).unbind(0);
    auto y2 = attention(q_k_v[0], q_k_v[1], q_k_v[2]).transpose(1, 2).reshape({B, N, H * dh});
    y2.backward(g);
    EXPECT_TRUE(torch::equal(y, y2)) << dt;
    EXPECT_TRUE(torch::equal(x.grad(), x2.grad())) << dt;
  }
}

TEST(DiT, AttentionMatchesTheDefinition) {
  torch::manual_seed(1);
  auto q = torch::randn({2, 3, 5, 8}), k = torch::randn({2, 3, 5, 8}), v = torch::randn({2, 3, 5, 8});
  auto ref = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1).matmul(v);
  EXPECT_TRUE(torch::allclose(attention(q, k, v), ref, 1e-5, 1e-5));
  // bf16 on the CPU takes the plain product: the same values to bf16 rounding,
  // and gradients too.
  auto qb = q.to(torch::kBFloat16).requires_grad_(), kb = k.to(torch::kBFloat16), vb = v.to(torch::kBFloat16);
  auto out = attention(qb, kb, vb);
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(out.to(torch::kFloat32), ref, 2e-2, 2e-2));
  auto qf = q.clone().requires_grad_();
  torch::softmax(torch::matmul(qf, k.transpose(-2, -1)) / std::sqrt(8.0), -1).matmul(v).sum().backward();
  out.sum().backward();
  EXPECT_TRUE(torch::allclose(qb.grad().to(torch::kFloat32), qf.grad(), 5e-2, 5e-2));
}

TEST(DiT, TimestepFeatures) {
  auto f = timestep_features(torch::tensor({0.0f, 10.0f}), 256);
  EXPECT_EQ(f.size(1), 256);
  EXPECT_FLOAT_EQ(f[0][0].item<float>(), 1.0f);    // cos(0)
  EXPECT_FLOAT_EQ(f[0][128].item<float>(), 0.0f);  // sin(0)
  EXPECT_NEAR(f[1][128].item<float>(), std::sin(10.0f), 1e-5);
}

TEST(DiT, FusedKernelsGiveTheSameNetworkToFloatRounding) {
  // train.fused_kernels: LayerNorm + modulate, gated residuals and GELU by the
  // harness's kernels (core/nn/adaln_fused, gelu_tanh). Same weights, made
  // non-zero (adaLN-Zero would leave every block the identity), same input:
  // the output and every parameter's gradient agree with the unfused ops.
  BackboneOptions o;
  o.in_dim = 12, o.out_dim = 12, o.grid_h = 8, o.grid_w = 8, o.patch = 2, o.depth = 3, o.width = 40, o.heads = 4;
  torch::manual_seed(0);
  DiT plain(o);
  o.fused_kernels = true;
  DiT fused(o);
  {
    torch::NoGradGuard ng;
    auto src = plain->parameters(), dst = fused->parameters();
    ASSERT_EQ(src.size(), dst.size());
    for (size_t i = 0; i < src.size(); ++i) {
      src[i].add_(torch::randn_like(src[i]) * 0.05);
      dst[i].copy_(src[i]);
    }
  }
  auto tokens = torch::randn({3, 64, 12}), t = torch::tensor({3.0f, 400.0f, 900.0f});
  auto a = plain->forward(tokens, t, {}), b = fused->forward(tokens, t, {});
  EXPECT_GT(a.abs().max().item<float>(), 0.1f);
  EXPECT_LE((a - b).abs().max().item<float>(), 1e-5f * (1 + a.abs().max().item<float>()));
  auto w = torch::randn_like(a);
  (a * w).sum().backward();
  (b * w).sum().backward();
  auto pa = plain->named_parameters(), pb = fused->named_parameters();
  for (const auto& kv : pa) {
    const auto& ga = kv.value().grad();
    const auto& gb = pb[kv.key()].grad();
    ASSERT_TRUE(ga.defined() && gb.defined()) << kv.key();
    EXPECT_LE((ga - gb).abs().max().item<float>(), 1e-4f * (1 + ga.abs().max().item<float>())) << kv.key();
  }
}

TEST(DiT, DropPathDropsWholeBranchesPerSampleInTrainingOnly) {
  for (bool fused : {false, true}) {
    torch::manual_seed(0);
    DiTBlock plain(32, 4, 4.0, fused), dropped(32, 4, 4.0, fused);
    dropped->drop_path = 0.5;
    {
      torch::NoGradGuard ng;
      plain->adaLN_modulation->weight.normal_(0, 0.3);  // open the adaLN-Zero gates
      auto from = plain->named_parameters();
      for (auto& p : dropped->named_parameters()) p.value().copy_(from[p.key()]);
    }
    auto x = torch::randn({64, 5, 32}), c = torch::randn({64, 32});
    plain->eval(), dropped->eval();
    EXPECT_TRUE(torch::allclose(dropped(x, c), plain(x, c))) << "fused " << fused;  // off outside training
    dropped->train();
    auto out = dropped(x, c).detach();
    const auto full = plain(x, c).detach();
    // Per sample: both branches dropped (out = x, p = 1/4), both kept and
    // scaled by 2, or one of each; never a sample part-dropped.
    const auto untouched = (out - x).abs().amax({1, 2}).eq(0);
    const int64_t n = untouched.sum().item<int64_t>();
    EXPECT_GT(n, 4) << "fused " << fused;
    EXPECT_LT(n, 32) << "fused " << fused;
    EXPECT_FALSE(torch::allclose(out, full)) << "fused " << fused;
  }
}

TEST(DiT, DropPathRisesOverTheBlocksAnEncoderRuns) {
  BackboneOptions o;
  o.depth = 8;
  DiT model(o);
  auto rate = [&](int i) { return model->blocks_[i]->as<DiTBlockImpl>()->drop_path; };
  for (int i = 0; i < 8; ++i) EXPECT_EQ(rate(i), 0.0);  // off unless set
  model->set_drop_path(0.3, 4);  // an encoder of 4 blocks: timm's linspace(0, 0.3, 4)
  EXPECT_EQ(rate(0), 0.0);
  EXPECT_NEAR(rate(1), 0.1, 1e-12);
  EXPECT_NEAR(rate(3), 0.3, 1e-12);
  EXPECT_NEAR(rate(7), 0.3, 1e-12);
  model->set_drop_path(0.0, 8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(rate(i), 0.0);
  // The free function: the same on a dit, refused (naming the key) on another backbone.
  set_drop_path(*model, 0.3, 4, "eval.finetune_drop_path");
  EXPECT_NEAR(rate(3), 0.3, 1e-12);
  UViT other(o);
  try {
    set_drop_path(*other, 0.1, 4, "dino.drop_path");
    ADD_FAILURE() << "a uvit took a drop path";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dino.drop_path"), std::string::npos) << e.what();
  }
}
