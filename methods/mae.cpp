#include "methods/mae.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "backbones/uvit.hpp"
#include "core/data/augment.hpp"
#include "core/base/errors.hpp"

namespace ldae {

MaeMask mae_random_mask(int64_t b, int64_t L, double ratio, torch::Device device) {
  // at least one visible and one masked token (validation refuses ratios that give neither)
  const int64_t K = std::clamp<int64_t>(std::llround((1.0 - ratio) * double(L)), 1, std::max<int64_t>(1, L - 1));
  auto noise = torch::rand({b, L}, torch::TensorOptions().device(device));
  auto shuffle = noise.argsort(int64_t(1));  // ascending: the first K are kept
  MaeMask m;
  m.restore = shuffle.argsort(int64_t(1));
  m.keep = shuffle.slice(1, 0, K);
  m.mask = torch::ones({b, L}, noise.options());
  m.mask.slice(1, 0, K).zero_();
  m.mask = m.mask.gather(1, m.restore);  // back to token order
  return m;
}

torch::Tensor mae_loss(const torch::Tensor& pred, const torch::Tensor& target, const torch::Tensor& mask) {
  auto per_token = (pred - target).pow(2).mean(-1);  // (b, L)
  return (per_token * mask).sum() / mask.sum();
}

torch::Tensor norm_pix(const torch::Tensor& target) {
  auto mean = target.mean(-1, true), var = target.var(-1, /*unbiased=*/true, /*keepdim=*/true);
  return (target - mean) / (var + 1e-6).sqrt();
}

MaeImpl::MaeImpl(const MaeConfig& cfg, MethodContext ctx) : MethodImpl(std::move(ctx)), cfg_(cfg) {
  const auto& o = ctx_.backbone;
  const int64_t gh = o.grid_h / o.patch, gw = o.grid_w / o.patch, Wd = cfg.decoder_width;
  L_ = gh * gw;
  P_ = o.patch * o.patch * o.in_dim;
  heads_ = Wd % 32 == 0 ? Wd / 32 : 1;  // MAE's decoder heads are 32 wide (512 / 16)
  if (cfg.norm_pix && P_ < 2)
    throw InputError(fmt::format("mae.norm_pix normalises each target patch by its own mean and variance, which "
                                 "needs at least 2 values; a token here has {}: set mae.norm_pix = false or use "
                                 "larger tokens (tokenizer.patch, tokenizer.d, model.patch)", P_));
  embed_ = register_module("decoder_embed", torch::nn::Linear(ctx_.feature_width, Wd));
  mask_token_ = register_parameter("mask_token", torch::zeros({1, 1, Wd}));
  pos_ = register_buffer("decoder_pos", sincos_2d(gh, gw, Wd).unsqueeze(0));
  blocks_ = register_module("decoder_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.decoder_depth; ++i) blocks_->push_back(UViTBlock(Wd, heads_, 4.0, false));
  norm_ = register_module("decoder_norm", layer_norm(Wd, /*affine=*/true));
  pred_ = register_module("decoder_pred", torch::nn::Linear(Wd, P_));
  // Registered last, and only when asked: the other parameters keep their order.
  if (cfg.encoder_norm) encoder_norm_ = register_module("encoder_norm", layer_norm(ctx_.feature_width, true));
  init_weights();
}

void MaeImpl::init_weights() {
  torch::NoGradGuard ng;
  // 1. Every decoder linear: Xavier-uniform weights, zero bias (MAE).
  for (auto& m : modules(false))
    if (auto* lin = m->as<torch::nn::Linear>()) {
      torch::nn::init::xavier_uniform_(lin->weight);
      if (lin->bias.defined()) torch::nn::init::zeros_(lin->bias);
    }
  // 2. The mask token: normal(0, 0.02). 3. Positions: the fixed sin-cos buffer.
  torch::nn::init::normal_(mask_token_, 0.0, 0.02);
}

torch::Tensor MaeImpl::decode(const torch::Tensor& latent, const torch::Tensor& restore, bool has_cls) {
  auto x = embed_(latent);  // (b, [1 +] K, Wd)
  const int64_t b = x.size(0), first = has_cls ? 1 : 0, K = x.size(1) - first;
  auto grid = torch::cat({x.slice(1, first), mask_token_.to(x.dtype()).expand({b, L_ - K, x.size(2)})}, 1);
  grid = grid.gather(1, restore.unsqueeze(-1).expand({-1, -1, x.size(2)})) + pos_.to(x.dtype());  // token order
  x = has_cls ? torch::cat({x.slice(1, 0, 1), grid}, 1) : grid;
  for (auto& blk : *blocks_) x = blk->as<UViTBlockImpl>()->forward(x);
  return pred_(norm_(x)).slice(1, first);  // (b, L, P)
}

torch::Tensor MaeImpl::loss(Backbone& model, const torch::Tensor& idx, int64_t) {
  const auto& o = ctx_.backbone;
  // MAE's augmentation: random resized crop (scale 0.2..1) and flip only.
  ViewSpec crop;
  crop.scale_lo = 0.2, crop.jitter_p = 0;
  auto tokens = view_tokens(idx, crop);  // (b, L_tok, d)
  auto target = group_tokens(tokens, o.grid_h, o.grid_w, o.patch);  // (b, L, P)
  if (cfg_.norm_pix) target = norm_pix(target);
  const auto m = mae_random_mask(tokens.size(0), L_, cfg_.mask_ratio, ctx_.device);
  auto t = torch::zeros({tokens.size(0)}, tokens.options().dtype(torch::kFloat32));
  auto latent = model->visible_features(tokens, t, m.keep, ctx_.block);
  if (encoder_norm_) latent = encoder_norm_(latent);
  auto pred = decode(latent, m.restore, model->has_cls_token()).to(torch::kFloat32);
  return mae_loss(pred, target.to(torch::kFloat32), m.mask);
}

double MaeImpl::train_macs_per_image(const BackboneImpl& model) const {
  const int64_t K = std::max<int64_t>(1, std::llround((1.0 - cfg_.mask_ratio) * double(L_)));
  const double enc = model.forward_macs(K, ctx_.block);
  if (enc <= 0) return 0;
  const int64_t n = L_ + (model.has_cls_token() ? 1 : 0);
  const double Wd = double(cfg_.decoder_width);
  const double dec = double(K + (model.has_cls_token() ? 1 : 0)) * ctx_.feature_width * Wd +
                     transformer_block_macs(n, cfg_.decoder_depth, cfg_.decoder_width, 4.0) +
                     double(L_) * Wd * double(P_);
  return 3.0 * (enc + dec);
}

MethodEntry mae_method() {
  MethodEntry e;
  e.summary = "masked autoencoder";
  e.make = [](const RunConfig& c, MethodContext x) {
    return Method(Mae(c.sections.get<MaeConfig>(), std::move(x)).ptr());
  };
  e.keys = [] {
    return KeyRows{
        section_field("mae.mask_ratio", &MaeConfig::mask_ratio, 0, 0.99),
        section_field("mae.decoder_depth", &MaeConfig::decoder_depth, 1, 100),
        section_field("mae.decoder_width", &MaeConfig::decoder_width, 8, 1e5),
        section_field("mae.norm_pix", &MaeConfig::norm_pix),
        section_field("mae.encoder_norm", &MaeConfig::encoder_norm),
    };
  };
  e.check = [](const RunConfig& c, const Fail& fail) {
    const MaeConfig& mae = c.sections.get<MaeConfig>();
    if (c.model.name == "unet")
      fail("model.backbone", "MAE's encoder drops the masked tokens, which a convolutional U-Net cannot: "
                             "use model.backbone = \"dit\" or \"uvit\"");
    // MAE must mask at least one of the L backbone tokens and keep one.
    const BackboneOptions bo = backbone_options(c);
    const int64_t L = (bo.grid_h / bo.patch) * (bo.grid_w / bo.patch);
    const int64_t kept = std::llround((1.0 - mae.mask_ratio) * double(L));
    if (kept >= L || kept < 1)
      fail("mae.mask_ratio", fmt::format("{} of the {} tokens masks {} of them; MAE needs at least one masked and "
                                         "one visible token: use a ratio from {:.3g} to {:.3g}", mae.mask_ratio, L,
                                         L - kept, 1.0 / double(L), 1.0 - 1.0 / double(L)));
  };
  return e;
}

}  // namespace ldae
