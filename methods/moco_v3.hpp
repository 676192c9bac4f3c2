// MoCo v3 (Chen, Xie, He 2021, "An Empirical Study of Training
// Self-Supervised Vision Transformers", Alg. 1). Two views of each image
// (the BYOL pair of augmentations, core/data/augment.hpp) pass the base encoder
// f_q (the backbone's encoder, pooled, then a 3-layer projector) and a
// 2-layer predictor: q1, q2; and the momentum encoder f_k (a copy of the
// backbone and projector, no gradient): k1, k2. The loss is symmetric
// InfoNCE, ctr(q1, k2) + ctr(q2, k1), with
//   ctr(q, k) = CE(q^ k^T / tau, diagonal) x 2 tau
// on l2-normalised q^, k^ (the official code's 2 tau scale), tau = moco.t.
// Data parallel: the keys of every rank are gathered (MoCo's
// concat_all_gather), so each query contrasts with the whole batch; the
// heads' BatchNorm uses each rank's share.
// The momentum m follows a cosine from moco.m at step 0 to 1 at the end; f_k
// is updated before each step's keys (as the official code). Projector and
// predictor: Linear without bias, BatchNorm + ReLU between, BatchNorm
// without affine after the last (hidden moco.mlp_dim, out moco.dim).
// moco.freeze_patch_embed: the input embedding keeps its random init (the
// paper's stability trick, Sec. 4.2).
#pragma once
#include "methods/method.hpp"

namespace ldae {

// MoCo v3's keys (moco.*, read only when method.name = "moco_v3").
struct MocoConfig {
  static constexpr const char* kSection = "moco";
  double m = 0.99;               // momentum at step 0, to 1 on a cosine schedule
  double t = 0.2;                // InfoNCE temperature
  int dim = 256;                 // projector / predictor output
  int mlp_dim = 4096;            // projector / predictor hidden width
  bool freeze_patch_embed = false;  // a frozen random patch projection (MoCo v3 Sec. 4.2)
  // Colour jitter's saturation and hue and the grayscale probability of both
  // views (main_moco.py: 0.2, 0.1, 0.2); 0 = off (grey images need none).
  double saturation = 0.0, hue = 0.0, grayscale_p = 0.0;
  // "fixed": brightness, contrast, saturation, hue; "random": each image its
  // own order, as torchvision's ColorJitter (the official views).
  std::string jitter_order = "fixed";
};
// The registry line's entry: MocoV3, moco.* keys, its check (batches of at
// least 2: it contrasts each image with the others of its batch).
MethodEntry moco_v3_method();

// ctr(q, k) = CrossEntropy(normalize(q) normalize(k)^T / tau, positives) x 2 tau
// for queries q (b, D) and keys k (n, D), n >= b: query i's positive is key
// offset + i (data parallel: k holds every rank's keys, offset = rank x b).
torch::Tensor moco_infonce(const torch::Tensor& q, const torch::Tensor& k, double tau, int64_t offset = 0);

class MocoV3Impl : public MethodImpl {
 public:
  MocoV3Impl(const MocoConfig& cfg, MethodContext ctx);
  torch::Tensor loss(Backbone& model, const torch::Tensor& idx, int64_t step) override;
  double train_macs_per_image(const BackboneImpl& model) const override;
  // Momentum m at `step` and the update f_k <- m f_k + (1 - m) f_q.
  double momentum(int64_t step) const;
  void update_momentum_encoder(Backbone& model, double m);
  Backbone momentum_encoder() { return momentum_backbone_; }

 private:
  MocoConfig cfg_;
  torch::nn::Sequential projector_{nullptr}, predictor_{nullptr}, momentum_projector_{nullptr};
  Backbone momentum_backbone_{nullptr};
  bool started_ = false;
};
TORCH_MODULE(MocoV3);

}  // namespace ldae
