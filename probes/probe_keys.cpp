#include "probes/probe_keys.hpp"

#include <fmt/core.h>

#include "backbones/backbone.hpp"
#include "core/diffusion/sampler.hpp"

namespace ldae {

std::vector<std::string> probe_names() { return {"linear"}; }

KeyRows probe_keys() {
  return {
      after_training(choice(field("probe.name", &RunConfig::probe, &ProbeConfig::name), probe_names)),
      after_training(choice(field("probe.features", &RunConfig::probe, &ProbeConfig::features), fixed({"encoder", "raw_pixels", "untrained_encoder"}))),
      after_training(field("probe.block", &RunConfig::probe, &ProbeConfig::block, -1, 1000)),
      after_training(field("probe.t", &RunConfig::probe, &ProbeConfig::t, 0, 1e6)),
      after_training(field("probe.noisy", &RunConfig::probe, &ProbeConfig::noisy)),
      after_training(field("probe.epochs", &RunConfig::probe, &ProbeConfig::epochs, 1, 1e5)),
      after_training(field("probe.batch", &RunConfig::probe, &ProbeConfig::batch, 1, 1e7)),
      after_training(choice(field("probe.optimizer", &RunConfig::probe, &ProbeConfig::optimizer), fixed({"sgd", "adamw", "lars"}))),
      after_training(field("probe.base_lr", &RunConfig::probe, &ProbeConfig::base_lr, 0, 100)),
      after_training(field("probe.weight_decay", &RunConfig::probe, &ProbeConfig::weight_decay, 0, 10)),
      after_training(field("probe.warmup_epochs", &RunConfig::probe, &ProbeConfig::warmup_epochs, 0, 1e5)),
      after_training(choice(field("probe.augment", &RunConfig::probe, &ProbeConfig::augment), fixed({"none", "rrc_flip"}))),
      after_training(choice(field("probe.pool", &RunConfig::probe, &ProbeConfig::pool), fixed({"mean", "cls", "cls_mean"}))),
      after_training(field("probe.knn_k", &RunConfig::probe, &ProbeConfig::knn_k, 0, 1e6)),
      after_training(field("probe.knn_t", &RunConfig::probe, &ProbeConfig::knn_t, 1e-4, 100)),
  };
}

KeyRows eval_keys() {
  return {
      after_training(field("eval.fid_samples", &RunConfig::eval, &EvalConfig::fid_samples, 0, 1e7)),
      after_training(choice(field("eval.sampler", &RunConfig::eval, &EvalConfig::sampler), sampler_names)),
      after_training(field("eval.sample_steps", &RunConfig::eval, &EvalConfig::sample_steps, 1, 1e6)),
      after_training(field("eval.fid_net", &RunConfig::eval, &EvalConfig::fid_net)),
      after_training(choice(field("eval.fid_reference", &RunConfig::eval, &EvalConfig::fid_reference), fixed({"test", "train"}))),
      field("eval.classifier_epochs", &RunConfig::eval, &EvalConfig::classifier_epochs, 1, 1e4),
      after_training(field("eval.finetune_epochs", &RunConfig::eval, &EvalConfig::finetune_epochs, 0, 1e5)),
      after_training(field("eval.finetune_batch", &RunConfig::eval, &EvalConfig::finetune_batch, 1, 1e6)),
      after_training(field("eval.finetune_lr", &RunConfig::eval, &EvalConfig::finetune_lr, 0, 10)),
      after_training(field("eval.finetune_layer_decay", &RunConfig::eval, &EvalConfig::finetune_layer_decay, 1e-3, 1)),
      after_training(field("eval.finetune_weight_decay", &RunConfig::eval, &EvalConfig::finetune_weight_decay, 0, 10)),
      after_training(field("eval.finetune_warmup_epochs", &RunConfig::eval, &EvalConfig::finetune_warmup_epochs, 0, 1e5)),
      after_training(field("eval.finetune_label_smoothing", &RunConfig::eval, &EvalConfig::finetune_label_smoothing, 0, 0.99)),
      after_training(field("eval.finetune_mixup", &RunConfig::eval, &EvalConfig::finetune_mixup, 0, 100)),
      after_training(field("eval.finetune_cutmix", &RunConfig::eval, &EvalConfig::finetune_cutmix, 0, 100)),
      after_training(field("eval.finetune_crop_min", &RunConfig::eval, &EvalConfig::finetune_crop_min, 0.01, 1)),
      after_training(field("eval.finetune_min_lr", &RunConfig::eval, &EvalConfig::finetune_min_lr, 0, 10)),
      after_training(field("eval.finetune_drop_path", &RunConfig::eval, &EvalConfig::finetune_drop_path, 0, 0.99)),
      after_training(field("eval.finetune_randaug_n", &RunConfig::eval, &EvalConfig::finetune_randaug_n, 0, 15)),
      after_training(field("eval.finetune_randaug_m", &RunConfig::eval, &EvalConfig::finetune_randaug_m, 0, 10)),
      after_training(field("eval.finetune_randaug_mstd", &RunConfig::eval, &EvalConfig::finetune_randaug_mstd, 0, 10)),
      after_training(field("eval.finetune_reprob", &RunConfig::eval, &EvalConfig::finetune_reprob, 0, 1)),
      after_training(choice(field("eval.finetune_pool", &RunConfig::eval, &EvalConfig::finetune_pool),
                            fixed({"probe", "mean", "cls", "cls_mean"}))),
      not_in_id(field("eval.export_encoder", &RunConfig::eval, &EvalConfig::export_encoder)),
  };
}

void check_probe(const RunConfig& c, const Fail& fail) {
  if (c.eval.finetune_min_lr > c.eval.finetune_lr * c.eval.finetune_batch / 256.0)
    fail("eval.finetune_min_lr", fmt::format("the cosine's floor {} is above the peak lr {} (eval.finetune_lr x "
                                             "eval.finetune_batch / 256): lower it (MAE: 1e-6)",
                                             c.eval.finetune_min_lr, c.eval.finetune_lr * c.eval.finetune_batch / 256.0));
  if (c.eval.finetune_drop_path > 0 && c.model.name != "dit")
    fail("eval.finetune_drop_path", fmt::format("stochastic depth is written for the dit backbone only, not {}; "
                                                "set eval.finetune_drop_path = 0", c.model.name));
  if (c.eval.fid_samples == 1)
    fail("eval.fid_samples", "FID fits a Gaussian (mean and covariance) to the samples: it needs at "
                             "least 2; use eval.fid_samples >= 2 (0 turns generation off)");
  const BackboneOptions bo = backbone_options(c);
  const int64_t points = backbone_blocks(c.model.name, bo);
  if (c.probe.block > points)
    fail("probe.block", fmt::format("block {} is past the last feature point, {}, of {} (depth {}; points 0..{}); "
                                    "run_sweep --list names them", c.probe.block, points, c.model.name, bo.depth,
                                    points));
  if ((c.probe.pool == "cls" || c.probe.pool == "cls_mean") && !c.model.cls_token)
    fail("probe.pool", "\"" + c.probe.pool + "\" reads the class token: set model.cls_token = true (dit, uvit) "
                       "or keep probe.pool = \"mean\"");
  if ((c.eval.finetune_pool == "cls" || c.eval.finetune_pool == "cls_mean") && !c.model.cls_token)
    fail("eval.finetune_pool", "\"" + c.eval.finetune_pool + "\" fine-tunes on the class token: set model.cls_token = true (dit, uvit) "
                               "or use \"mean\" (or \"probe\": as probe.pool)");
  if (c.probe.warmup_epochs >= c.probe.epochs && c.probe.warmup_epochs > 0)
    fail("probe.warmup_epochs", fmt::format("{} warm-up epochs leave none of the {} probe epochs for the cosine "
                                            "decay; lower it below probe.epochs", c.probe.warmup_epochs,
                                            c.probe.epochs));
  if (c.probe.t > c.noise.T)
    fail("probe.t", fmt::format("t = {} exceeds noise.T = {}", c.probe.t, c.noise.T));
  const int train_images = c.data.name == "synthetic" ? c.data.synthetic_train : c.data.subset;
  if (train_images > 0 && c.probe.knn_k > train_images)
    fail("probe.knn_k", fmt::format("k = {} neighbours exceeds the {} training images; lower it "
                                    "(0 turns the kNN probe off)", c.probe.knn_k, train_images));
}

}  // namespace ldae
