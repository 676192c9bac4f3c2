// The conformance suite every registered backbone passes (backbones/): the
// shapes of its prediction and of its features at every feature point, a
// fresh model's output, a save/load round trip, per-sample independence, that
// one step trains every parameter, and the class token. Then what is
// particular to each: U-ViT's long skips, the U-Net's levels and names.
#include <gtest/gtest.h>

#include <algorithm>

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "backbones/unet.hpp"
#include "backbones/uvit.hpp"
#include "core/base/errors.hpp"
#include "core/run/registry.hpp"

using namespace ldae;

namespace {

BackboneOptions small(int64_t grid = 8, int64_t in_dim = 6, int64_t out_dim = 6) {
  BackboneOptions o;
  o.in_dim = in_dim, o.out_dim = out_dim, o.grid_h = grid, o.grid_w = grid;
  o.depth = 4, o.width = 64, o.heads = 4, o.t_mlp_ratio = 0.25;
  return o;
}

Backbone build(const std::string& name, const BackboneOptions& o, uint64_t seed = 0) {
  torch::manual_seed(seed);
  return make_backbone(name, o);
}

class BackboneConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(BackboneConformance, PredictionHasTheTokensShape) {
  for (int64_t patch : {1, 2}) {
    auto o = small();
    o.patch = patch, o.num_classes = 10;
    auto m = build(GetParam(), o);
    auto x = torch::randn({3, 64, 6});
    auto t = torch::tensor({1.0f, 500.0f, 999.0f});
    auto y = torch::tensor({1, 2, 3}, torch::kLong);
    auto out = m->forward(x, t, y);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 64, 6})) << "patch " << patch;
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
    EXPECT_EQ(m->forward(x, t).sizes(), out.sizes());  // unconditional: the null class
  }
  auto o = small(8, 6, 24);  // out_dim != in_dim (image-space targets)
  EXPECT_EQ(build(GetParam(), o)->forward(torch::randn({2, 64, 6}), torch::ones({2})).size(2), 24);
}

TEST_P(BackboneConformance, FreshModelIsSeededAndStartsSmall) {
  auto a = build(GetParam(), small(), 7), b = build(GetParam(), small(), 7), c = build(GetParam(), small(), 8);
  auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 10.0f);
  auto ya = a->forward(x, t), yb = b->forward(x, t), yc = c->forward(x, t);
  EXPECT_TRUE(torch::equal(ya, yb));  // the same seed, the same network
  // dit and unet zero their output layers (the network starts by predicting
  // 0); uvit's output layer is normal(0, 0.02), so it starts near 0.
  EXPECT_LT(ya.abs().max().item<float>(), 0.5f);
  if (GetParam() != "uvit") EXPECT_EQ(ya.abs().max().item<float>(), 0.0f);
  // a trained step later, two seeds differ
  auto step = [&](Backbone& m) {
    torch::optim::SGD opt(m->parameters(), 0.1);
    for (int i = 0; i < 2; ++i) {
      opt.zero_grad();
      (m->forward(x, t) - x).pow(2).mean().backward();
      opt.step();
    }
    return m->forward(x, t);
  };
  EXPECT_FALSE(torch::allclose(step(a), step(c)));
}

TEST_P(BackboneConformance, SamplesAreIndependentInEvalMode) {
  auto m = build(GetParam(), small());
  // one step so that every layer is non-trivial
  auto x = torch::randn({4, 64, 6}), t = torch::tensor({3.0f, 30.0f, 300.0f, 900.0f});
  torch::optim::SGD opt(m->parameters(), 0.1);
  for (int i = 0; i < 2; ++i) {
    opt.zero_grad();
    (m->forward(x, t) - x).pow(2).mean().backward();
    opt.step();
  }
  m->eval();
  torch::NoGradGuard ng;
  auto all = m->forward(x, t);
  auto one = m->forward(x.slice(0, 2, 3), t.slice(0, 2, 3));
  EXPECT_TRUE(torch::allclose(all.slice(0, 2, 3), one, 1e-4, 1e-5));
}

TEST_P(BackboneConformance, OneStepTrainsEveryParameter) {
  auto o = small();
  o.cls_token = GetParam() != "unet";
  auto m = build(GetParam(), o);
  auto x = torch::randn({4, 64, 6}), t = torch::tensor({3.0f, 30.0f, 300.0f, 900.0f});
  torch::optim::SGD opt(m->parameters(), 0.05);
  for (int i = 0; i < 3; ++i) {  // zero-initialised gates open after the first step
    opt.zero_grad();
    auto loss = (m->forward(x, t) - x).pow(2).mean();
    if (m->has_cls_token()) loss = loss + m->features(x, t, m->blocks()).select(1, 0).pow(2).mean();
    loss.backward();
    if (i < 2) opt.step();
  }
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key() << " gets no gradient";
  }
}

