// Representation alignment (REPA, core/diffusion/alignment.hpp): the loss against its
// formula (negative cosine similarity averaged over tokens, a target map
// pooled to the tapped grid, a vector target for every token), the tap reads
// the denoising pass's own state, and training with alignment: the projector
// and the EMA teacher train, a resumed run equals an uninterrupted one, and
// the alignment term falls.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/diffusion/alignment.hpp"
#include "core/base/errors.hpp"
#include "core/base/filesystem.hpp"
#include "core/train/trainer.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/train/tiny_training.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {

BackboneOptions opts(const std::string& name) {
  BackboneOptions o;
  o.in_dim = 3, o.out_dim = 8, o.grid_h = 4, o.grid_w = 4;
  o.depth = 2, o.width = 32, o.heads = 2;
  (void)name;
  return o;
}

RunConfig cfg_for(const std::string& backbone) {
  RunConfig c = tiny_training_config();
  c.model.name = backbone;
  c.objective.align_weight = 0.5;
  c.objective.align_block = 1;
  return c;
}

TrainData data() { return tiny_training_data(); }

// A fixed network target: the image's first two channels, sign-flipped.
class FixedNet : public FeatureNet {
 public:
  std::vector<torch::Tensor> layers(const torch::Tensor& x) override { return {-x.slice(1, 0, 2)}; }
  torch::Tensor pooled(const torch::Tensor& x) override { return layers(x)[0].mean({2, 3}); }
  std::string describe() const override { return "fixed"; }
};

// A network for colour images: its convolution fails on grey ones.
class RgbNet : public FeatureNet {
 public:
  std::vector<torch::Tensor> layers(const torch::Tensor& x) override { return {conv_->forward(x)}; }
  torch::Tensor pooled(const torch::Tensor& x) override { return layers(x)[0].mean({2, 3}); }
  std::string describe() const override { return "rgb"; }

 private:
  torch::nn::Conv2d conv_{torch::nn::Conv2dOptions(3, 4, 3)};
};

// A ViT-like target: (B, N, F) tokens, N = `tokens`.
class TokenNet : public FeatureNet {
 public:
  explicit TokenNet(int64_t tokens) : n_(tokens) {}
  std::vector<torch::Tensor> layers(const torch::Tensor& x) override { return {pooled(x)}; }
  torch::Tensor pooled(const torch::Tensor& x) override { return torch::ones({x.size(0), n_, 5}); }
  std::string describe() const override { return "tokens"; }

 private:
  int64_t n_;
};

}  // namespace

// Token-shaped targets become maps (a class token dropped); shapes the
// loss cannot use are input errors naming the network, not internal ones.
TEST(Alignment, TokenTargetsAreMapsAndOtherShapesAreInputErrors) {
  auto images = torch::zeros({4, 1, 8, 8});
  for (int64_t n : {16, 17}) {
    Alignment a(1, 32, std::make_shared<TokenNet>(n), images);
    auto y = a.target(torch::arange(2), {}, torch::kCPU);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 4, 4})) << n;
    EXPECT_EQ(a.projector()->fc3->weight.size(0), 5);
  }
  try {
    Alignment(1, 32, std::make_shared<TokenNet>(7), images);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("objective.align_target: tokens returns 7 tokens"), std::string::npos) << e.what();
  }
  // a network for other images (3 channels against 1) is named before training
  EXPECT_THROW(Alignment(1, 32, std::make_shared<RgbNet>(), images), InputError);
}

TEST(Alignment, LossIsMinusTheMeanCosineOverTokens) {
  // Tokens on a 2 x 1 grid; targets a (B=1, F=2, 2, 1) map.
  auto p = torch::tensor({{{1.0f, 0.0f}, {1.0f, 1.0f}}});       // (1, 2, 2)
  auto y = torch::tensor({{{{2.0f}, {0.0f}}, {{0.0f}, {3.0f}}}}); // (1, 2, 2, 1): token 0 (2, 0), token 1 (0, 3)
  // cos(p0, y0) = 1; cos(p1, y1) = 1/sqrt(2)
  EXPECT_NEAR(alignment_loss(p, y, {2, 1}).item<double>(), -(1.0 + 1.0 / std::sqrt(2.0)) / 2, 1e-6);
  // a (B, F) vector is every token's target: cos((1,0),(1,1)) and cos((1,1),(1,1))
  auto v = torch::tensor({{1.0f, 1.0f}});
  EXPECT_NEAR(alignment_loss(p, v, {2, 1}).item<double>(), -(1.0 / std::sqrt(2.0) + 1.0) / 2, 1e-6);
  // a 4 x 2 map is average-pooled to the 2 x 1 grid
  auto big = torch::zeros({1, 2, 4, 2});
  big.index_put_({0, 0, torch::indexing::Slice(0, 2)}, 2.0);  // top half: (2, 0)
  big.index_put_({0, 1, torch::indexing::Slice(2, 4)}, 5.0);  // bottom half: (0, 5)
  EXPECT_NEAR(alignment_loss(p, big, {2, 1}).item<double>(), -(1.0 + 1.0 / std::sqrt(2.0)) / 2, 1e-6);
  // scale-free: the target's length does not matter
  EXPECT_NEAR(alignment_loss(p, y * 7, {2, 1}).item<double>(), alignment_loss(p, y, {2, 1}).item<double>(), 1e-6);
}

