// The pre-training methods (methods/) against their definitions, with hand
// values, and a collapse check: a few hundred steps of each on separable
// synthetic images give features whose kNN accuracy is far above chance.
#include <gtest/gtest.h>

#include <algorithm>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <vector>

#include "backbones/backbone.hpp"
#include "backbones/dit.hpp"
#include "bench/flops.hpp"
#include "core/data/augment.hpp"
#include "core/run/registry.hpp"
#include "core/train/trainer.hpp"
#include "methods/dino.hpp"
#include "methods/mae.hpp"
#include "methods/moco_v3.hpp"
#include "probes/finetune.hpp"
#include "probes/knn_probe.hpp"
#include "probes/linear_probe.hpp"

namespace ldae {
namespace {

BackboneOptions tiny_options(bool cls = false) {
  BackboneOptions o;
  o.in_dim = 16, o.out_dim = 16, o.grid_h = 4, o.grid_w = 4;
  o.depth = 2, o.width = 32, o.heads = 2, o.split = 2, o.cls_token = cls;
  return o;
}

// 16 x 16 grey images of 4 classes that crops, flips and colour jitter
// keep: horizontal stripes, vertical stripes, a checkerboard (period 4, random
// phase) and flat grey, plus noise. -> images (N, 1, 16, 16) in [-1, 1], labels (N,)
std::pair<torch::Tensor, torch::Tensor> pattern_images(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto y = torch::randint(4, {n}, torch::kLong);
  auto r = torch::arange(16).view({16, 1}).expand({16, 16}), c = torch::arange(16).view({1, 16}).expand({16, 16});
  auto x = torch::empty({n, 1, 16, 16});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = y[i].item<int64_t>(), ph = torch::randint(4, {1}).item<int64_t>();
    auto on = k == 0 ? ((r + ph) / 2) % 2 : k == 1 ? ((c + ph) / 2) % 2 : ((r + ph) / 2 + (c + ph) / 2) % 2;
    x[i][0] = k == 3 ? torch::full({16, 16}, 0.0f) : on.to(torch::kFloat32) * 1.6f - 0.8f;
  }
  return {(x + 0.2 * torch::randn_like(x)).clamp(-1, 1), y};
}

// 4 x 4 pixel patches as tokens: (b, 1, 16, 16) -> (b, 16, 16).
torch::Tensor patches(const torch::Tensor& images) {
  namespace F = torch::nn::functional;
  return F::unfold(images, F::UnfoldFuncOptions({4, 4}).stride(4)).transpose(1, 2).contiguous();
}

MethodContext tiny_context(const torch::Tensor& images, int64_t total, bool cls = false) {
  MethodContext c;
  c.read_images = [images](const torch::Tensor& idx) { return images.index_select(0, idx); };
  c.encode = patches;
  c.backbone = tiny_options(cls);
  c.make_backbone = [o = c.backbone] { return make_backbone("dit", o); };
  c.block = 2, c.feature_width = 32;
  c.steps_per_epoch = std::max<int64_t>(1, images.size(0) / 64);
  c.total_steps = total;
  return c;
}

TEST(Mae, MaskKeepsRoundOneMinusRTokensAndRestoresOrder) {
  torch::manual_seed(0);
  for (double r : {0.75, 0.5, 0.6}) {
    const auto m = mae_random_mask(5, 16, r, torch::kCPU);
    const int64_t K = std::llround((1 - r) * 16);
    ASSERT_EQ(m.keep.sizes(), (std::vector<int64_t>{5, K}));
    EXPECT_EQ(m.mask.sum().item<double>(), 5.0 * double(16 - K));
    // the kept tokens are the unmasked ones, and restore inverts the shuffle
    EXPECT_EQ(m.mask.gather(1, m.keep).sum().item<double>(), 0.0);
    EXPECT_TRUE(torch::equal(std::get<0>(m.restore.argsort(int64_t(1)).slice(1, 0, K).sort(1)), std::get<0>(m.keep.sort(1))));
  }
}

TEST(Mae, EncoderSeesOnlyTheVisibleTokens) {
  for (const char* name : {"dit", "uvit"})
    for (bool cls : {false, true}) {
      torch::manual_seed(1);
      auto model = make_backbone(name, tiny_options(cls));
      auto tokens = torch::randn({3, 16, 16});
      auto t = torch::zeros({3});
      const auto m = mae_random_mask(3, 16, 0.75, torch::kCPU);
      auto f = model->visible_features(tokens, t, m.keep, 2);
      EXPECT_EQ(f.sizes(), (std::vector<int64_t>{3, 4 + (cls ? 1 : 0), 32})) << name;
      // keeping every token in order is the ordinary encoder
      auto all = torch::arange(16).unsqueeze(0).expand({3, 16}).contiguous();
      EXPECT_TRUE(torch::allclose(model->visible_features(tokens, t, all, 2), model->features(tokens, t, 2),
                                  1e-5, 1e-6)) << name;
    }
  RunConfig rc;
  rc.model.name = "unet";
  auto uo = backbone_options(rc, 4, 4);
  uo.in_dim = uo.out_dim = 16;
  EXPECT_THROW(make_backbone("unet", uo)->visible_features(torch::randn({1, 16, 16}), torch::zeros({1}),
                                                           torch::zeros({1, 4}, torch::kLong), 1),
               InputError);
}

TEST(Mae, LossCountsOnlyMaskedTokens) {
  auto pred = torch::zeros({2, 4, 3}), target = torch::ones({2, 4, 3});
  auto mask = torch::tensor({{1.f, 0.f, 0.f, 1.f}, {0.f, 0.f, 1.f, 0.f}});
  EXPECT_DOUBLE_EQ(mae_loss(pred, target, mask).item<double>(), 1.0);
  auto changed = pred.clone();
  changed[0][1].fill_(5.f), changed[1][3].fill_(-7.f);  // visible tokens
  EXPECT_DOUBLE_EQ(mae_loss(changed, target, mask).item<double>(), 1.0);
  changed[0][0].fill_(1.f);  // a masked token now right: (0 + 1 + 1) / 3
  EXPECT_NEAR(mae_loss(changed, target, mask).item<double>(), 2.0 / 3.0, 1e-7);
}

TEST(Mae, NormPixNeedsTwoValuesPerToken) {
  auto [images, labels] = pattern_images(8, 1);
  auto ctx = tiny_context(images, 1);
  ctx.backbone.in_dim = 1;  // one value per token: no variance to normalise by
  MaeConfig mc;
  mc.decoder_depth = 1, mc.decoder_width = 32;
  EXPECT_THROW(Mae(mc, ctx), InputError);
  mc.norm_pix = false;
  EXPECT_NO_THROW(Mae(mc, ctx));
}

TEST(Mae, NormPixByHand) {
  auto t = torch::tensor({1.f, 2.f, 3.f}).view({1, 1, 3});  // mean 2, unbiased var 1
  auto n = norm_pix(t);
  const double s = std::sqrt(1 + 1e-6);
  EXPECT_NEAR(n[0][0][0].item<double>(), -1 / s, 1e-6);
  EXPECT_NEAR(n[0][0][1].item<double>(), 0, 1e-7);
  EXPECT_NEAR(n[0][0][2].item<double>(), 1 / s, 1e-6);
}

TEST(MocoV3, InfoNceIsCrossEntropyWithPositivesOnTheDiagonal) {
  // q = k = I (2 x 2), tau = 1: logits I, each row -log(e / (e + 1)), times 2 tau.
  auto eye = torch::eye(2);
  EXPECT_NEAR(moco_infonce(eye, eye, 1.0).item<double>(), 2 * std::log(1 + std::exp(-1.0)), 1e-6);
  // general case: the same as the cross-entropy written out
  torch::manual_seed(2);
  auto q = torch::randn({6, 5}), k = torch::randn({6, 5});
  const double tau = 0.2;
  auto qn = q / q.norm(2, 1, true), kn = k / k.norm(2, 1, true);
  auto logits = qn.matmul(kn.t()) / tau;
  auto ce = -(logits.diag() - logits.logsumexp(1)).mean();
  EXPECT_NEAR(moco_infonce(q, k, tau).item<double>(), (ce * 2 * tau).item<double>(), 1e-5);
  // data parallel: this rank's queries against every rank's keys, its
  // positives from column offset on; the mean over ranks is one process's loss
  auto r0 = moco_infonce(q.slice(0, 0, 3), k, tau, 0), r1 = moco_infonce(q.slice(0, 3, 6), k, tau, 3);
  EXPECT_NEAR(((r0 + r1) / 2).item<double>(), moco_infonce(q, k, tau).item<double>(), 1e-5);
  // scale invariant in q and k (both l2-normalised)
  EXPECT_NEAR(moco_infonce(3 * q, 0.5 * k, tau).item<double>(), moco_infonce(q, k, tau).item<double>(), 1e-5);
}

TEST(MocoV3, MomentumUpdateAndCosineSchedule) {
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 0, 100), 0.99);
  EXPECT_NEAR(cosine_momentum(0.99, 50, 100), 0.995, 1e-12);
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 100, 100), 1.0);
  torch::nn::Linear a(2, 1), b(2, 1);
  {
    torch::NoGradGuard ng;
    a->weight.fill_(1), a->bias.fill_(0), b->weight.fill_(3), b->bias.fill_(2);
  }
  momentum_update(*a, *b, 0.9);  // 0.9 x 1 + 0.1 x 3 = 1.2; 0.9 x 0 + 0.1 x 2 = 0.2
  EXPECT_NEAR(a->weight[0][0].item<double>(), 1.2, 1e-6);
  EXPECT_NEAR(a->bias[0].item<double>(), 0.2, 1e-6);
  // The momentum encoder moves towards the model by (1 - m) each step.
  auto [images, labels] = pattern_images(64, 3);
  MocoConfig mc;
  mc.dim = 8, mc.mlp_dim = 16;
  MocoV3 moco(mc, tiny_context(images, 10));
  auto model = make_backbone("dit", tiny_options());
  moco->loss(model, torch::arange(8), 0);  // step 0: f_k starts as f_q, then m = 0.99
  auto before = moco->momentum_encoder()->parameters()[0].clone();
  {
    torch::NoGradGuard ng;
    model->parameters()[0].add_(1.0);
  }
  moco->update_momentum_encoder(model, 0.9);
  auto expect = 0.9 * before + 0.1 * model->parameters()[0];
  EXPECT_TRUE(torch::allclose(moco->momentum_encoder()->parameters()[0], expect, 1e-6, 1e-6));
  EXPECT_FALSE(moco->momentum_encoder()->parameters()[0].requires_grad());
}