TEST_P(BackboneConformance, SaveLoadRoundTrip) {
  auto o = small();
  o.num_classes = 10;
  auto a = build(GetParam(), o, 1), b = build(GetParam(), o, 2);
  {  // move a away from its initialisation
    auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 50.0f);
    torch::optim::SGD opt(a->parameters(), 0.1);
    (a->forward(x, t) - x).pow(2).mean().backward();
    opt.step();
  }
  std::stringstream buf;
  {
    torch::serialize::OutputArchive ar;
    a->save(ar);
    ar.save_to(buf);
  }
  torch::serialize::InputArchive ar;
  ar.load_from(buf);
  b->load(ar);
  a->eval(), b->eval();
  auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 20.0f);
  auto y = torch::tensor({4, 5}, torch::kLong);
  EXPECT_TRUE(torch::equal(a->forward(x, t, y), b->forward(x, t, y)));
  EXPECT_TRUE(torch::equal(a->features(x, t, a->blocks() / 2), b->features(x, t, b->blocks() / 2)));
}

TEST_P(BackboneConformance, FeaturesAtEveryBlock) {
  auto m = build(GetParam(), small());
  m->eval();
  auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 10.0f);
  ASSERT_GE(m->blocks(), 4);
  for (int64_t b = 0; b <= m->blocks(); ++b) {
    auto f = m->features(x, t, b);
    ASSERT_EQ(f.dim(), 3) << m->block_name(b);
    EXPECT_EQ(f.size(0), 2);
    EXPECT_EQ(f.size(2), m->feature_width(b)) << m->block_name(b);
    EXPECT_TRUE(torch::isfinite(f).all().item<bool>());
    EXPECT_FALSE(m->block_name(b).empty());
    auto pooled = pool_features(f, "mean", m->has_cls_token());
    EXPECT_EQ(pooled.sizes(), (std::vector<int64_t>{2, f.size(2)}));
  }
  EXPECT_THROW(m->features(x, t, m->blocks() + 1), InputError);
  EXPECT_THROW(m->features(x, t, -1), InputError);
}

TEST_P(BackboneConformance, ClassTokenForTransformersOnly) {
  auto o = small();
  o.cls_token = true;
  if (GetParam() == "unet") {
    EXPECT_THROW(make_backbone(GetParam(), o), InputError);
    EXPECT_NE(backbone_check(GetParam(), o).find("cls_token"), std::string::npos);
    return;
  }
  auto m = build(GetParam(), o), plain = build(GetParam(), small());
  auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 10.0f);
  EXPECT_TRUE(m->has_cls_token());
  const int64_t b = m->blocks() / 2;
  auto f = m->features(x, t, b), g = plain->features(x, t, b);
  EXPECT_EQ(f.size(1), g.size(1) + 1);  // the class token first
  EXPECT_TRUE(torch::equal(pool_features(f, "cls", true), f.select(1, 0)));
  EXPECT_TRUE(torch::allclose(pool_features(f, "mean", true), f.slice(1, 1).mean(1)));
  // DINO's readout: the class token, then the other tokens' mean (2C channels).
  const auto both = pool_features(f, "cls_mean", true);
  ASSERT_EQ(both.size(1), pooled_width(f.size(2), "cls_mean"));
  EXPECT_TRUE(torch::equal(both.slice(1, 0, f.size(2)), f.select(1, 0)));
  EXPECT_TRUE(torch::allclose(both.slice(1, f.size(2)), f.slice(1, 1).mean(1)));
  EXPECT_THROW(pool_features(g, "cls_mean", false), InputError);
  EXPECT_EQ(m->forward(x, t).sizes(), (std::vector<int64_t>{2, 64, 6}));  // predicts no class token
  EXPECT_THROW(pool_features(g, "cls", false), InputError);
}

INSTANTIATE_TEST_SUITE_P(Registered, BackboneConformance, ::testing::ValuesIn(backbone_names()),
                         [](const auto& info) { return info.param; });

TEST(Backbones, RegistryListsEveryBackbone) {
  // The seed systems' three are built in (a new backbone adds to the list).
  const auto names = backbone_names();
  for (const char* b : {"dit", "unet", "uvit"})
    EXPECT_NE(std::find(names.begin(), names.end(), b), names.end()) << b;
  EXPECT_THROW(make_backbone("resnet", small()), InputError);
}

