// The pre-training method axis (method.name; DESIGN.md, "methods/"). A run
// pre-trains the backbone's encoder, the backbone up to the feature point
// its probes read (probe.block, default the split), by one method:
//   denoise  the paper's (methods/denoise.hpp, with core/diffusion/noise
//            and objective); every noise.* and objective.* key belongs to it
//   mae      masked autoencoder (methods/mae.hpp)
//   moco_v3  contrastive, momentum encoder (methods/moco_v3.hpp)
//   dino     self-distillation, EMA teacher (methods/dino.hpp)
// A baseline replaces the loss of one training step and keeps everything
// else of the trainer: AdamW, warm-up + cosine, checkpoints and resume (its
// heads and momentum networks are checkpointed with the model), signals and
// the records. Baselines train and are read with clean input at t = 0 (the
// backbone's time embedding is then a constant).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backbones/backbone.hpp"
#include "core/config/config.hpp"
#include "core/config/keys.hpp"
#include "core/nn/distributed.hpp"

namespace ldae {

// What a baseline reads from its run.
struct MethodContext {
  // Training images idx (b,) int64 -> (b, C, H, W) float on the host, in
  // [-1, 1] or [0, 1]: read from memory or from the prepared store.
  std::function<torch::Tensor(const torch::Tensor&)> read_images;
  // A view's random resized crop + flip of training images idx (b,): area
  // fraction [scale_lo, scale_hi], side out_side (0: the images'), float on
  // the host as read_images; from the whole image where the data keep
  // them (data.whole_images). Draws from the global generator.
  std::function<torch::Tensor(const torch::Tensor& idx, double scale_lo, double scale_hi, int64_t out_side)>
      crop_images;
  int64_t image_side = 0;  // the images' side (H), the views' blur scale
  bool normalized = true;
  // images (b, C, H, W) on the host -> tokenizer tokens (b, L, d) on the host
  std::function<torch::Tensor(const torch::Tensor&)> encode;
  std::function<Backbone()> make_backbone;  // a fresh backbone of the run's options
  BackboneOptions backbone;                  // those options
  int64_t block = 0;                         // the encoder ends after this feature point
  int64_t feature_width = 0;                 // its channels
  std::string pool = "mean";                 // probe.pool
  int64_t steps_per_epoch = 1, total_steps = 1;
  torch::Device device = torch::kCPU;
};

class MethodImpl : public torch::nn::Module {
 public:
  explicit MethodImpl(MethodContext ctx) : ctx_(std::move(ctx)) {}
  // Loss of one step on training images idx (b,) (host int64), called after
  // the trainer's per-step reseed and inside its autocast; may update
  // momentum networks first (MoCo v3 does, as its official code).
  virtual torch::Tensor loss(Backbone& model, const torch::Tensor& idx, int64_t step) = 0;
  // After the optimizer step (DINO's EMA teacher and centre).
  virtual void after_step(Backbone& /*model*/, int64_t /*step*/) {}
  // After training: make `model` the encoder evaluation reads (DINO: the
  // teacher's weights, as its paper evaluates).
  virtual void finish(Backbone& /*model*/) {}
  // Data parallel: each rank computes the loss of its share of the batch;
  // what needs the whole batch (MoCo's keys, DINO's centre) is gathered
  // through `comm` (the trainer averages the gradients).
  void set_communicator(std::shared_ptr<Communicator> comm) { comm_ = std::move(comm); }
  // Multiply-adds of one step per training image, forward and backward
  // (backward = 2 forwards) of every pass, heads included; 0 = not counted.
  virtual double train_macs_per_image(const BackboneImpl& model) const = 0;
  // Parameters trained with the backbone (heads, decoder); the momentum
  // networks are state (checkpointed, not trained).
  std::vector<torch::Tensor> trained_parameters() const;
  const MethodContext& context() const { return ctx_; }

 protected:
  // Tokens (b, L, d) on the device of images idx under `view`.
  torch::Tensor view_tokens(const torch::Tensor& idx, const struct ViewSpec& view) const;
  // The encoder's pooled features (b, C) of tokens (b, L, d) at t = 0.
  torch::Tensor pooled(Backbone& model, const torch::Tensor& tokens) const;
  MethodContext ctx_;
  std::shared_ptr<Communicator> comm_;  // null: one process
};
// Shared, not a ModuleHolder: the interface is abstract.
using Method = std::shared_ptr<MethodImpl>;

// ---- the method registry (methods/registry.cpp) ---------------------------------

// One registry line: how to build the method, its own section's keys, its
// own checks and a one-line summary for run_sweep --list. A method with options keeps
// them in its own section struct (e.g. MaeConfig, "mae.*"), read with
// cfg.sections.get<MaeConfig>().
struct MethodEntry {
  std::function<Method(const RunConfig&, MethodContext)> make;
  std::function<KeyRows()> keys;                             // may be empty
  std::function<void(const RunConfig&, const Fail&)> check;  // may be empty
  std::string summary;
};

// The built-in methods (the literal map), then those added at run time.
std::vector<std::string> method_names();
// InputError naming the known methods for an unknown name.
const MethodEntry& method_entry(const std::string& name);
// Adds a method after start-up (the registry line's run-time form, used by
// tests/methods/test_toy_method.cpp; not yet part of the plugin API), its
// keys through add_key_rows. InputError for a name or key that exists already.
void add_method(const std::string& name, MethodEntry entry);
// Build the method cfg.method.name; nullptr for "denoise" (the trainer runs
// its DenoiseStep, methods/denoise.hpp). InputError for options it cannot take.
Method make_method(const RunConfig& cfg, MethodContext ctx);
// method.name and every built-in method's own keys, in registry order.
KeyRows method_keys();
// What a baseline cannot take (generation, alignment, labels, noisy probes,
// augmented data), then the method's own check.
void check_method(const RunConfig& cfg, const Fail& fail);

// ---- pieces the baselines share ------------------------------------------------

// MoCo v3's MLP: `layers` Linear layers without bias, BatchNorm1d + ReLU
// between them and a BatchNorm1d without affine after the last.
torch::nn::Sequential bn_mlp(int64_t layers, int64_t in, int64_t hidden, int64_t out);
// Multiply-adds of one vector through the Linear layers of `m`.
double linear_macs(torch::nn::Module& m);
// dst <- m dst + (1 - m) src for every parameter (a momentum / EMA update).
void momentum_update(torch::nn::Module& dst, torch::nn::Module& src, double m);
// Copy src's parameters and buffers into dst (same architecture) and stop
// dst's gradients: the start of a momentum encoder or teacher.
void copy_frozen(torch::nn::Module& dst, torch::nn::Module& src);
// 1 - (1 - m0) (1 + cos(pi step / total)) / 2: MoCo v3's and DINO's momentum
// schedule, m0 at step 0 rising to 1 at the end.
double cosine_momentum(double m0, int64_t step, int64_t total);

}  // namespace ldae