TEST(Alignment, TapKeepsTheDenoisingPassState) {
  for (const std::string name : {"dit", "uvit", "unet"}) {
    torch::manual_seed(0);
    auto m = make_backbone(name, opts(name));
    m->eval();
    auto x = torch::randn({2, 16, 3}), t = torch::full({2}, 5.0f);
    for (int64_t b : {int64_t(1), m->blocks()}) {
      m->tap(b);
      m->forward(x, t);
      ASSERT_TRUE(m->tapped().defined()) << name << " block " << b;
      EXPECT_TRUE(torch::allclose(m->tapped(), m->features(x, t, b), 1e-5, 1e-6)) << name << " block " << b;
      const auto [h, w] = m->tapped_grid();
      EXPECT_EQ(h * w, m->tapped().size(1)) << name;
    }
    m->tap(-1);
    m->forward(x, t);
    EXPECT_FALSE(m->tapped().defined());
  }
}

TEST(Alignment, EmaTeacherTrainsAsTheEmaAndResumesExactly) {
  torch::set_num_threads(1);
  for (const std::string name : {"dit", "unet"}) {
    auto cfg = cfg_for(name);
    auto d = data();
    auto make = [&] {
      torch::manual_seed(11);
      auto m = make_backbone(name, opts(name));
      auto teacher = make_backbone(name, opts(name));
      Trainer tr(cfg, m, make_schedule(cfg.noise), torch::kCPU);
      auto al = std::make_shared<Alignment>(1, m->feature_width(1), teacher);
      tr.set_alignment(al);
      return std::make_pair(std::make_shared<Trainer>(std::move(tr)), al);
    };
    auto [straight, al] = make();
    auto proj0 = al->projector()->fc1->weight.clone();
    ASSERT_EQ(straight->train(d, "", nullptr, {}).status, TrainResult::Done);
    EXPECT_FALSE(torch::equal(proj0, al->projector()->fc1->weight)) << name << ": the projector trains";
    // The teacher's parameters are the EMA: use_ema copies exactly them.
    auto teacher = al->teacher()->parameters();
    straight->use_ema();
    auto model = straight->model()->parameters();
    for (size_t k = 0; k < model.size(); ++k) EXPECT_TRUE(torch::equal(model[k], teacher[k])) << name << " " << k;

    auto ckpt = test::temp_dir(fmt::format("align-{}", name)) + "/last.pt";
    remove_tree(fs::path(ckpt).parent_path());
    {
      auto [first, al1] = make();
      ASSERT_EQ(first->train(d, ckpt, nullptr, {}, 5).status, TrainResult::Stopped);
    }
    auto [second, al2] = make();
    ASSERT_EQ(second->train(d, ckpt, nullptr, {}).status, TrainResult::Done);
    second->use_ema();
    auto b = second->model()->parameters();
    for (size_t k = 0; k < model.size(); ++k) EXPECT_TRUE(torch::equal(model[k], b[k])) << name << " resumed " << k;
    EXPECT_TRUE(torch::equal(al->projector()->fc3->weight, al2->projector()->fc3->weight)) << name;
    remove_tree(fs::path(ckpt).parent_path());
  }
}

TEST(Alignment, NetworkTargetIsLearned) {
  // With only the alignment loss to speak of (weight 50), the projected
  // state of block 1 aligns with a fixed network's map of the image.
  torch::set_num_threads(1);
  auto cfg = cfg_for("dit");
  cfg.objective.align_weight = 50;
  cfg.train.epochs = 30;
  cfg.train.base_lr = 0.02;  // lr 1.25e-3 at batch 16
  auto d = data();
  // "images": the network's clean input, its values per token as channels of
  // the 4 x 4 token grid, so every token's target is a function of its input
  const auto input = network_input(make_objective(cfg.objective), d.z0, d.V);  // (64, 16, 3)
  auto images = input.transpose(1, 2).reshape({64, input.size(2), 4, 4}).contiguous();
  torch::manual_seed(11);
  auto m = make_backbone("dit", opts("dit"));
  auto al = std::make_shared<Alignment>(1, 32, std::make_shared<FixedNet>(), images);
  auto measure = [&] {
    torch::NoGradGuard ng;
    m->tap(1);
    m->forward(input, torch::ones({64}));
    auto l = al->loss(m, al->target(torch::arange(64), {}, torch::kCPU)).item<double>();
    m->tap(-1);
    return l;
  };
  const double before = measure();
  Trainer tr(cfg, m, make_schedule(cfg.noise), torch::kCPU);
  tr.set_alignment(al);
  ASSERT_EQ(tr.train(d, "", nullptr, {}).status, TrainResult::Done);
  const double after = measure();
  EXPECT_LT(after, before - 0.5) << "before " << before << ", after " << after;
  EXPECT_LT(after, -0.8);
}
