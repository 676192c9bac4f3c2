// Adding a pre-training method is one file and one registry line: this test
// writes the file (a toy method with its own config section, key, check and
// MethodEntry, as methods/mae.cpp does) and adds the line at run time
// (add_method, the registry line's form), then uses it as a sweep would:
// its key is parsed and checked, enters the run id only away from its
// default, and the method trains the encoder through the shared trainer.
#include <gtest/gtest.h>

#include <algorithm>

#include "backbones/backbone.hpp"
#include "core/base/errors.hpp"
#include "core/config/keys.hpp"
#include "core/diffusion/noise.hpp"
#include "core/train/trainer.hpp"
#include "methods/method.hpp"

namespace ldae {
namespace {

// ---- the one new file ----------------------------------------------------------

struct ToyConfig {
  static constexpr const char* kSection = "toy_method";
  double scale = 1.0;  // weight of the loss
};

// The encoder's pooled features regress each image's mean token through a
// linear head: (b, C) -> (b, d).
class ToyMethodImpl : public MethodImpl {
 public:
  ToyMethodImpl(const ToyConfig& cfg, MethodContext ctx) : MethodImpl(std::move(ctx)), cfg_(cfg) {
    const int64_t d = context().encode(context().read_images(torch::zeros({1}, torch::kLong))).size(2);
    head_ = register_module("head", torch::nn::Linear(context().feature_width, d));
    to(context().device);
  }
  torch::Tensor loss(Backbone& model, const torch::Tensor& idx, int64_t) override {
    const auto tokens = context().encode(context().read_images(idx)).to(context().device);  // (b, L, d)
    const auto pred = head_(pooled(model, tokens));                                                     // (b, d)
    return cfg_.scale * (pred - tokens.mean(1)).pow(2).mean();
  }
  double train_macs_per_image(const BackboneImpl&) const override { return 0; }

 private:
  ToyConfig cfg_;
  torch::nn::Linear head_{nullptr};
};

MethodEntry toy_method() {
  MethodEntry e;
  e.summary = "a toy regression (tests)";
  e.make = [](const RunConfig& c, MethodContext x) {
    return Method(std::make_shared<ToyMethodImpl>(c.sections.get<ToyConfig>(), std::move(x)));
  };
  e.keys = [] { return KeyRows{section_field("toy_method.scale", &ToyConfig::scale, 0, 100)}; };
  e.check = [](const RunConfig& c, const Fail& fail) {
    if (c.sections.get<ToyConfig>().scale == 0)
      fail("toy_method.scale", "a zero scale trains nothing: use a positive scale");
  };
  return e;
}

// ---- the one registry line -----------------------------------------------------

void register_toy_once() {
  static const bool done = [] {
    add_method("toy", toy_method());
    return true;
  }();
  (void)done;
}

Overrides set(const std::string& key, Value v) { return {{key, Setting{std::move(v), Origin{"toy.toml", 3}}}}; }

TEST(ToyMethod, ItsKeyIsUnknownUntilItsLineIsAdded) {
  // (Runs first in this file: gtest keeps a file's order.)
  const auto names = method_names();
  if (std::find(names.begin(), names.end(), "toy") != names.end()) GTEST_SKIP() << "registered by an earlier test";
  RunConfig c;
  EXPECT_THROW(apply_overrides(c, set("toy_method.scale", 2.0)), InputError);
}

TEST(ToyMethod, OneEntryMakesARegisteredMethodWithItsOwnKeys) {
  register_toy_once();
  const auto names = method_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "toy"), names.end());
  const auto keys = config_keys();
  EXPECT_NE(std::find(keys.begin(), keys.end(), "toy_method.scale"), keys.end());
  // A second line with the same name or key is refused.
  EXPECT_THROW(add_method("toy", toy_method()), InputError);

  RunConfig base, c;
  apply_overrides(c, set("method.name", std::string("toy")));
  const std::string at_default = run_id(c);
  apply_overrides(c, set("toy_method.scale", 2.0));
  EXPECT_DOUBLE_EQ(c.sections.get<ToyConfig>().scale, 2.0);
  // A new key enters the id only away from its default, after the frozen
  // keys; and it changes the trained model.
  EXPECT_NE(run_id(c), at_default);
  const std::string text = canonical(c), last = "\ntoy_method.scale = 2.0\n";
  EXPECT_EQ(text.substr(text.size() - last.size()), last);
  EXPECT_NE(training_text(c).find("toy_method.scale = 2.0"), std::string::npos);
  EXPECT_EQ(canonical(base).find("toy_method"), std::string::npos);
  apply_overrides(c, set("toy_method.scale", 1.0));
  EXPECT_EQ(run_id(c), at_default);
  // Its range and its check, with the key named.
  EXPECT_THROW(apply_overrides(c, set("toy_method.scale", 1000.0)), InputError);
  apply_overrides(c, set("toy_method.scale", 0.0));
  try {
    validate(c, "toy.toml:3");
    FAIL() << "a zero scale passed validation";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("toy_method.scale"), std::string::npos) << e.what();
  }
  // The baselines' shared restrictions hold for it too.
  apply_overrides(c, set("toy_method.scale", 1.0));
  apply_overrides(c, set("probe.noisy", true));
  EXPECT_THROW(validate(c, "toy.toml:3"), InputError);
}

TEST(ToyMethod, TrainsTheEncoderThroughTheSharedTrainer) {
  register_toy_once();
  RunConfig cfg;
  cfg.method.name = "toy";
  cfg.model.depth = 2, cfg.model.width = 32, cfg.model.heads = 2;
  cfg.train.batch = 32, cfg.train.epochs = 6, cfg.train.base_lr = 1e-3, cfg.train.checkpoint_every = 1000;
  cfg.train.log_every = 4;
  validate(cfg, "toy");
  // 128 images of 2 x 2 tokens of d = 4: a per-image constant plus noise.
  torch::manual_seed(0);
  const auto level = torch::rand({128, 1, 1});
  const auto images = (level + 0.1 * torch::randn({128, 4, 4})).unsqueeze(1);  // (N, 1, 4, 4)
  auto encode = [](const torch::Tensor& x) {                                     // (b, 1, 4, 4) -> (b, 4, 4)
    return x.reshape({x.size(0), 2, 2, 2, 2}).permute({0, 1, 3, 2, 4}).reshape({x.size(0), 4, 4});
  };
  BackboneOptions o;
  o.grid_h = o.grid_w = 2, o.in_dim = o.out_dim = 4, o.depth = 2, o.width = 32, o.heads = 2, o.split = 1;
  auto model = make_backbone("dit", o);
  Trainer trainer(cfg, model, make_schedule(cfg.noise), torch::kCPU);
  MethodContext ctx;
  ctx.read_images = [images](const torch::Tensor& idx) { return images.index_select(0, idx); };
  ctx.encode = encode;
  ctx.backbone = o;
  ctx.block = 1;
  ctx.feature_width = 32;
  ctx.steps_per_epoch = 4;
  ctx.total_steps = trainer.total_steps(128);
  trainer.set_method(make_method(cfg, ctx));
  TrainData td;
  td.z0 = encode(images);
  td.labels = torch::zeros({128}, torch::kLong);
  const auto res = trainer.train(td, "", nullptr, {});
  ASSERT_EQ(res.status, TrainResult::Done) << res.error;
  EXPECT_EQ(res.steps, 24);
  EXPECT_LT(res.loss_curve.back()[1], res.loss_curve.front()[1]);
}

}  // namespace
}  // namespace ldae