// The tiny preset of each backbone at seed_backbones.toml's shape (4 x 4
// tokens of 64 values in, 64 out): sizes of one order, printed for the docs.
TEST(Backbones, TinyPresetsAreOfOneSize) {
  BackboneOptions o;
  o.in_dim = o.out_dim = 64, o.grid_h = o.grid_w = 4, o.t_mlp_ratio = 0.25;  // tiny: 8 x 128, 4 heads
  std::map<std::string, int64_t> n;
  for (const auto& name : backbone_names()) {
    torch::manual_seed(0);
    for (const auto& p : make_backbone(name, o)->parameters()) n[name] += p.numel();
    std::printf("tiny %s: %.3fM parameters\n", name.c_str(), n[name] / 1e6);
  }
  for (const auto& [name, k] : n) {
    EXPECT_GT(k, n["dit"] / 3) << name;
    EXPECT_LT(k, n["dit"] * 3) << name;
  }
}

TEST(UViT, FirstHalfMiddleSecondHalfWithMirroredLongSkips) {
  auto o = small();
  o.depth = 6;
  torch::manual_seed(0);
  UViT m(o);
  EXPECT_EQ(m->blocks(), 7);  // 3 in + mid + 3 out (U-ViT's layout)
  EXPECT_EQ(UViTImpl::default_block(o), 4);  // the probe reads the first half + the middle
  EXPECT_EQ(m->block_name(4), "mid");
  EXPECT_EQ(m->block_name(5), "out 1");
  for (auto& b : *m->in_blocks) EXPECT_FALSE(b->as<UViTBlockImpl>()->skip_linear);
  EXPECT_FALSE(m->mid_block->skip_linear);
  for (auto& b : *m->out_blocks) {
    auto& s = b->as<UViTBlockImpl>()->skip_linear;
    ASSERT_TRUE(s);
    EXPECT_EQ(s->weight.sizes(), (std::vector<int64_t>{64, 128}));  // concat -> W
  }
  // The first out block reads the last in block: zeroing the last in block's
  // contribution through its skip changes the prediction, the mirror does.
  auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 10.0f);
  torch::NoGradGuard ng;
  auto before = m->forward(x, t);
  m->out_blocks[0]->as<UViTBlockImpl>()->skip_linear->weight.slice(1, 64).zero_();
  EXPECT_FALSE(torch::allclose(before, m->forward(x, t)));
  // no adaLN: a U-ViT block holds no modulation
  for (const auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("adaLN"), std::string::npos);
}

// U-ViT's official options (libs/uvit.py): the raw sinusoid as the time
// token (no t_embedder), no qkv bias, a 3 x 3 convolution on the output grid.
TEST(UViT, OfficialOptionsTimeTokenQkvBiasAndOutputConv) {
  auto o = small();
  torch::manual_seed(0);
  auto plain = make_backbone("uvit", o);
  o.time_mlp = false, o.qkv_bias = false, o.conv_out = true;
  torch::manual_seed(0);
  auto official = make_backbone("uvit", o);
  std::set<std::string> names;
  for (const auto& p : official->named_parameters()) names.insert(p.key());
  EXPECT_EQ(names.count("t_embedder.0.weight"), 0u);  // no time MLP
  EXPECT_EQ(names.count("in_blocks.0.qkv.bias"), 0u);
  EXPECT_EQ(names.count("in_blocks.0.qkv.weight"), 1u);
  EXPECT_EQ(names.count("conv_out.weight"), 1u);
  for (const auto& p : plain->named_parameters()) EXPECT_NE(p.key().rfind("conv_out", 0), 0u) << p.key();
  // The output conv mixes neighbouring tokens: a change at one token of the
  // prediction's input reaches its 3 x 3 neighbours through the conv only.
  official->eval();
  auto x = torch::randn({1, 64, 6}), t = torch::full({1}, 10.0f);
  auto y = official->forward(x, t);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  // The same time at another t: the raw sinusoid still conditions the model.
  EXPECT_FALSE(torch::allclose(y, official->forward(x, torch::full({1}, 500.0f))));
  // Options are the U-ViT's: the other backbones refuse them in validation.
  RunConfig c;
  c.model.qkv_bias = false;
  EXPECT_THROW(validate(c, "sweep.toml:1"), InputError);
  c.model.name = "uvit";
  EXPECT_NO_THROW(validate(c, "sweep.toml:1"));
}

