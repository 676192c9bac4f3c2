// Representation alignment (REPA: Yu et al. 2025, "Representation Alignment
// for Generation: Training Diffusion Transformers Is Easier Than You Think",
// Eq. 3): a hidden state h (B, N, W) of the denoising pass, after feature
// point objective.align_block, is mapped by a small MLP projector h_phi to
// the width F of a target representation y* (B, N, F), and
//   L_align = - 1/N sum_n cos(h_phi(h_n), y*_n),
// averaged over the batch, is added to the denoising loss with weight
// objective.align_weight. The projector trains with the backbone and is not
// part of the probed encoder. Targets (objective.align_target):
//   "classifier"  the harness's classifier (trained with labels: tables mark
//                 such rows [L]), its last feature map
//   "ema"         the model's own EMA at clean input (t = 1), the tapped
//                 block's state: label-free self-distillation; needs train.ema
//   PATH.pt       a TorchScript network the user brings: its last 4-D output
//                 (B, F, h, w), else its last output: (B, N, F) tokens on a
//                 square grid (after an optional class token), or (B, F)
// A target map is average-pooled to the tapped state's grid (h, w); a target
// vector (B, F) is every token's target.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "backbones/backbone.hpp"
#include "core/data/image_source.hpp"
#include "core/nn/feature_net.hpp"
#include "core/nn/linear.hpp"

namespace ldae {

// REPA's projector (models/sit.py build_mlp): Linear -> SiLU -> Linear ->
// SiLU -> Linear; hidden width `hidden`, or 4W when 0 (REPA: 2048).
struct AlignProjectorImpl : torch::nn::Module {
  AlignProjectorImpl(int64_t width, int64_t target_dim, int64_t hidden = 0);
  torch::Tensor forward(const torch::Tensor& h);  // (B, N, W) -> (B, N, F)
  FusedLinear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};
TORCH_MODULE(AlignProjector);

// -1/N sum_n cos(p_n, y_n), averaged over the batch, for projected tokens
// p (B, N, F) and targets y: (B, F, h, w) maps, pooled to the grid (h', w')
// with N = h' w', or (B, F) vectors, one per image.
torch::Tensor alignment_loss(const torch::Tensor& p, const torch::Tensor& y, std::pair<int64_t, int64_t> grid);

class Alignment {
 public:
  // A network target: `net` (the classifier or a TorchScript file) on the
  // training images (N, C, H, W) in [-1, 1] (kept on the host). InputError
  // when the network fails on them or returns a shape it cannot align with.
  // `hidden`: the projector's hidden width (0: 4 x width).
  Alignment(int64_t block, int64_t width, std::shared_ptr<FeatureNet> net, torch::Tensor images,
            int64_t hidden = 0);
  // The same with the images read per batch (a streamed split).
  Alignment(int64_t block, int64_t width, std::shared_ptr<FeatureNet> net, ImageBatches images,
            int64_t hidden = 0);
  // The EMA target (self-distillation with REPA's loss): `teacher` is a
  // second backbone of the same options; the trainer makes its parameters
  // the EMA of the model's.
  Alignment(int64_t block, int64_t width, Backbone teacher, int64_t hidden = 0);

  int64_t block() const { return block_; }
  AlignProjector projector() { return projector_; }
  Backbone teacher() { return teacher_; }  // nullptr for a network target
  // The target of a batch: image indices idx (b,) for a network target, the
  // clean network input (b, L, in) for the EMA one; no gradient, on device.
  torch::Tensor target(const torch::Tensor& idx, const torch::Tensor& clean_input, torch::Device device);
  // The loss of the model's tapped state (after forward with tap(block())).
  torch::Tensor loss(const Backbone& model, const torch::Tensor& target);

 private:
  torch::Tensor network_target(const torch::Tensor& images) const;  // (b, F, h, w) or (b, F)
  int64_t block_;
  std::shared_ptr<FeatureNet> net_;
  ImageBatches images_;
  Backbone teacher_{nullptr};
  AlignProjector projector_{nullptr};
};

}  // namespace ldae
