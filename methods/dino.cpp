#include "methods/dino.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "backbones/dit.hpp"
#include "core/data/augment.hpp"
#include "core/data/data.hpp"
#include "core/nn/linear.hpp"

namespace ldae {
namespace F = torch::nn::functional;

DinoHeadImpl::DinoHeadImpl(int64_t in, int64_t hidden, int64_t bottleneck, int64_t out) {
  mlp = register_module("mlp", torch::nn::Sequential(FusedLinear(in, hidden), torch::nn::GELU(),
                                                     FusedLinear(hidden, hidden), torch::nn::GELU(),
                                                     FusedLinear(hidden, bottleneck)));
  prototypes = register_parameter("prototypes", torch::empty({out, bottleneck}));
  init_weights();
}

void DinoHeadImpl::init_weights() {
  torch::NoGradGuard ng;
  // 1. MLP linears: truncated normal std 0.02 (timm truncates at +-2, 100
  //    std away: a plain normal here), zero bias (DINO's head).
  for (auto& m : mlp->modules(false))
    if (auto* lin = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(lin->weight, 0.0, 0.02);
      torch::nn::init::zeros_(lin->bias);
    }
  // 2. Prototypes: the same; their rows are normalised in forward (g = 1).
  torch::nn::init::normal_(prototypes, 0.0, 0.02);
}

torch::Tensor DinoHeadImpl::forward(const torch::Tensor& x) {
  auto z = F::normalize(mlp->forward(x), F::NormalizeFuncOptions().dim(-1));
  auto w = F::normalize(prototypes, F::NormalizeFuncOptions().dim(1));  // weight norm, g = 1
  return at::linear(z, w.to(z.dtype()));
}

torch::Tensor dino_loss(const std::vector<torch::Tensor>& s, const std::vector<torch::Tensor>& t,
                        const torch::Tensor& center, double tau_s, double tau_t) {
  std::vector<torch::Tensor> log_p_s;  // each student view's log-softmax, once
  for (const auto& sv : s) log_p_s.push_back(F::log_softmax(sv / tau_s, F::LogSoftmaxFuncOptions(-1)));
  torch::Tensor total;
  int64_t pairs = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    auto p_t = F::softmax((t[i] - center) / tau_t, F::SoftmaxFuncOptions(-1)).detach();
    for (size_t v = 0; v < s.size(); ++v) {
      if (v == i) continue;
      auto l = -(p_t * log_p_s[v]).sum(-1).mean();
      total = total.defined() ? total + l : l;
      ++pairs;
    }
  }
  return total / double(pairs);
}

torch::Tensor dino_center(const torch::Tensor& center, const torch::Tensor& batch_mean, double m) {
  return center * m + batch_mean * (1 - m);
}

DinoImpl::DinoImpl(const DinoConfig& cfg, MethodContext ctx, int64_t local_grid)
    : MethodImpl(std::move(ctx)), cfg_(cfg), local_grid_(local_grid) {
  head_ = register_module("head", DinoHead(ctx_.feature_width, cfg.hidden, cfg.bottleneck, cfg.out_dim));
  teacher_head_ = register_module("teacher_head", DinoHead(ctx_.feature_width, cfg.hidden, cfg.bottleneck, cfg.out_dim));
  copy_frozen(*teacher_head_, *head_);
  teacher_ = register_module("teacher", ctx_.make_backbone());
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  center_ = register_buffer("center", torch::zeros({1, cfg.out_dim}));
}

double DinoImpl::teacher_temp(int64_t step) const {
  const double epoch = double(step / std::max<int64_t>(1, ctx_.steps_per_epoch));
  const double warm = cfg_.warmup_teacher_temp_epochs;
  if (epoch >= warm || warm <= 0) return cfg_.teacher_temp;
  // np.linspace(warmup, final, warmup_epochs)[epoch]
  const double n = std::max(1.0, std::floor(warm));
  return cfg_.warmup_teacher_temp + (cfg_.teacher_temp - cfg_.warmup_teacher_temp) * epoch / std::max(1.0, n - 1);
}

torch::Tensor DinoImpl::loss(Backbone& model, const torch::Tensor& idx, int64_t step) {
  if (!started_) {  // the teacher starts as the student (a resume restored both)
    started_ = true;
    if (step == 0) copy_frozen(*teacher_, *model), copy_frozen(*teacher_head_, *head_);
    // The student only (the teacher was made without), over the encoder's blocks, which the loss reads.
    if (cfg_.drop_path > 0) set_drop_path(*model, cfg_.drop_path, ctx_.block, "dino.drop_path");
  }
  auto view = [&](int which, bool local) {
    ViewSpec v = dino_view(which, local);
    v.saturation = cfg_.saturation, v.hue = cfg_.hue, v.grayscale_p = cfg_.grayscale_p;
    v.random_order = cfg_.jitter_order == "random";
    if (local) v.out_side = cfg_.local_size;
    return v;
  };
  std::vector<torch::Tensor> views = {view_tokens(idx, view(1, false)), view_tokens(idx, view(2, false))};
  for (int i = 0; i < cfg_.local_crops; ++i) views.push_back(view_tokens(idx, view(1 + i % 2, true)));
  // The prototypes take no gradient in the first freeze_last_layer epochs:
  // the optimizer then skips them (DINO's cancel_gradients_last_layer).
  const int64_t epoch = step / std::max<int64_t>(1, ctx_.steps_per_epoch);
  head_->prototypes.set_requires_grad(epoch >= cfg_.freeze_last_layer);
  std::vector<torch::Tensor> s, t;
  for (const auto& v : views) s.push_back(head_->forward(pooled(model, v)).to(torch::kFloat32));
  {
    torch::NoGradGuard ng;
    for (int i = 0; i < 2; ++i) t.push_back(teacher_head_->forward(pooled(teacher_, views[i])).to(torch::kFloat32));
  }
  last_t_ = t;
  return dino_loss(s, t, center_, cfg_.student_temp, teacher_temp(step));
}