TEST(UNet, LevelsFollowTheGridAndBlocksAreNamed) {
  auto o = small(8);
  EXPECT_EQ(UNetImpl::levels(o), 3);   // 8 -> 4 -> 2
  EXPECT_EQ(UNetImpl::levels(small(32)), 4);
  EXPECT_EQ(UNetImpl::levels(small(4)), 2);
  EXPECT_EQ(UNetImpl::levels(small(2)), 1);
  auto p2 = small(8);
  p2.patch = 2;
  EXPECT_EQ(UNetImpl::levels(p2), 2);  // 4 x 4 groups
  torch::manual_seed(0);
  UNet m(o);
  // input conv, 3 levels x 2 res, 2 downs; mid; 3 x 3 out steps
  EXPECT_EQ(m->blocks(), 1 + 6 + 2 + 9 - 1 + 1);
  const int64_t mid = UNetImpl::default_block(o);
  EXPECT_EQ(m->block_name(mid), "mid (2x2)");
  EXPECT_EQ(m->block_name(0), "input conv (8x8)");
  EXPECT_EQ(m->block_name(mid + 3), "out 2.2 + up (4x4)");  // named by its output
  EXPECT_EQ(m->feature_width(0), 32);       // C = width / 2
  EXPECT_EQ(m->feature_width(mid), 64);     // 2C at the bottom
  auto x = torch::randn({2, 64, 6}), t = torch::full({2}, 10.0f);
  EXPECT_EQ(m->features(x, t, mid).size(1), 4);          // 2 x 2 positions
  EXPECT_EQ(m->features(x, t, m->blocks()).size(1), 64);  // back at 8 x 8
  // attention only below the top level, and in the middle
  EXPECT_FALSE(m->input_steps[1]->as<UNetStepImpl>()->attn);
  EXPECT_TRUE(m->middle->attn);
  // pixels: a 16 x 16 grey image as 256 one-value tokens
  auto px = small(16, 1, 1);
  torch::manual_seed(0);
  auto pm = make_backbone("unet", px);
  EXPECT_EQ(pm->forward(torch::randn({2, 256, 1}), t).sizes(), (std::vector<int64_t>{2, 256, 1}));
}

// DDPM's attn_resolutions (model.attn_resolutions): attention at the named
// sides only (and always in the middle); a side the U-Net lacks is an error
// listing its sides.
TEST(UNet, AttentionAtTheNamedResolutionsOnly) {
  EXPECT_EQ(parse_attn_resolutions("16, 8"), (std::vector<int64_t>{16, 8}));
  EXPECT_TRUE(parse_attn_resolutions("").empty());
  EXPECT_THROW(parse_attn_resolutions("16,x"), InputError);
  EXPECT_THROW(parse_attn_resolutions("0"), InputError);
  auto o = small(16);  // levels at 16, 8, 4, 2
  o.attn_sides = {8};
  torch::manual_seed(0);
  UNet m(o);
  auto attn_at = [&](const std::string& side) {
    int64_t with = 0, without = 0;
    for (const auto& s : *m->input_steps) {
      auto* step = s->as<UNetStepImpl>();
      if (step->name.find("(" + side + "x" + side + ")") == std::string::npos || !step->res) continue;
      (step->attn ? with : without) += 1;
    }
    return std::make_pair(with, without);
  };
  EXPECT_EQ(attn_at("8"), std::make_pair(int64_t(2), int64_t(0)));
  EXPECT_EQ(attn_at("4"), std::make_pair(int64_t(0), int64_t(2)));   // attended by default
  EXPECT_EQ(attn_at("16"), std::make_pair(int64_t(0), int64_t(2)));
  EXPECT_TRUE(m->middle->attn);
  int64_t out_with = 0;
  for (const auto& s : *m->output_steps) out_with += bool(s->as<UNetStepImpl>()->attn);
  EXPECT_EQ(out_with, 3);  // level 8's three output steps
  auto x = torch::randn({2, 256, 6}), t = torch::full({2}, 10.0f);
  EXPECT_EQ(m->forward(x, t).sizes(), x.sizes());
  o.attn_sides = {12};
  EXPECT_NE(UNetImpl::check(o).find("sides 16, 8, 4, 2"), std::string::npos) << UNetImpl::check(o);
}

TEST(UNet, TimeEnterAsScaleAndShift) {
  torch::manual_seed(0);
  UNetResBlock r(8, 16, 32);
  torch::nn::init::normal_(r->conv2->weight, 0.0, 0.1);  // open the zero-initialised conv
  auto x = torch::randn({2, 8, 4, 4}), e = torch::randn({2, 32});
  torch::NoGradGuard ng;
  auto a = r->forward(x, e), b = r->forward(x, e * 2);
  EXPECT_FALSE(torch::allclose(a, b));  // the embedding changes the block's output
  r->emb_proj->weight.zero_(), r->emb_proj->bias.zero_();
  EXPECT_TRUE(torch::allclose(r->forward(x, e), r->forward(x, e * 2)));  // through it alone
}

}  // namespace