TEST(Dino, CenteringAndSharpeningByHand) {
  // one global pair, K = 2: teacher logits t, centre c, student s.
  auto t1 = torch::tensor({{1.0f, 0.0f}}), t2 = torch::tensor({{0.0f, 2.0f}});
  auto s1 = torch::tensor({{0.5f, -0.5f}}), s2 = torch::tensor({{0.0f, 1.0f}});
  auto c = torch::tensor({{0.5f, 0.25f}});
  const double tau_t = 0.04, tau_s = 0.1;
  auto p = [](double a, double b) {  // softmax of (a, b)
    const double m = std::max(a, b), ea = std::exp(a - m), eb = std::exp(b - m);
    return std::pair<double, double>{ea / (ea + eb), eb / (ea + eb)};
  };
  auto logp = [](double a, double b) {
    const double m = std::max(a, b), lse = m + std::log(std::exp(a - m) + std::exp(b - m));
    return std::pair<double, double>{a - lse, b - lse};
  };
  const auto pt1 = p((1.0 - 0.5) / tau_t, (0.0 - 0.25) / tau_t), pt2 = p((0.0 - 0.5) / tau_t, (2.0 - 0.25) / tau_t);
  const auto ls1 = logp(0.5 / tau_s, -0.5 / tau_s), ls2 = logp(0.0, 1.0 / tau_s);
  // pairs (teacher 1, student 2) and (teacher 2, student 1)
  const double want = 0.5 * (-(pt1.first * ls2.first + pt1.second * ls2.second) -
                             (pt2.first * ls1.first + pt2.second * ls1.second));
  EXPECT_NEAR(dino_loss({s1, s2}, {t1, t2}, c, tau_s, tau_t).item<double>(), want, 1e-4);
  // centre: 0.9 c + 0.1 mean(t1, t2) = (0.45 + 0.05, 0.225 + 0.1)
  auto c2 = dino_center(c, torch::cat({t1, t2}).mean(0, true), 0.9);
  EXPECT_NEAR(c2[0][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(c2[0][1].item<double>(), 0.325, 1e-6);
  // a local view counts against both teachers: pairs (1,2), (1,3), (2,1), (2,3)
  auto s3 = torch::tensor({{1.0f, 1.0f}});
  const auto ls3 = logp(1.0 / tau_s, 1.0 / tau_s);
  auto ce = [](std::pair<double, double> pt, std::pair<double, double> ls) {
    return -(pt.first * ls.first + pt.second * ls.second);
  };
  const double want3 = (ce(pt1, ls2) + ce(pt1, ls3) + ce(pt2, ls1) + ce(pt2, ls3)) / 4;
  EXPECT_NEAR(dino_loss({s1, s2, s3}, {t1, t2}, c, tau_s, tau_t).item<double>(), want3, 1e-4);
}

TEST(Dino, TeacherTemperatureWarmsUpPerEpoch) {
  auto [images, labels] = pattern_images(128, 4);  // 2 steps per epoch of 64
  DinoConfig dc;
  dc.out_dim = 16, dc.hidden = 8, dc.bottleneck = 4;
  dc.warmup_teacher_temp = 0.02, dc.teacher_temp = 0.06, dc.warmup_teacher_temp_epochs = 3;
  Dino dino(dc, tiny_context(images, 20));
  EXPECT_DOUBLE_EQ(dino->teacher_temp(0), 0.02);
  EXPECT_DOUBLE_EQ(dino->teacher_temp(1), 0.02);   // still epoch 0
  EXPECT_NEAR(dino->teacher_temp(2), 0.04, 1e-12);  // linspace(0.02, 0.06, 3)[1]
  EXPECT_DOUBLE_EQ(dino->teacher_temp(6), 0.06);
  EXPECT_DOUBLE_EQ(dino->teacher_temp(19), 0.06);
}

TEST(Views, AugmentationKeepsShapeRangeAndIsSeeded) {
  auto [images, labels] = pattern_images(8, 5);
  for (int which : {1, 2}) {
    torch::manual_seed(7);
    auto a = augment_view(images, moco_view(which), true);
    torch::manual_seed(7);
    auto b = augment_view(images, moco_view(which), true);
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_EQ(a.sizes(), images.sizes());
    EXPECT_GE(a.min().item<double>(), -1.0 - 1e-6);
    EXPECT_LE(a.max().item<double>(), 1.0 + 1e-6);
    EXPECT_FALSE(torch::allclose(a, images));
  }
  // solarisation alone: x -> 1 - x above 1/2 in [0, 1] units (constant
  // images, so the crop's resampling changes nothing)
  ViewSpec sol;
  sol.scale_lo = 1, sol.jitter_p = 0, sol.solarize_p = 1;
  auto x = torch::cat({torch::full({1, 1, 4, 4}, 0.7f), torch::full({1, 1, 4, 4}, 0.2f)});
  torch::manual_seed(0);
  auto y = augment_view(x, sol, false);
  EXPECT_TRUE(torch::allclose(y[0], torch::full({1, 4, 4}, 0.3f), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(y[1], torch::full({1, 4, 4}, 0.2f), 1e-5, 1e-5));
}

// The colour half of MoCo v3's and DINO's views against hand values
// (torchvision.transforms.functional's definitions): pure red and a grey.
TEST(Views, GrayscaleSaturationAndHueByHand) {
  auto px = [](double r, double g, double b) {  // one 1 x 1 RGB image (1, 3, 1, 1)
    return torch::tensor({r, g, b}, torch::kFloat64).view({1, 3, 1, 1});
  };
  auto near = [](const torch::Tensor& a, const torch::Tensor& b) { return torch::allclose(a, b, 1e-9, 1e-9); };
  EXPECT_TRUE(near(grayscale(px(1, 0, 0)), px(0.299, 0.299, 0.299)));
  const auto one = torch::ones({1}, torch::kFloat64);
  EXPECT_TRUE(near(adjust_saturation(px(1, 0, 0), 0 * one), px(0.299, 0.299, 0.299)));  // 0: its grey
  EXPECT_TRUE(near(adjust_saturation(px(0.2, 0.4, 0.6), one), px(0.2, 0.4, 0.6)));      // 1: as is
  // 1.5: away from the luma 0.363 (1.5 x - 0.5 x 0.363)
  EXPECT_TRUE(near(adjust_saturation(px(0.2, 0.4, 0.6), 1.5 * one), px(0.1185, 0.4185, 0.7185)));
  EXPECT_TRUE(near(adjust_hue(px(1, 0, 0), one / 3.0), px(0, 1, 0)));   // red + 1/3 turn = green
  EXPECT_TRUE(near(adjust_hue(px(1, 0, 0), -one / 3.0), px(0, 0, 1)));  // - 1/3 turn = blue
  EXPECT_TRUE(near(adjust_hue(px(0.5, 0.5, 0.5), 0.25 * one), px(0.5, 0.5, 0.5)));  // grey has no hue
  // hue 1/6 turn from orange (1, 0.5, 0): h 1/12 -> 1/4, (0.5, 1, 0)
  EXPECT_TRUE(near(adjust_hue(px(1, 0.5, 0), one / 6.0), px(0.5, 1, 0)));
  // One channel: nothing to do.
  auto grey = torch::full({1, 1, 2, 2}, 0.3, torch::kFloat64);
  EXPECT_TRUE(torch::equal(adjust_hue(grey, one / 3.0), grey));
  // A coloured view of RGB images keeps their shape and range.
  ViewSpec coloured = moco_view(1);
  coloured.saturation = 0.2, coloured.hue = 0.1, coloured.grayscale_p = 0.2;
  auto rgb = torch::rand({4, 3, 8, 8}) * 2 - 1;
  torch::manual_seed(3);
  auto c = augment_view(rgb, coloured, true);
  EXPECT_EQ(c.sizes(), rgb.sizes());
  EXPECT_GE(c.min().item<double>(), -1.0 - 1e-6);
  EXPECT_LE(c.max().item<double>(), 1.0 + 1e-6);
}

// torchvision's ColorJitter applies its four operations in a random order
// per call (per image): the batched selection equals applying each image's
// own permutation one operation at a time, and the orders vary.
TEST(Views, ColorJitterInRandomOrderIsEachImagesOwnSequence) {
  const int64_t B = 48;
  torch::manual_seed(5);
  auto x = torch::rand({B, 3, 4, 4}, torch::kFloat64);
  auto b = (0.6 + 0.8 * torch::rand({B}, torch::kFloat64)).view({B, 1, 1, 1});
  auto c = (0.6 + 0.8 * torch::rand({B}, torch::kFloat64)).view({B, 1, 1, 1});
  auto sat = 0.8 + 0.4 * torch::rand({B}, torch::kFloat64), hue = 0.2 * torch::rand({B}, torch::kFloat64) - 0.1;
  torch::manual_seed(11);
  auto got = color_jitter(x, b, c, sat, hue, /*random_order=*/true);
  torch::manual_seed(11);
  auto order = torch::rand({B, 4}, torch::kFloat32).argsort(/*dim=*/1, /*descending=*/false);
  std::set<std::vector<int64_t>> seen;
  for (int64_t i = 0; i < B; ++i) {
    auto y = x.slice(0, i, i + 1);
    std::vector<int64_t> perm;
    for (int k = 0; k < 4; ++k) {
      const int64_t j = order[i][k].item<int64_t>();
      perm.push_back(j);
      auto bi = b.slice(0, i, i + 1), ci = c.slice(0, i, i + 1);
      if (j == 0) y = (y * bi).clamp(0, 1);
      if (j == 1) y = adjust_contrast(y, ci.view({1}));
      if (j == 2) y = adjust_saturation(y, sat.slice(0, i, i + 1));
      if (j == 3) y = adjust_hue(y, hue.slice(0, i, i + 1));
    }
    seen.insert(perm);
    EXPECT_TRUE(torch::allclose(got[i], y[0], 1e-12, 1e-12)) << "image " << i;
  }
  EXPECT_GT(seen.size(), 10u);  // 48 draws of 24 orders
  // The fixed order is brightness, contrast, saturation, hue for every image.
  auto fixed = color_jitter(x, b, c, sat, hue, false);
  auto want = adjust_hue(adjust_saturation(adjust_contrast((x * b).clamp(0, 1), c.view({B})), sat), hue);
  EXPECT_TRUE(torch::allclose(fixed, want, 1e-12, 1e-12));
  // Contrast blends with the mean luma on RGB (torchvision's adjust_contrast):
  // (1, 0, 0) and (0, 0, 1) pixels, luma mean (0.299 + 0.114) / 2.
  auto two = torch::tensor({1.0, 0.0, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64).view({1, 2, 3}).permute({0, 2, 1}).reshape({1, 3, 1, 2});
  const double m = (0.299 + 0.114) / 2;
  auto flat = adjust_contrast(two, torch::zeros({1}, torch::kFloat64));
  EXPECT_TRUE(torch::allclose(flat, torch::full({1, 3, 1, 2}, m, torch::kFloat64), 1e-12, 1e-12));
}

// The collapse check: each method's features after a few hundred steps
// separate four classes of synthetic images far above chance (25%) under kNN.
double knn_after_training(const std::string& method, int64_t steps) {
  auto [train_img, train_y] = pattern_images(512, 10);
  auto [test_img, test_y] = pattern_images(256, 11);
  RunConfig cfg;
  cfg.method.name = method;
  cfg.model.depth = 2, cfg.model.width = 32, cfg.model.heads = 2;
  cfg.train.batch = 64, cfg.train.epochs = int(steps / 8), cfg.train.base_lr = 1e-3, cfg.train.weight_decay = 0.05;
  cfg.train.warmup_epochs = 1, cfg.train.checkpoint_every = 100000;
  cfg.sections.mut<MaeConfig>().decoder_depth = 1, cfg.sections.mut<MaeConfig>().decoder_width = 32;
  cfg.sections.mut<MocoConfig>().dim = 32, cfg.sections.mut<MocoConfig>().mlp_dim = 64;
  cfg.sections.mut<DinoConfig>().out_dim = 64, cfg.sections.mut<DinoConfig>().hidden = 64, cfg.sections.mut<DinoConfig>().bottleneck = 16, cfg.sections.mut<DinoConfig>().local_crops = 2;
  torch::manual_seed(0);
  auto model = make_backbone("dit", tiny_options());
  TrainData td;
  td.z0 = patches(train_img);
  td.labels = train_y;
  Trainer trainer(cfg, model, make_schedule(cfg.noise), torch::kCPU);
  trainer.set_method(make_method(cfg, tiny_context(train_img, trainer.total_steps(512))));
  auto res = trainer.train(td, "", nullptr, {});
  EXPECT_EQ(res.status, TrainResult::Done) << method << ": " << res.error;
  EXPECT_EQ(res.steps, steps);
  // MAE's and MoCo's losses fall; DINO's cross-entropy need not (its teacher
  // sharpens and its centre moves), so it answers to the kNN check alone.
  if (method != "dino")
    EXPECT_LT(res.loss_curve.back()[1], res.loss_curve.front()[1]) << method << ": the loss did not fall";
  auto feats = [&](const torch::Tensor& img) {
    return encoder_features(model, patches(img), {}, 2, 0, 1.0, 0.0, false, 256, torch::kCPU, 0);
  };
  auto ftr = feats(train_img), fte = feats(test_img);
  EXPECT_GT(ftr.std(0).mean().item<double>(), 1e-3) << method << ": features collapsed to a point";
  return knn_probe(ftr, train_y, fte, test_y, 4, 20, 0.07).top1;
}

TEST(MethodsCollapseCheck, FeaturesSeparateSyntheticClasses) {
  for (const char* m : {"mae", "moco_v3", "dino"}) {
    const double top1 = knn_after_training(m, 200);
    std::printf("%s: kNN top-1 %.1f%% after 200 steps\n", m, top1);
    EXPECT_GT(top1, 60.0) << m << " kNN top-1 " << top1 << "% (chance 25%)";
  }
}

// The conformance suite of the method registry: every baseline, the same checks.
RunConfig method_config(const std::string& method) {
  RunConfig cfg;
  cfg.method.name = method;
  cfg.model.depth = 2, cfg.model.width = 32, cfg.model.heads = 2;
  cfg.train.batch = 32, cfg.train.epochs = 3, cfg.train.base_lr = 1e-3, cfg.train.checkpoint_every = 1000;
  cfg.sections.mut<MaeConfig>().decoder_depth = 1, cfg.sections.mut<MaeConfig>().decoder_width = 32;
  cfg.sections.mut<MocoConfig>().dim = 16, cfg.sections.mut<MocoConfig>().mlp_dim = 32;
  cfg.sections.mut<DinoConfig>().out_dim = 32, cfg.sections.mut<DinoConfig>().hidden = 32, cfg.sections.mut<DinoConfig>().bottleneck = 8, cfg.sections.mut<DinoConfig>().local_crops = 1;
  return cfg;
}

class MethodConformance : public ::testing::TestWithParam<std::string> {};

// mae.encoder_norm: models_mae.py's LayerNorm after the encoder blocks,
// trained with the decoder, absent by default (recorded runs keep their
// parameters and their order).
TEST(Mae, EncoderNormIsOptionalAndTrained) {
  auto [images, labels] = pattern_images(32, 13);
  const auto ctx = tiny_context(images, 10);  // a tiny DiT's
  auto cfg = method_config("mae");
  auto count = [&](const RunConfig& c) { return make_method(c, ctx)->trained_parameters().size(); };
  const auto plain = count(cfg);
  cfg.sections.mut<MaeConfig>().encoder_norm = true;
  EXPECT_EQ(count(cfg), plain + 2);  // its scale and shift
  torch::manual_seed(0);
  auto model = ctx.make_backbone();
  auto method = make_method(cfg, ctx);
  const auto params = method->trained_parameters();
  torch::manual_seed(1);
  method->loss(model, torch::arange(16), 0).backward();
  // The last two are the norm's (registered last): both get a gradient.
  EXPECT_TRUE(params[params.size() - 1].grad().defined());
  EXPECT_TRUE(params[params.size() - 2].grad().defined());
}

// DINO's --freeze_last_layer: the prototypes get no gradient in the first
// epochs (the optimizer then skips them), the rest of the head does.
TEST(Dino, FrozenLastLayerTakesNoGradientInItsEpochs) {
  auto [images, labels] = pattern_images(32, 13);
  auto ctx = tiny_context(images, 10);  // a tiny DiT's
  ctx.steps_per_epoch = 4;
  auto cfg = method_config("dino");
  cfg.sections.mut<DinoConfig>().freeze_last_layer = 1;
  torch::manual_seed(0);
  auto model = ctx.make_backbone();
  auto method = make_method(cfg, ctx);
  // The trainer's list, taken once (as its optimizer groups are), before any step.
  const auto params = method->trained_parameters();
  torch::Tensor prototypes;  // the (out_dim, bottleneck) parameter of the student head
  for (const auto& p : params)
    if (p.dim() == 2 && p.size(0) == 32 && p.size(1) == 8) prototypes = p;
  ASSERT_TRUE(prototypes.defined());
  for (int64_t step : {3, 4}) {  // the last step of epoch 0, the first of epoch 1
    for (auto p : params) p.mutable_grad() = torch::Tensor();
    torch::manual_seed(1);
    method->loss(model, torch::arange(16), step).backward();
    EXPECT_EQ(prototypes.grad().defined(), step >= 4) << step;
    int64_t others = 0;
    for (const auto& p : params) others += p.grad().defined() && !p.is_same(prototypes);
    EXPECT_GT(others, 0) << step;
  }
}

// main_dino.py --drop_path_rate: the student's blocks drop paths at rates
// rising to dino.drop_path (set at its first step, also after a resume);
// the teacher, made without, has none.
TEST(Dino, DropPathIsTheStudentsAlone) {
  auto [images, labels] = pattern_images(32, 13);
  auto ctx = tiny_context(images, 10);
  auto cfg = method_config("dino");
  cfg.sections.mut<DinoConfig>().drop_path = 0.4;
  torch::manual_seed(0);
  auto model = ctx.make_backbone();
  auto method = make_method(cfg, ctx);
  EXPECT_TRUE(std::isfinite(method->loss(model, torch::arange(16), 0).item<double>()));
  auto* student = model->as<DiTImpl>();
  ASSERT_NE(student, nullptr);
  const int64_t n = int64_t(student->blocks_->size());
  ASSERT_GT(n, 1);
  EXPECT_EQ(student->blocks_[0]->as<DiTBlockImpl>()->drop_path, 0.0);
  EXPECT_NEAR(student->blocks_[n - 1]->as<DiTBlockImpl>()->drop_path, 0.4, 1e-12);
  DiTImpl* teacher = nullptr;
  for (const auto& m : method->named_modules())
    if (m.key() == "teacher") teacher = m.value()->as<DiTImpl>();
  ASSERT_NE(teacher, nullptr);
  for (const auto& b : *teacher->blocks_) EXPECT_EQ(b->as<DiTBlockImpl>()->drop_path, 0.0);
}

// main_dino.py's local crops at their own size (96 of 224 px): the local
// views reach the tokenizer at dino.local_size and the student reads them
// on their own smaller grid; the teacher sees the global views only.
TEST(Dino, LocalViewsAtTheirOwnSize) {
  auto [images, labels] = pattern_images(32, 13);
  auto ctx = tiny_context(images, 10);
  std::vector<int64_t> sides;
  ctx.encode = [&sides](const torch::Tensor& x) {
    sides.push_back(x.size(2));
    return patches(x);
  };
  auto cfg = method_config("dino");
  cfg.sections.mut<DinoConfig>().local_crops = 3;
  cfg.sections.mut<DinoConfig>().local_size = 8;  // 2 x 2 tokens of the 4 x 4 grid
  cfg.tokenizer.patch = 4;
  torch::manual_seed(0);
  auto model = ctx.make_backbone();
  auto method = make_method(cfg, ctx);
  auto loss = method->loss(model, torch::arange(16), 0);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_EQ(sides, (std::vector<int64_t>{16, 16, 8, 8, 8}));
  loss.backward();
  // Fewer multiply-adds than local views at the global side.
  cfg.sections.mut<DinoConfig>().local_size = 0;
  auto same_side = make_method(cfg, ctx);
  EXPECT_LT(method->train_macs_per_image(*model), same_side->train_macs_per_image(*model));
}

TEST_P(MethodConformance, LossIsFiniteAndTrainsTheEncoderOnly) {
  // One step's loss reaches the encoder (blocks 1..2 of a 3-block DiT read
  // at block 2) and the method's heads; block 3, the DiT's output layers and
  // the momentum networks get no gradient.
  auto [images, labels] = pattern_images(32, 13);
  auto o = tiny_options();
  o.depth = 3;
  torch::manual_seed(0);
  auto model = make_backbone("dit", o);
  auto ctx = tiny_context(images, 10);
  ctx.backbone = o;
  ctx.make_backbone = [o] { return make_backbone("dit", o); };
  auto method = make_method(method_config(GetParam()), ctx);
  ASSERT_TRUE(method);
  torch::manual_seed(1);
  auto loss = method->loss(model, torch::arange(16), 0);
  ASSERT_EQ(loss.dim(), 0);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  loss.backward();
  // (adaLN-Zero: a fresh block's gates are zero, so its first gradient
  // reaches the modulations and the input embedding, not yet qkv or MLP.)
  for (const auto& p : model->named_parameters()) {
    const bool has = p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0;
    if (p.key() == "x_embedder.weight" || p.key() == "blocks.0.adaLN_modulation.weight" ||
        p.key() == "blocks.1.adaLN_modulation.weight")
      EXPECT_TRUE(has) << GetParam() << " " << p.key();
    if (p.key().rfind("blocks.2.", 0) == 0 || p.key().rfind("final", 0) == 0) EXPECT_FALSE(has) << GetParam() << " " << p.key();
  }
  int64_t trained = 0;
  for (const auto& p : method->trained_parameters()) trained += p.grad().defined();
  EXPECT_GT(trained, 0) << GetParam();
  for (const auto& p : method->parameters())
    if (!p.requires_grad()) EXPECT_FALSE(p.grad().defined()) << GetParam();
  EXPECT_GT(method->train_macs_per_image(*model), 0.0) << GetParam();
}

TEST_P(MethodConformance, ResumedRunEqualsUninterruptedRun) {
  // Heads, momentum networks, centre and optimizer come back from the
  // checkpoint: the resumed run ends with the same weights, bit for bit.
  auto [train_img, train_y] = pattern_images(128, 12);
  const RunConfig cfg = method_config(GetParam());
  TrainData td;
  td.z0 = patches(train_img);
  td.labels = train_y;
  auto run = [&](const std::string& ckpt, int64_t max_steps) {
    torch::manual_seed(0);
    auto model = make_backbone("dit", tiny_options());
    Trainer trainer(cfg, model, make_schedule(cfg.noise), torch::kCPU);
    auto ctx = tiny_context(train_img, trainer.total_steps(128));
    ctx.steps_per_epoch = 4;
    trainer.set_method(make_method(cfg, ctx));
    auto r = trainer.train(td, ckpt, nullptr, {}, max_steps);
    return std::make_pair(r, model);
  };
  auto [whole, m1] = run("", 0);
  const std::string ckpt = testing::TempDir() + "/method_resume_" + GetParam() + ".pt";
  std::remove(ckpt.c_str());
  auto [part, m_part] = run(ckpt, 5);
  ASSERT_EQ(part.status, TrainResult::Stopped);
  auto [rest, m2] = run(ckpt, 0);
  ASSERT_EQ(rest.status, TrainResult::Done) << rest.error;
  auto p1 = m1->parameters(), p2 = m2->parameters();
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::equal(p1[i], p2[i])) << "parameter " << i;
  std::remove(ckpt.c_str());
}

// Every registered method but denoise (the trainer's own step, tested in
// tests/core/train), read from the registry.
std::vector<std::string> baseline_methods() {
  std::vector<std::string> out;
  for (const auto& m : method_names())
    if (m != "denoise") out.push_back(m);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Registered, MethodConformance, ::testing::ValuesIn(baseline_methods()),
                         [](const auto& info) { return info.param; });

TEST(Methods, RegistryNamesEveryMethodAndDenoiseIsTheTrainersOwn) {
  // The paper's method and the three baselines of its Table 4 are built in.
  const auto names = method_names();
  for (const char* m : {"denoise", "dino", "mae", "moco_v3"})
    EXPECT_NE(std::find(names.begin(), names.end(), m), names.end()) << m;
  EXPECT_FALSE(make_method(RunConfig{}, MethodContext{}));  // denoise: no method object
  RunConfig bad;
  bad.method.name = "simclr";
  EXPECT_THROW(make_method(bad, MethodContext{}), InputError);
}

TEST(Budget, BackboneCountsMatchTheDiTPaperCount) {
  // The run's count of a full DiT pass is the count bench/flops.hpp checks
  // against the DiT paper's Gflops; fewer tokens and blocks cost less.
  auto o = tiny_options();
  o.t_mlp_ratio = 0.25;
  auto dit = make_backbone("dit", o);
  EXPECT_DOUBLE_EQ(dit->forward_macs(16, 2), dit_forward_macs(o));
  EXPECT_LT(dit->forward_macs(4, 2), dit->forward_macs(16, 2));
  EXPECT_LT(dit->forward_macs(16, 1), dit->forward_macs(16, 2));
  EXPECT_GT(make_backbone("uvit", tiny_options())->forward_macs(16, 3), 0.0);
  // MAE's step at r = 0.75 costs less than MoCo v3's two views with momentum passes.
  auto [images, labels] = pattern_images(64, 1);
  MaeConfig mc;
  mc.decoder_depth = 1, mc.decoder_width = 32;
  MocoConfig kc;
  kc.dim = 16, kc.mlp_dim = 32;
  auto base = make_backbone("dit", tiny_options());
  EXPECT_LT(Mae(mc, tiny_context(images, 1))->train_macs_per_image(*base),
            MocoV3(kc, tiny_context(images, 1))->train_macs_per_image(*base));
}

TEST(Finetune, SmoothedTargetsAndLayerDecayByHand) {
  auto t = smoothed_targets(torch::tensor({2}, torch::kLong), 4, 0.1);  // 0.9 + 0.025 at 2, 0.025 else
  EXPECT_NEAR(t[0][2].item<double>(), 0.925, 1e-6);
  EXPECT_NEAR(t[0][0].item<double>(), 0.025, 1e-6);
  EXPECT_DOUBLE_EQ(layer_lr_scale(-1, 4, 0.75), 1.0);  // the head
  EXPECT_DOUBLE_EQ(layer_lr_scale(4, 4, 0.75), 0.75);
  EXPECT_DOUBLE_EQ(layer_lr_scale(0, 4, 0.75), std::pow(0.75, 5));
}

TEST(Finetune, LearnsSyntheticClassesEndToEnd) {
  auto [train_img, train_y] = pattern_images(512, 20);
  auto [test_img, test_y] = pattern_images(256, 21);
  torch::manual_seed(0);
  auto model = make_backbone("dit", tiny_options());
  FinetuneData fd{image_batches(train_img), image_batches(test_img), train_y, test_y, true, patches, 4};
  EvalConfig ec;
  ec.finetune_epochs = 20, ec.finetune_batch = 32, ec.finetune_lr = 2e-2, ec.finetune_warmup_epochs = 1;
  auto before = model->parameters()[0].clone();
  auto r = finetune(model, 2, 0, 1.0, "mean", fd, ec, false, 0, torch::kCPU);
  EXPECT_GT(r.top1, 80.0);
  EXPECT_EQ(r.curve.size(), 20u);
  EXPECT_FALSE(torch::equal(before, model->parameters()[0]));  // the encoder trained too
  // mixup and cutmix run (soft targets, finite losses) and stay deterministic
  ec.finetune_epochs = 1, ec.finetune_mixup = 0.8, ec.finetune_cutmix = 1.0;
  auto fresh = [] {
    torch::manual_seed(9);
    return make_backbone("dit", tiny_options());
  };
  auto m1 = finetune(fresh(), 2, 0, 1.0, "mean", fd, ec, false, 5, torch::kCPU);
  auto m2 = finetune(fresh(), 2, 0, 1.0, "mean", fd, ec, false, 5, torch::kCPU);
  EXPECT_TRUE(std::isfinite(m1.curve.back()[1]));
  EXPECT_DOUBLE_EQ(m1.curve.back()[1], m2.curve.back()[1]);
  // MAE's RandAugment and random erasing on top: deterministic, and they
  // change what the model sees (another loss)
  ec.finetune_randaug_n = 2, ec.finetune_reprob = 0.25;
  auto a1 = finetune(fresh(), 2, 0, 1.0, "mean", fd, ec, false, 5, torch::kCPU);
  auto a2 = finetune(fresh(), 2, 0, 1.0, "mean", fd, ec, false, 5, torch::kCPU);
  EXPECT_TRUE(std::isfinite(a1.curve.back()[1]));
  EXPECT_DOUBLE_EQ(a1.curve.back()[1], a2.curve.back()[1]);
  EXPECT_NE(a1.curve.back()[1], m1.curve.back()[1]);
  // Those batches made ahead on a second thread train the same model as
  // made inline: every loss and the top-1 equal.
  fd.ahead = 0;
  auto inline_run = finetune(fresh(), 2, 0, 1.0, "mean", fd, ec, false, 5, torch::kCPU);
  fd.ahead = 2;
  auto ahead_run = finetune(fresh(), 2, 0, 1.0, "mean", fd, ec, false, 5, torch::kCPU);
  ASSERT_EQ(inline_run.curve.size(), ahead_run.curve.size());
  for (size_t i = 0; i < inline_run.curve.size(); ++i) EXPECT_EQ(inline_run.curve[i], ahead_run.curve[i]) << i;
  EXPECT_EQ(inline_run.top1, ahead_run.top1);
}

}  // namespace
}  // namespace ldae
