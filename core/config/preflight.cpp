#include "core/config/preflight.hpp"

#include <filesystem>

#include <fmt/core.h>

#include <algorithm>

#include "core/base/errors.hpp"
#include "core/config/keys.hpp"

namespace ldae {

int64_t pretrain_steps(const RunConfig& cfg, int64_t n_train) {
  return int64_t(cfg.train.epochs) * std::max<int64_t>(1, n_train / cfg.train.batch);
}

namespace {

// Pre-training too short to move the encoder, or a warm-up covering it all.
void pretrain_warnings(const RunConfig& cfg, DataSize n, const std::string& where, std::vector<std::string>& warnings) {
  const int64_t spe = std::max<int64_t>(1, n.train / cfg.train.batch), steps = pretrain_steps(cfg, n.train);
  const int64_t warm = int64_t(cfg.train.warmup_epochs * double(spe));
  const std::string anchor = "compare with an untrained-encoder row (probe.features = \"untrained_encoder\")";
  if (steps < kFewSteps)
    warnings.push_back(fmt::format(
        "{}: pre-training is only {} optimizer steps (train.epochs = {} x {} images / train.batch = {}), "
        "peak lr {:.3g}: too few to move the encoder far from its initialization, so the probe may "
        "read a nearly random encoder; raise train.epochs or train.base_lr, and {}",
        where, steps, cfg.train.epochs, n.train, cfg.train.batch, cfg.train.base_lr * cfg.train.batch / 256.0,
        anchor));
  else if (warm >= steps)
    warnings.push_back(fmt::format(
        "{}: the warm-up (train.warmup_epochs = {} = {} steps) covers the whole run of {} steps: the "
        "learning rate never reaches its peak; lower train.warmup_epochs",
        where, cfg.train.warmup_epochs, warm, steps));
}

// The same two for fine-tuning (its own loop, lr schedule and warm-up).
void finetune_warnings(const RunConfig& cfg, DataSize n, const std::string& where, std::vector<std::string>& warnings) {
  const double spe = double(std::max<int64_t>(1, n.train / cfg.eval.finetune_batch));
  const auto steps = int64_t(cfg.eval.finetune_epochs * spe), warm = int64_t(cfg.eval.finetune_warmup_epochs * spe);
  if (warm >= steps)
    warnings.push_back(fmt::format(
        "{}: fine-tuning's warm-up (eval.finetune_warmup_epochs = {:g} = {} steps) covers all of its {} steps "
        "(eval.finetune_epochs = {:g}): the learning rate never reaches its peak and the head barely trains; "
        "lower eval.finetune_warmup_epochs or raise eval.finetune_epochs",
        where, cfg.eval.finetune_warmup_epochs, warm, steps, cfg.eval.finetune_epochs));
  else if (steps < kFewSteps)
    warnings.push_back(fmt::format(
        "{}: fine-tuning is only {} optimizer steps (eval.finetune_epochs = {:g} x {} images / "
        "eval.finetune_batch = {}): too few to adapt the encoder; its accuracy may read below the linear probe's",
        where, steps, cfg.eval.finetune_epochs, n.train, cfg.eval.finetune_batch));
}

// The other training loops of a run, each too short to learn from: the
// linear probe (its warm-up covering it all is an error of its keys), a
// learned tokenizer's fitting and the harness's classifier (FID, a
// perceptual loss, REPA's classifier target; 128 images a step), the last
// two only where the row encodes (not a raw-pixel row).
void other_loop_warnings(const RunConfig& cfg, DataSize n, const std::string& where,
                         std::vector<std::string>& warnings) {
  if (cfg.probe.name == "linear") {
    const int64_t batch = std::min<int64_t>(cfg.probe.batch, std::max<int64_t>(1, n.train));
    const int64_t steps = int64_t(cfg.probe.epochs) * std::max<int64_t>(1, n.train / batch);
    if (steps < kFewSteps)
      warnings.push_back(fmt::format(
          "{}: the linear probe is only {} optimizer steps (probe.epochs = {} x {} images / probe.batch = {}): "
          "too few to fit its head, so its top-1 reads below what the features hold; raise probe.epochs",
          where, steps, cfg.probe.epochs, n.train, batch));
  }
  // A raw-pixel row fits no tokenizer and trains no classifier (it
  // generates nothing): its probe reads the pixels.
  if (cfg.probe.features == "raw_pixels") return;
  const bool learned_tokenizer = cfg.tokenizer.name != "pixel" && cfg.tokenizer.name != "patch_pca";
  if (learned_tokenizer && cfg.tokenizer.steps < kFewSteps)
    warnings.push_back(fmt::format(
        "{}: the {} tokenizer is fitted in only {} steps (tokenizer.steps): too few to learn a latent space, so "
        "every run on it reads a nearly random tokenizer; raise tokenizer.steps (default 1500)",
        where, cfg.tokenizer.name, cfg.tokenizer.steps));
  const bool classifier = (cfg.eval.fid_samples > 0 && cfg.eval.fid_net == "classifier") ||
                          (cfg.tokenizer.perceptual_weight > 0 && cfg.tokenizer.perceptual_net == "classifier") ||
                          (cfg.objective.align_weight > 0 && cfg.objective.align_target == "classifier");
  const int64_t cls_steps = int64_t(cfg.eval.classifier_epochs) * std::max<int64_t>(1, n.train / 128);
  if (classifier && cls_steps < kFewSteps)
    warnings.push_back(fmt::format(
        "{}: the harness's classifier (its features for FID, a perceptual loss or REPA's target) trains only {} "
        "steps (eval.classifier_epochs = {} x {} images / 128): its features are nearly random; raise "
        "eval.classifier_epochs",
        where, cls_steps, cfg.eval.classifier_epochs, n.train));
}

}  // namespace

std::vector<std::string> check_against_data(const RunConfig& cfg, DataSize n, const std::string& where) {
  auto fail = [&](const std::string& key, const std::string& what) {
    throw InputError(where + ": key '" + key + "': " + what);
  };
  const bool pretrains = cfg.probe.features == "encoder";
  if (pretrains && cfg.train.batch > n.train)
    fail("train.batch", fmt::format("a batch of {} exceeds the {} training images; use train.batch "
                                    "<= {} (or more data: data.subset)", cfg.train.batch, n.train, n.train));
  if (cfg.eval.finetune_epochs > 0 && cfg.probe.features != "raw_pixels" && cfg.eval.finetune_batch > n.train)
    fail("eval.finetune_batch", fmt::format("a fine-tuning batch of {} exceeds the {} training images; use "
                                            "eval.finetune_batch <= {}", cfg.eval.finetune_batch, n.train, n.train));
  if (cfg.probe.knn_k > n.train)
    fail("probe.knn_k", fmt::format("k = {} neighbours exceeds the {} training images; use probe.knn_k "
                                    "<= {} (0 turns the kNN probe off)", cfg.probe.knn_k, n.train, n.train));
  const auto [generated, reference_n] = cfg.eval.fid_counts(n.train, n.test);
  if (cfg.eval.fid_samples > 0 && std::min(generated, reference_n) < 2)
    fail("eval.fid_samples", fmt::format("FID compares two Gaussians fitted to {} samples and {} {} "
                                         "images; it needs at least 2 of each: use eval.fid_samples "
                                         ">= 2 (0 turns generation off)", cfg.eval.fid_samples, reference_n,
                                         cfg.eval.fid_reference == "train" ? "training" : "test"));
  std::vector<std::string> warnings;
  if (pretrains) pretrain_warnings(cfg, n, where, warnings);
  if (cfg.eval.finetune_epochs > 0 && cfg.probe.features != "raw_pixels") finetune_warnings(cfg, n, where, warnings);
  other_loop_warnings(cfg, n, where, warnings);
  // A key that changes the id but nothing the run computes.
  if (pretrains && cfg.train.fused_kernels && cfg.model.name != "dit")
    warnings.push_back(fmt::format(
        "{}: train.fused_kernels = true has fused kernels for the dit backbone only; {} runs LibTorch's ops "
        "as without it (the key still enters the run id); set it only on dit rows",
        where, cfg.model.name));
  // A raw-pixel row reads pixels, not tokens: a pool other than the mean
  // changes its id and nothing it computes.
  if (cfg.probe.features == "raw_pixels" && cfg.probe.pool != "mean")
    warnings.push_back(fmt::format(
        "{}: probe.pool = \"{}\" has no effect on raw pixels (the probe reads the image's pixels; the key still "
        "enters the run id); leave it at \"mean\" on raw-pixel rows",
        where, cfg.probe.pool));
  // A learned variance that generation never samples with (DDIM reads eps
  // only); without generation it still shapes training through the VLB term.
  if (pretrains && cfg.objective.learn_sigma && cfg.eval.fid_samples > 0 && cfg.eval.sampler == "ddim")
    warnings.push_back(fmt::format(
        "{}: objective.learn_sigma = true learns a variance that eval.sampler = \"ddim\" does not use (DDIM reads "
        "only eps; DiT samples with \"ddpm\"); its VLB term still trains the model",
        where));
  return warnings;
}

void check_network_files(const RunConfig& cfg, const std::string& where) {
  auto need = [&](bool used, const std::string& key, const std::string& path, const char* builtin) {
    if (!used || path == builtin || path == "classifier" || std::filesystem::exists(path)) return;
    throw InputError(fmt::format("{}: key '{}': \"{}\" is not there (a TorchScript file, from the "
                                 "working directory); use \"classifier\"{}, or write one: python "
                                 "tools/target_net.py random_cnn {} (or export your own encoder with "
                                 "torch.jit.script)", where, key, path, builtin[0] ? fmt::format(" or \"{}\"", builtin) : "",
                                 path));
  };
  need(cfg.tokenizer.perceptual_weight > 0, "tokenizer.perceptual_net", cfg.tokenizer.perceptual_net, "");
  need(cfg.eval.fid_samples > 0, "eval.fid_net", cfg.eval.fid_net, "");
  need(cfg.objective.align_weight > 0, "objective.align_target", cfg.objective.align_target, "ema");
}


bool runs_finetuning(const RunConfig& cfg) {
  return cfg.eval.finetune_epochs > 0 && cfg.probe.features != "raw_pixels";
}

std::vector<std::string> keys_set_away(const RunConfig& cfg, const std::vector<std::string>& prefixes) {
  static const RunConfig defaults;
  std::vector<std::string> keys;
  for (const KeyRow* r : key_rows())
    for (const auto& p : prefixes)
      if (r->key.rfind(p, 0) == 0 && r->get(cfg) != r->get(defaults)) {
        keys.push_back(r->key);
        break;
      }
  return keys;
}

}  // namespace ldae
