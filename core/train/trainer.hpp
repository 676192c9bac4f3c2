// Pre-training of the denoiser: AdamW, linear warm-up + half-cycle cosine,
// lr = base_lr x batch / 256, optional EMA and gradient clipping, optional
// bf16 autocast. Atomic checkpoints every N steps and on a stop request;
// resume restores model, optimizer, EMA, step and loss curve. Randomness is
// reseeded from (seed, step) at every step, so a resumed run draws exactly
// the numbers an uninterrupted one would.
#pragma once
#include <torch/torch.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "core/diffusion/alignment.hpp"
#include "core/base/named_tensors.hpp"
#include "core/base/seeds.hpp"
#include "core/config/config.hpp"
#include "core/data/train_data.hpp"
#include "core/nn/distributed.hpp"
#include "core/records/live_log.hpp"
#include "core/train/fused_adamw.hpp"
#include "backbones/backbone.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"
#include "methods/method.hpp"

namespace ldae {

class DenoiseStep;
class GraphStep;

// What train() says through its log when it replays a recording kept from an
// earlier call (Trainer::keep_recorded_step): every step of the call replayed.
inline constexpr const char* kReplayingAKeptRecording =
    "train.cuda_graph: replaying the step recorded in an earlier call";

// Bytes of the tensors' storage (e.g. a model's parameters): the size of a
// saved copy, for the free-space check before a checkpoint is written.
inline uint64_t parameter_bytes(const std::vector<torch::Tensor>& params) {
  uint64_t n = 0;
  for (const auto& p : params) n += uint64_t(p.numel()) * uint64_t(p.element_size());
  return n;
}

// Save a LibTorch archive to `path` all or nothing (core/base/atomic_file.hpp).
// The archive is serialised in memory first: LibTorch's file writer throws
// from its destructor when the disk fills (std::terminate, SIGABRT); memory
// does not fill that way, and the bytes then go through the checked write.
// Errors as write_file_atomically (InputError, exit 2, on a full disk).
void write_archive_atomically(const std::string& path, torch::serialize::OutputArchive& ar,
                              uint64_t expected_bytes);

struct TrainResult {
  enum Status { Done, Failed, Stopped } status = Done;
  std::string error;
  int64_t steps = 0;
  std::vector<std::array<double, 3>> loss_curve;  // (step, loss, lr) every log_every steps
  double seconds = 0;        // this process's training time
  double total_seconds = 0;  // with the time before a resume (kept in the checkpoint)
};

class Trainer {
 public:
  Trainer(const RunConfig& cfg, Backbone model, Schedule schedule, torch::Device device);
  int64_t total_steps(int64_t n_train) const;
  double lr_at(int64_t step, int64_t total, int64_t steps_per_epoch) const;
  // Weight decay of the decayed groups at `step` of `total`: train.weight_decay,
  // or with train.weight_decay_end >= 0 DINO's cosine from one to the other.
  double weight_decay_at(int64_t step, int64_t total) const;
  // The optimizer (its groups' options: what tests read).
  const torch::optim::Optimizer& optimizer() const { return *opt_; }
  // Train to the end (or until `stop` or max_steps > 0 steps). `ckpt` is the
  // checkpoint path ("" = none); an existing one is resumed.
  TrainResult train(const TrainData& data, const std::string& ckpt, const std::atomic<bool>* stop,
                    std::function<void(const std::string&)> log, int64_t max_steps = 0);
  // Data parallel: each of the communicator's processes trains on its slice
  // of every global batch (train.batch / world), with the noise a single
  // process would draw for those samples, and gradients are averaged; so the
  // loss curve is the single process's up to float rounding. Only rank 0
  // writes checkpoints.
  void set_communicator(std::shared_ptr<Communicator> comm) { comm_ = std::move(comm); }
  // Representation alignment (core/diffusion/alignment.hpp): its projector trains with
  // the model (same optimizer, checkpoints, data-parallel reduction); an EMA
  // teacher's parameters become the model's EMA (needs train.ema > 0).
  void set_alignment(std::shared_ptr<Alignment> align);
  // A baseline pre-training method (methods/method.hpp) in place of the
  // denoising step: its loss, its heads in the optimizer and checkpoints,
  // its momentum networks updated after each step. Call after
  // set_communicator (the method gathers over it).
  void set_method(Method method);
  // The live log (core/records/live_log.hpp): rank 0 tells it every logged
  // step as ("train", step, {loss, lr, images_per_s}).
  void set_live(LiveSink live) { live_ = std::move(live); }
  // Swap EMA weights into the model (no-op without EMA).
  void use_ema();
  // train.cuda_graph over several train() calls (bench_train times replays
  // so): with keep, the step one call recorded is replayed by the next calls
  // from their first step (no eager steps, no new recording) while they
  // train on the same TrainData object, alive and unchanged, with the same
  // batch; another one, a checkpoint loaded, or a communicator, alignment or
  // method set since drops it and the call records its own. Between calls
  // the caller's stream is current and the graph's pool (about one step's
  // activations) stays held. Off by default, so a run's probe gets that
  // memory back when training ends.
  void keep_recorded_step(bool keep) {
    keep_recorded_ = keep;
    if (!keep) kept_ = {};
  }
  Backbone model() { return model_; }

