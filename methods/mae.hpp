// MAE (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners").
// Per image, a random fraction r = mae.mask_ratio of the backbone's tokens
// is masked: the encoder (the backbone up to the probe's feature point) sees
// only the K = round((1 - r) L) visible tokens with their positions; a light
// decoder (mae.decoder_depth pre-norm transformer blocks of width
// mae.decoder_width, fixed 2-D sin-cos positions) receives the encoded
// tokens and a shared learned mask token at every masked position, and
// predicts each token's patch: the tokenizer's tokens grouped as the
// backbone groups them (pixels with tokenizer.name = "pixel", MAE's
// target). With mae.norm_pix each target patch is normalised by its own
// mean and (unbiased) variance, eps 1e-6 (MAE's norm_pix_loss). The loss is
// the mean squared error over the masked tokens only (MAE Sec. 3).
#pragma once
#include "methods/method.hpp"

namespace ldae {

// MAE's keys (mae.*, read only when method.name = "mae").
struct MaeConfig {
  static constexpr const char* kSection = "mae";
  double mask_ratio = 0.75;      // fraction r of tokens masked per image
  int decoder_depth = 8;         // MAE's light decoder: 8 blocks ...
  int decoder_width = 512;       // ... of width 512 (16 heads of 32)
  bool norm_pix = true;          // target: each patch normalised by its mean and std
  // A LayerNorm (eps 1e-6, affine) on the encoder's output before the
  // decoder, as models_mae.py's `norm` after the encoder blocks. The probe
  // reads the blocks without it (its BatchNorm standardises each feature).
  bool encoder_norm = false;
};
// The registry line's entry: Mae, mae.* keys, its check (a ratio that masks
// at least one token and keeps one; no U-Net: the encoder drops tokens).
MethodEntry mae_method();

// MAE's per-sample random masking of L tokens for a batch of b: keep (b, K)
// indices of the visible tokens, restore (b, L) the inverse permutation and
// mask (b, L) with 1 at masked tokens, K = round((1 - ratio) L) (at least 1).
// Draws from the global generator.
struct MaeMask {
  torch::Tensor keep, restore, mask;
};
MaeMask mae_random_mask(int64_t b, int64_t L, double ratio, torch::Device device);

// sum_n mask_n mean_j (pred_nj - target_nj)^2 / sum_n mask_n over pred and
// target (b, L, P), mask (b, L): visible tokens do not count.
torch::Tensor mae_loss(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask);

// Each token's patch normalised by its mean and unbiased variance (+1e-6):
// (b, L, P) -> (b, L, P).
torch::Tensor norm_pix(const torch::Tensor& target);

class MaeImpl : public MethodImpl {
 public:
  MaeImpl(const MaeConfig& cfg, MethodContext ctx);
  torch::Tensor loss(Backbone& model, const torch::Tensor& idx, int64_t step) override;
  double train_macs_per_image(const BackboneImpl& model) const override;
  // The decoder: encoded tokens (b, [1 +] K, C), restore (b, L) ->
  // predicted patches (b, L, P), P = p^2 d.
  torch::Tensor decode(const torch::Tensor& latent, const torch::Tensor& restore, bool has_cls);
  void init_weights();

 private:
  MaeConfig cfg_;
  int64_t L_ = 0, P_ = 0, heads_ = 1;
  torch::nn::Linear embed_{nullptr}, pred_{nullptr};
  torch::Tensor mask_token_, pos_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::LayerNorm encoder_norm_{nullptr};  // mae.encoder_norm
};
TORCH_MODULE(Mae);

}  // namespace ldae