void DinoImpl::after_step(Backbone& model, int64_t step) {
  const double m = cosine_momentum(cfg_.m, step, ctx_.total_steps);
  momentum_update(*teacher_, *model, m);
  momentum_update(*teacher_head_, *head_, m);
  torch::NoGradGuard ng;
  if (last_t_.empty()) return;
  // The mean teacher output of the step; data parallel: sums and counts of every rank.
  auto all = torch::cat(last_t_);  // (2b, K)
  torch::Tensor mean = all.mean(0, true);
  if (comm_) {
    auto packed = torch::cat({all.sum(0), torch::full({1}, double(all.size(0)), all.options())});
    comm_->sum(packed);
    const int64_t K = all.size(1);
    mean = (packed.slice(0, 0, K) / packed[K]).unsqueeze(0);
  }
  center_.copy_(dino_center(center_, mean, cfg_.center_m));
  last_t_.clear();
}

void DinoImpl::finish(Backbone& model) {
  torch::NoGradGuard ng;
  auto d = model->parameters(), s = teacher_->parameters();
  for (size_t i = 0; i < d.size(); ++i) d[i].copy_(s[i]);
}

double DinoImpl::train_macs_per_image(const BackboneImpl& model) const {
  const auto& o = ctx_.backbone;
  const double enc = model.forward_macs(o.grid_h * o.grid_w / (o.patch * o.patch), ctx_.block);
  if (enc <= 0) return 0;
  const double local = local_grid_ > 0 ? model.forward_macs(local_grid_ * local_grid_ / (o.patch * o.patch), ctx_.block)
                                       : enc;
  auto& self = const_cast<DinoImpl&>(*this);
  const double head = linear_macs(*self.head_->mlp) + double(self.head_->prototypes.numel());
  // Student: 2 global + the local views, forward and backward; teacher: the 2 global ones.
  return 3 * (2 * (enc + head) + cfg_.local_crops * (local + head)) + 2 * (enc + head);
}

MethodEntry dino_method() {
  MethodEntry e;
  e.summary = "self-distillation";
  e.make = [](const RunConfig& c, MethodContext x) {
    const DinoConfig& d = c.sections.get<DinoConfig>();
    return Method(Dino(d, std::move(x), d.local_size / std::max(1, c.tokenizer.patch)).ptr());
  };
  e.keys = [] {
    return KeyRows{
        section_field("dino.local_crops", &DinoConfig::local_crops, 0, 64),
        section_field("dino.local_size", &DinoConfig::local_size, 0, 1e5),
        section_field("dino.out_dim", &DinoConfig::out_dim, 2, 1e7),
        section_field("dino.hidden", &DinoConfig::hidden, 1, 1e6),
        section_field("dino.bottleneck", &DinoConfig::bottleneck, 1, 1e6),
        below(section_field("dino.m", &DinoConfig::m, 0, 1), "freezes the teacher at its initialization"),
        section_field("dino.teacher_temp", &DinoConfig::teacher_temp, 1e-4, 100),
        section_field("dino.warmup_teacher_temp", &DinoConfig::warmup_teacher_temp, 1e-4, 100),
        section_field("dino.warmup_teacher_temp_epochs", &DinoConfig::warmup_teacher_temp_epochs, 0, 1e5),
        section_field("dino.student_temp", &DinoConfig::student_temp, 1e-4, 100),
        below(section_field("dino.center_m", &DinoConfig::center_m, 0, 1), "never moves the teacher's centre"),
        section_field("dino.saturation", &DinoConfig::saturation, 0, 1),
        section_field("dino.hue", &DinoConfig::hue, 0, 0.5),
        section_field("dino.grayscale_p", &DinoConfig::grayscale_p, 0, 1),
        choice(section_field("dino.jitter_order", &DinoConfig::jitter_order), fixed({"fixed", "random"})),
        section_field("dino.freeze_last_layer", &DinoConfig::freeze_last_layer, 0, 1e5),
        section_field("dino.drop_path", &DinoConfig::drop_path, 0, 0.99),
    };
  };
  e.check = [](const RunConfig& c, const Fail& fail) {
    if (c.sections.get<DinoConfig>().drop_path > 0 && c.model.name != "dit")
      fail("dino.drop_path", fmt::format("the student's stochastic depth is written for model.backbone = \"dit\" "
                                         "only, not {}; set dino.drop_path = 0", c.model.name));
    const int local = c.sections.get<DinoConfig>().local_size;
    if (local == 0) return;
    const int side = dataset_image_side(c.data), unit = c.tokenizer.patch * c.model.patch;
    if (c.model.name != "dit")
      fail("dino.local_size", fmt::format("local views of their own size need model.backbone = \"dit\", whose "
                                          "sin-cos positions are resized to the local grid ({} has a fixed grid); "
                                          "leave dino.local_size = 0 (local views at the global side)",
                                          c.model.name));
    else if (local > side || local % unit != 0)
      fail("dino.local_size", fmt::format("{0} px local views must fit the {1} x {1} images and split into whole "
                                          "tokens of {2} px (tokenizer.patch x model.patch): e.g. {3} (96 / 224 of "
                                          "the side, main_dino.py's ratio, to whole tokens)",
                                          local, side, unit,
                                          std::max<int64_t>(1, std::llround(side * 96.0 / 224.0 / unit)) * unit));
  };
  return e;
}

}  // namespace ldae
