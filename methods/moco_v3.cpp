#include "methods/moco_v3.hpp"

#include <fmt/core.h>

#include "core/data/augment.hpp"
#include "core/base/errors.hpp"

namespace ldae {

torch::Tensor moco_infonce(const torch::Tensor& q, const torch::Tensor& k, double tau, int64_t offset) {
  namespace F = torch::nn::functional;
  auto qn = F::normalize(q, F::NormalizeFuncOptions().dim(1));
  auto kn = F::normalize(k, F::NormalizeFuncOptions().dim(1));
  auto logits = qn.matmul(kn.t()) / tau;  // (b, n): positives on the diagonal from column offset
  auto labels = torch::arange(offset, offset + q.size(0), torch::TensorOptions().dtype(torch::kLong).device(q.device()));
  return F::cross_entropy(logits, labels) * (2 * tau);
}

MocoV3Impl::MocoV3Impl(const MocoConfig& cfg, MethodContext ctx) : MethodImpl(std::move(ctx)), cfg_(cfg) {
  projector_ = register_module("projector", bn_mlp(3, ctx_.feature_width, cfg.mlp_dim, cfg.dim));
  predictor_ = register_module("predictor", bn_mlp(2, cfg.dim, cfg.mlp_dim, cfg.dim));
  momentum_projector_ = register_module("momentum_projector", bn_mlp(3, ctx_.feature_width, cfg.mlp_dim, cfg.dim));
  copy_frozen(*momentum_projector_, *projector_);
  momentum_backbone_ = register_module("momentum_encoder", ctx_.make_backbone());
  for (auto& p : momentum_backbone_->parameters()) p.set_requires_grad(false);
}

double MocoV3Impl::momentum(int64_t step) const { return cosine_momentum(cfg_.m, step, ctx_.total_steps); }

void MocoV3Impl::update_momentum_encoder(Backbone& model, double m) {
  momentum_update(*momentum_backbone_, *model, m);
  momentum_update(*momentum_projector_, *projector_, m);
}

torch::Tensor MocoV3Impl::loss(Backbone& model, const torch::Tensor& idx, int64_t step) {
  if (!started_) {  // f_k starts as f_q (also after a resume: the checkpoint restored both)
    started_ = true;
    if (step == 0) copy_frozen(*momentum_backbone_, *model), copy_frozen(*momentum_projector_, *projector_);
    if (cfg_.freeze_patch_embed)
      for (auto& p : model->named_parameters())
        if (!model->input_embedding().empty() && p.key().rfind(model->input_embedding(), 0) == 0)
          p.value().set_requires_grad(false);
  }
  if (idx.size(0) < 2)  // (data parallel: per process)
    throw InputError(fmt::format("method.name = \"moco_v3\": its heads' BatchNorm and InfoNCE need at least 2 "
                                 "images per process, this one has {}: raise train.batch", idx.size(0)));
  update_momentum_encoder(model, momentum(step));
  auto view = [&](int which) {
    ViewSpec v = moco_view(which);
    v.saturation = cfg_.saturation, v.hue = cfg_.hue, v.grayscale_p = cfg_.grayscale_p;
    v.random_order = cfg_.jitter_order == "random";
    return v;
  };
  auto x1 = view_tokens(idx, view(1)), x2 = view_tokens(idx, view(2));
  auto q1 = predictor_->forward(projector_->forward(pooled(model, x1)));
  auto q2 = predictor_->forward(projector_->forward(pooled(model, x2)));
  torch::Tensor k1, k2;
  {
    torch::NoGradGuard ng;
    k1 = momentum_projector_->forward(pooled(momentum_backbone_, x1));
    k2 = momentum_projector_->forward(pooled(momentum_backbone_, x2));
  }
  // Data parallel: every rank's keys, in rank order (no gradient flows to keys).
  const int64_t b = q1.size(0), rank = comm_ ? comm_->rank() : 0;
  auto gather = [&](const torch::Tensor& k) {
    if (!comm_) return k.to(torch::kFloat32);
    auto all = torch::zeros({b * comm_->world(), k.size(1)}, k.options().dtype(torch::kFloat32));
    all.slice(0, rank * b, (rank + 1) * b).copy_(k);
    comm_->sum(all);
    return all;
  };
  const double tau = cfg_.t;
  return moco_infonce(q1.to(torch::kFloat32), gather(k2), tau, rank * b) +
         moco_infonce(q2.to(torch::kFloat32), gather(k1), tau, rank * b);
}

double MocoV3Impl::train_macs_per_image(const BackboneImpl& model) const {
  const auto& o = ctx_.backbone;
  const double enc = model.forward_macs(o.grid_h * o.grid_w / (o.patch * o.patch), ctx_.block);
  if (enc <= 0) return 0;
  auto& self = const_cast<MocoV3Impl&>(*this);
  const double proj = linear_macs(*self.projector_), pred = linear_macs(*self.predictor_);
  // Two views: trained passes (x3) through encoder, projector, predictor;
  // momentum passes (x1) through encoder and projector.
  return 2 * (3 * (enc + proj + pred) + (enc + proj));
}

MethodEntry moco_v3_method() {
  MethodEntry e;
  e.summary = "momentum contrast";
  e.make = [](const RunConfig& c, MethodContext x) {
    return Method(MocoV3(c.sections.get<MocoConfig>(), std::move(x)).ptr());
  };
  e.keys = [] {
    return KeyRows{
        below(section_field("moco.m", &MocoConfig::m, 0, 1), "freezes the momentum encoder at its initialization"),
        section_field("moco.t", &MocoConfig::t, 1e-4, 100),
        section_field("moco.dim", &MocoConfig::dim, 1, 1e6),
        section_field("moco.mlp_dim", &MocoConfig::mlp_dim, 1, 1e6),
        section_field("moco.freeze_patch_embed", &MocoConfig::freeze_patch_embed),
        section_field("moco.saturation", &MocoConfig::saturation, 0, 1),
        section_field("moco.hue", &MocoConfig::hue, 0, 0.5),
        section_field("moco.grayscale_p", &MocoConfig::grayscale_p, 0, 1),
        choice(section_field("moco.jitter_order", &MocoConfig::jitter_order), fixed({"fixed", "random"})),
    };
  };
  e.check = [](const RunConfig& c, const Fail& fail) {
    if (c.train.batch < 2)
      fail("train.batch", "MoCo v3 contrasts each image with the others of its batch (and its heads use "
                          "BatchNorm): it needs train.batch >= 2");
  };
  return e;
}

}  // namespace ldae
