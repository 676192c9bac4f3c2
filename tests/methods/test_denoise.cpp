// The denoising step with DiT's learned variance (objective.learn_sigma):
// loss = eps MSE + the VLB term with the eps estimate frozen, so the eps half
// of the output learns exactly what it learns without the variance, and the
// variance half learns from the VLB alone (DiT's gaussian_diffusion.py,
// training_losses: frozen_out = cat(model_output.detach(), var_values)).
#include <gtest/gtest.h>

#include <map>

#include "backbones/backbone.hpp"
#include "core/data/train_data.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"
#include "methods/denoise.hpp"
#include "tests/core/train/tiny_training.hpp"

using namespace ldae;

namespace {
Backbone tiny_dit(int64_t out_dim) {
  BackboneOptions o;
  o.in_dim = 3, o.out_dim = out_dim, o.grid_h = 4, o.grid_w = 4;
  o.depth = 2, o.width = 32, o.heads = 2;
  return make_backbone("dit", o);
}

// Gradients of one step's loss on the same batch and draws (seeded).
std::map<std::string, torch::Tensor> grads_of(const RunConfig& cfg, Backbone& model, const TrainData& data) {
  const Objective obj = make_objective(cfg.objective);
  const Schedule sch = make_schedule(cfg.noise);
  DenoiseStep step(cfg, obj, sch, data, torch::kCPU, 0, 1, nullptr);
  model->zero_grad();
  torch::manual_seed(21);
  const auto idx = torch::arange(16, torch::kLong);
  step.loss(model, idx, idx).backward();
  std::map<std::string, torch::Tensor> g;
  for (const auto& p : model->named_parameters())
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().clone();
  return g;
}
}  // namespace

TEST(Denoise, TheLearnedVarianceLearnsFromTheVlbAndEpsOnlyFromItsMse) {
  auto cfg = tiny_training_config();
  cfg.objective.target = "eps", cfg.objective.input_scaling = true, cfg.noise.schedule = "ddpm_linear";
  const auto data = tiny_training_data();  // d = 3
  torch::manual_seed(1);
  auto with = tiny_dit(6), without = tiny_dit(3);
  // The same trunk; the final layer is zero in both (adaLN-Zero), so its
  // gradients are the loss's through the output alone.
  {
    torch::NoGradGuard no_grad;
    auto params = without->named_parameters();
    for (const auto& p : with->named_parameters())
      if (params.contains(p.key()) && params[p.key()].sizes() == p.value().sizes()) params[p.key()].copy_(p.value());
  }
  cfg.objective.learn_sigma = true;
  const auto g_with = grads_of(cfg, with, data);
  cfg.objective.learn_sigma = false;
  const auto g_without = grads_of(cfg, without, data);
  const auto& w = g_with.at("final_linear.weight");     // (6, W): rows 0-2 eps, 3-5 v
  const auto& w0 = g_without.at("final_linear.weight");  // (3, W)
  EXPECT_TRUE(torch::allclose(w.slice(0, 0, 3), w0, 1e-6, 1e-7)) << "the VLB reached the eps half";
  EXPECT_TRUE(torch::allclose(g_with.at("final_linear.bias").slice(0, 0, 3), g_without.at("final_linear.bias"), 1e-6,
                              1e-7));
  EXPECT_GT(w.slice(0, 3, 6).abs().max().item<double>(), 0.0) << "the variance half did not learn";
}
