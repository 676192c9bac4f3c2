// Linear probing, MAE practice (main_linprobe.py): frozen encoder in eval
// mode, features average-pooled over tokens, BatchNorm1d without affine +
// Linear (init std 0.01), lr = base_lr x batch / 256, cosine decay, one flat
// record per epoch; top-1 on the test split after the last epoch.
#pragma once
#include <torch/torch.h>

#include <array>
#include <functional>
#include <vector>

#include "core/config/config.hpp"
#include "backbones/backbone.hpp"
#include "core/records/live_log.hpp"
#include "probes/feature_rows.hpp"

namespace ldae {

struct ProbeResult {
  double top1 = 0;                           // % on the test split, last epoch
  double top5 = -1;                          // % top-5 where classes > 5, else -1
  std::vector<std::array<double, 4>> curve;  // (epoch, train_loss, train_acc %, test_acc %)
};

// Encoder features: the backbone's hidden state after feature point
// `blocks` for input latents z0 (N, L, d) at step t: input gamma_t z0
// [+ sigma_t eps if noisy], mapped to image space by V (d, D) when V is
// defined, pooled by `pool` (mean over tokens, or the class token: see
// pool_features). -> (rows, C), computed in batches, eval mode. `rows` = [begin, end)
// of z0 (end -1: to the last), begin a multiple of `batch`: batch k's noise
// comes from (seed, k), so data-parallel ranks computing shards of the rows
// get exactly one process's features. `bf16`: the network under bf16
// autocast on a CUDA device (train.bf16 runs); the CPU always reads it in
// fp32, as recorded results were. Features are float32 either way.
torch::Tensor encoder_features(Backbone& model, const torch::Tensor& z0, const torch::Tensor& V,
                               int64_t blocks, int64_t t, double gamma, double sigma, bool noisy,
                               int64_t batch, torch::Device device, uint64_t seed,
                               std::pair<int64_t, int64_t> rows = {0, -1},
                               const std::string& pool = "mean", bool bf16 = false);
// The same features with the latents made per batch: tokens(lo, hi) ->
// (hi - lo, L, d) for rows [lo, hi) of n (a streamed split, tokenized as it
// is read). forward_rows > 0: each batch goes through the network that many
// rows at a time (its noise still drawn for the whole batch), so memory is
// bounded by forward_rows, not batch (1,024 rows at 256 px with 16 x 16
// patches map to 0.8 GB of image-space input). Equal to the tensor form on
// the same latents (to float rounding when forward_rows splits a batch).
using TokenRows = std::function<torch::Tensor(int64_t, int64_t)>;
torch::Tensor encoder_features(Backbone& model, const TokenRows& tokens, int64_t n, const torch::Tensor& V,
                               int64_t blocks, int64_t t, double gamma, double sigma, bool noisy,
                               int64_t batch, torch::Device device, uint64_t seed,
                               std::pair<int64_t, int64_t> rows, const std::string& pool, bool bf16,
                               int64_t forward_rows = 0);

// The probe's learning rate at `step` of `steps_per_epoch` x cfg.epochs:
// peak = base_lr x batch / 256 (batch capped at the training set); without
// warm-up the half-cycle cosine peak (1 + cos(pi step / total)) / 2; with
// it MAE's util/lr_sched.py per step: peak e / w while the epoch e = step /
// steps_per_epoch (fractional) is below w = warmup_epochs, then
// peak (1 + cos(pi (e - w) / (epochs - w))) / 2.
double probe_lr(const ProbeConfig& cfg, int64_t batch, int64_t step, int64_t steps_per_epoch);

// Features (b, F) of training images idx (b,) as the probe trains on them
// (probe.augment = "rrc_flip": a fresh crop + flip through the frozen
// encoder, on the probe's device); empty: the cached train_x rows.
using TrainView = std::function<torch::Tensor(const torch::Tensor& idx)>;
// The smallest area fraction of probe.augment's crops: torchvision's
// RandomResizedCrop default, which MAE's main_linprobe.py keeps.
constexpr double kProbeCropScale = 0.08;

// Train the probe on (train_x (N, F), train_y (N,)) and evaluate on the test
// split each epoch, on the device the tensors are on (all on one). With a
// train_view its batches come from the view (train_x still gives the
// training accuracy). Optimizer: probe.optimizer (sgd, adamw, lars).
// Deterministic given the seed (the view draws from the seeded generator).
// `live` hears each epoch as ("probe", epoch, {train_loss, train_acc, test_acc}).
ProbeResult linear_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                         const torch::Tensor& test_x, const torch::Tensor& test_y,
                         int64_t classes, const ProbeConfig& cfg, uint64_t seed,
                         std::function<void(const std::string&)> log = {}, const TrainView& train_view = {},
                         const LiveSink& live = {});
// The same probe on rows that may be made on demand (FeatureRows): equal to
// the tensor form on held rows. On rows made on demand (a streamed
// raw-pixel anchor) memory holds a batch and an evaluation block, not the
// split, and each epoch's training accuracy (curve column 2) is that of the
// epoch's batches as they were trained (train mode, before each update)
// rather than a second pass over the training split in eval mode.
ProbeResult linear_probe(const FeatureRows& train_x, const torch::Tensor& train_y, const FeatureRows& test_x,
                         const torch::Tensor& test_y, int64_t classes, const ProbeConfig& cfg, uint64_t seed,
                         std::function<void(const std::string&)> log = {}, const TrainView& train_view = {},
                         const LiveSink& live = {});

}  // namespace ldae
