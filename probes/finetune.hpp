// End-to-end fine-tuning, MAE's recipe (He et al. 2022, App. A.2,
// main_finetune.py) scaled down: the pre-trained encoder (the backbone up to
// the probe's feature point, read at the probe's t with clean input, pooled
// as the probe pools) plus a LayerNorm and a linear head (init std 2e-5),
// trained together with AdamW (betas 0.9, 0.999; weight decay
// eval.finetune_weight_decay, none on biases, norms, positions and the class
// token), lr = eval.finetune_lr x batch / 256 with layer-wise decay (a
// parameter of feature point i gets lr x decay^(n + 1 - i), the head lr;
// BEiT / MAE), per-step linear warm-up and half-cycle cosine, label
// smoothing; each image a random resized crop (eval.finetune_crop_min..1;
// MAE's 0.08 is harsh on 28-px images, so the default is 0.2) and flip, then
// optionally RandAugment (core/data/rand_augment.hpp) and random erasing
// (core/data/random_erasing.hpp), then mixup / cutmix on the batch; drop
// path is the backbone's (set before the call). With RandAugment or random
// erasing on, the batches are made by probes/finetune_batches.hpp (each
// step's draws its own, ahead on a thread per FinetuneData::ahead). No model EMA (MAE uses
// none). Top-1 on the test split after the last epoch.
#pragma once
#include <torch/torch.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "backbones/backbone.hpp"
#include "core/config/config.hpp"
#include "core/data/image_source.hpp"
#include "core/records/live_log.hpp"

namespace ldae {

struct FinetuneData {
  ImageBatches train, test;   // float images, read per batch (resident or streamed)
  torch::Tensor train_y, test_y;  // (N,) int64
  bool normalized = true;                              // images in [-1, 1] (else [0, 1])
  // images (b, C, H, W) host -> the backbone's input tokens (b, L, in) host
  // (the tokenizer, then the objective's map to image space when it has one)
  std::function<torch::Tensor(const torch::Tensor&)> tokens;
  int64_t classes = 10;
  // With RandAugment or random erasing on: batches made this many steps
  // ahead on a background thread (0: inline; -1: 2 on a GPU or when the
  // run's threads are at most half the cores, else 0). The batches are the
  // same either way (probes/finetune_batches.hpp).
  int ahead = -1;
};

struct FinetuneResult {
  double top1 = -1;
  std::vector<std::array<double, 4>> curve;  // (epoch, train_loss, train_acc %, test_acc % or -1)
};

// Fine-tune `model` (changed in place: pass a copy) through feature point
// `block` read at time t with input scale gamma (the denoiser's gamma_t; 1
// for the baselines). Deterministic given the seed. InputError when there
// is nothing to train. `live` hears each epoch's end as ("finetune", step,
// {epoch, train_loss, train_acc, lr}).
FinetuneResult finetune(Backbone model, int64_t block, int64_t t, double gamma, const std::string& pool,
                        const FinetuneData& data, const EvalConfig& cfg, bool bf16, uint64_t seed,
                        torch::Device device, const std::function<void(const std::string&)>& log = {},
                        const LiveSink& live = {});

// Soft targets (b, K) of labels y (b,) with label smoothing eps:
// (1 - eps) one_hot + eps / K.
torch::Tensor smoothed_targets(const torch::Tensor& y, int64_t classes, double eps);
// The layer-wise lr scale of a parameter of layer id `layer` (0 = the
// embeddings, 1..n the feature points, -1 or n + 1 the head): decay^(n + 1 - layer).
double layer_lr_scale(int64_t layer, int64_t n, double decay);

}  // namespace ldae