 private:
  void save(const std::string& path, int64_t step, const std::vector<std::array<double, 3>>& curve);
  // Everything a checkpoint holds, `step` and `curve` as given.
  torch::serialize::OutputArchive state_archive(int64_t step, const std::vector<std::array<double, 3>>& curve);
  // Reads the checkpoint at `path` (or, with `in`, an archive state_archive
  // wrote; `path` then only names it) into the model, optimizer, heads and
  // EMA copies; its loss curve into `curve`. Returns its step. InputError
  // naming the path when it is unreadable, damaged (its digest) or of
  // another config or seed; what was read before the fault stays loaded.
  int64_t load(const std::string& path, std::vector<std::array<double, 3>>& curve, std::istream* in = nullptr);
  // XXH3-128 of what a checkpoint holds: `saved` (its step, seconds and
  // loss curve as written), the model, projector and method tensors, the EMA
  // copies, and AdamW's group settings, moments and step counts, in a fixed
  // order (core/base/file_digest.hpp). Saved with the checkpoint, compared
  // after a load.
  std::string state_digest(const NamedTensors& saved) const;
  // The step to start from: 0, or the checkpoint's when `ckpt` exists (its
  // loss curve into `curve`, said through `log`). A checkpoint that cannot
  // be used (unreadable, damaged, another config's or seed's) is said
  // through `log`, moved to <ckpt>.unusable, and training starts at 0 from
  // the state held before, as without it.
  int64_t resume(const std::string& ckpt, std::vector<std::array<double, 3>>& curve,
                 const std::function<void(const std::string&)>& log);
  double seconds_before_ = 0;  // training time before the resumed checkpoint
  std::chrono::steady_clock::time_point started_;
  std::vector<torch::Tensor> trainable();  // the model's parameters + the projector's
  // One step after the batch is chosen: loss, backward, gradient reduction,
  // clipping, AdamW at `lr` (or, while a CUDA graph records it, at the
  // device scalar *lr_dev), EMA. Returns the loss (0-dim float32).
  torch::Tensor step_body(DenoiseStep* denoise, GradReducer* reducer, const std::vector<torch::Tensor>& params,
                          const torch::Tensor& idx, const torch::Tensor& idx_dev, int64_t step, double lr,
                          const torch::Tensor* lr_dev);
  // Losses summed on the device since the last log line, read at sync points.
  struct LossSum {
    torch::Tensor sum;  // 0-dim float64
    int64_t n = 0;
    std::string shown = "loss -";
  };
  // Records the step as `graph` (the next replay runs it); on failure says
  // why through `log` and drops the graph, so training goes on eagerly.
  void record_step(std::shared_ptr<GraphStep>& graph, DenoiseStep* denoise, const std::vector<torch::Tensor>& params,
                   int64_t step, const std::function<void(const std::string&)>& log);
  // A sync point after `step` steps (log line or checkpoint): the ranks' loss
  // sums and stop votes are reduced and read, the loss curve and checkpoint
  // written. False when training ends here: a non-finite loss (res Failed)
  // or a stop any data-parallel rank asked for (res Stopped, checkpointed).
  bool sync_point(LossSum& losses, TrainResult& res, const std::string& ckpt, int64_t step, int64_t total,
                  double lr, bool at_log, bool at_ckpt, bool stop_vote);
  // train.cuda_graph's recorder, or nullptr (off, or this run cannot be
  // recorded: said once through `log`).
  std::shared_ptr<GraphStep> graph_for(const DenoiseStep* denoise, int64_t b,
                                       const std::function<void(const std::string&)>& log);

  // The denoising step and its recording, fresh for this call or kept from
  // the last one (keep_recorded_step); graph is null when not recorded.
  // shared_ptr, though moved only: both types are incomplete here, and a
  // shared_ptr's deleter is fixed where it is made (trainer.cpp).
  struct StepParts {
    std::shared_ptr<DenoiseStep> denoise;
    std::shared_ptr<GraphStep> graph;
    const TrainData* data = nullptr;  // what the kept recording reads
    torch::Tensor z0;                 // data->z0, held: its storage cannot be another's while kept
    int64_t b = 0;
  };
  StepParts step_parts(const TrainData& data, int64_t b, int64_t rank, int64_t world,
                       const std::function<void(const std::string&)>& log);
  // At the end of a call: keeps its recording (keep_recorded_step) or releases it.
  void end_call(StepParts& parts);

  LiveSink live_;
  // The last logged step and when (images per second between log lines).
  int64_t live_step_ = -1;
  std::chrono::steady_clock::time_point live_time_;
  RunConfig cfg_;
  Backbone model_;
  Schedule schedule_;
  torch::Device device_;
  Objective objective_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::vector<bool> decays_;  // per optimizer group: takes the weight decay (train.wd_exclude_1d)
  int64_t total_ = 1;         // steps of the run being trained (the weight-decay schedule)
  // Adds `params` as one group, or two under train.wd_exclude_1d (those of
  // one dimension without weight decay).
  void add_groups(const std::vector<torch::Tensor>& params);
  FusedAdamW* fused_ = nullptr;  // opt_ when train.fused_adamw
  std::vector<torch::Tensor> ema_;
  std::shared_ptr<Communicator> comm_;
  std::shared_ptr<Alignment> align_;
  Method method_{nullptr};
  bool keep_recorded_ = false;
  StepParts kept_;  // a recorded step kept between calls (last: released first)
};

// Scale gradients to a global L2 norm of at most max_norm, as
// torch::nn::utils::clip_grad_norm_ does, without reading the norm on the
// host (no synchronisation with the GPU).
void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);
// Each parameter's gradient scaled by min(1, max_norm / (its own L2 norm +
// 1e-6)), on the device: DINO's utils.clip_gradients (train.grad_clip_mode =
// "per_param").
void clip_grad_per_param(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace ldae
