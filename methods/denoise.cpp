#include "methods/denoise.hpp"

#include "core/nn/autocast.hpp"
#include "core/plugin/hooks.hpp"
#include "core/data/train_data.hpp"

namespace ldae {
namespace {
// Training data that fits stays on the accelerator for the whole run (no
// copy per step); larger sets stream through pinned memory.
constexpr int64_t kResidentBytes = int64_t(8) << 30;

int64_t bytes_of(const torch::Tensor& t) { return t.defined() ? t.numel() * int64_t(t.element_size()) : 0; }

torch::Tensor table(const std::vector<double>& v, torch::Device device) {  // (T + 1,) float32
  return torch::tensor(v, torch::kFloat64).to(torch::kFloat32).to(device);
}
}  // namespace

DenoiseStep::DenoiseStep(const RunConfig& cfg, const Objective& objective, const Schedule& schedule,
                         const TrainData& data, torch::Device device, int64_t rank, int64_t world,
                         std::shared_ptr<Alignment> align)
    : cfg_(cfg), objective_(objective), schedule_(schedule), data_(data), device_(device), rank_(rank),
      B_(cfg.train.batch), b_(cfg.train.batch / world), d_(data.z0.size(2)), align_(std::move(align)) {
  auto to_dev = [&](const torch::Tensor& t) { return t.defined() ? t.to(device_) : t; };
  V_ = to_dev(data.V), V_full_ = to_dev(data.V_full);
  gammas_ = table(schedule.gamma, device), sigmas_ = table(schedule.sigma, device);
  // SiT's interpolants: the derivatives the velocity target needs.
  velocity_ = objective.target == Target::Velocity;
  if (velocity_) dgammas_ = table(schedule.dgamma, device), dsigmas_ = table(schedule.dsigma, device);
  need_x_ = objective.target == Target::OriginalImage;
  if (objective.learn_sigma) variance_ = variance_table_tensors(variance_tables(schedule), device);
  // Where the prepared latents live: on the device when they fit (indexing
  // then happens there), else on the host, copied per batch.
  resident_ = !data.batch && (device_.is_cpu() ||
                              bytes_of(data.z0) + (need_x_ ? bytes_of(data.x) : 0) <= kResidentBytes);
  z0_all_ = resident_ ? data.z0.to(device_) : data.z0;
  x_all_ = need_x_ && resident_ ? data.x.to(device_) : data.x;
  labels_all_ = cfg.model.class_cond ? data.labels.to(device_) : torch::Tensor();
}

torch::Tensor DenoiseStep::upload(torch::Tensor t) const {
  // Only host tensors are pinned; a batch already on a GPU (a caller's
  // resident data, "cuda:0" against our "cuda") is only moved if needed.
  if (!t.defined() || !t.is_cpu()) return t.defined() ? t.to(device_) : t;
  if (device_.is_cuda()) return t.pin_memory().to(device_, /*non_blocking=*/true);
  return t.to(device_);
}

torch::Tensor DenoiseStep::loss(Backbone& model, const torch::Tensor& idx, const torch::Tensor& idx_dev) {
  torch::Tensor z0, x;  // (b, L, d), (b, L, D)
  if (data_.batch) {
    auto fresh = data_.batch(idx);
    z0 = upload(fresh.first);
    if (need_x_) x = upload(fresh.second);
  } else {
    z0 = upload(z0_all_.index_select(0, idx_dev));
    if (need_x_) x = upload(x_all_.index_select(0, idx_dev));
  }
  // t and eps are drawn for the whole global batch, then sliced, so every
  // sample sees the noise it would see in one process; drawn where they are
  // used (the device's generator, seeded with the host's).
  const auto on_dev = torch::TensorOptions().device(device_);
  const int64_t lo = rank_ * b_, hi = (rank_ + 1) * b_;
  auto t = torch::randint(1, schedule_.T + 1, {B_}, on_dev.dtype(torch::kLong)).slice(0, lo, hi);
  auto eps = torch::randn({B_, z0.size(1), z0.size(2)}, on_dev.dtype(z0.dtype())).slice(0, lo, hi);
  auto gamma = gammas_.index_select(0, t), sigma = sigmas_.index_select(0, t);
  // Neither target nor weight draws random numbers, so forming them before
  // the forward pass leaves the step's random stream as it was.
  StepContext sc{cfg_,
                 z0,
                 eps,
                 t,
                 gamma,
                 sigma,
                 network_input(objective_, noisy_latent(objective_, z0, eps, gamma, sigma), V_),
                 target_of(objective_, x, z0, eps, V_, velocity_ ? dgammas_.index_select(0, t) : torch::Tensor(),
                           velocity_ ? dsigmas_.index_select(0, t) : torch::Tensor()),
                 loss_weight(objective_, gamma, sigma),
                 {}};
  for (const auto& h : plugin_hooks()) {  // plugin axes: corrupt, then re-target
    if (h.corrupt) h.corrupt(sc);
    if (h.transform_target) h.transform_target(sc);
  }
  torch::Tensor y;
  if (cfg_.model.class_cond) y = labels_all_.index_select(0, idx_dev.to(device_));
  torch::Tensor pred;
  {
    Autocast ac(cfg_.train.bf16, device_);
    pred = model->forward(sc.input, sc.t.to(torch::kFloat32), y);
  }
  auto out = pred.to(torch::kFloat32);
  pred = regression_part(objective_, out);
  auto loss = objective_loss(objective_, pred, sc.target, sc.weight, V_full_, d_, sc.token_weight);
  if (objective_.learn_sigma) {
    // DiT's loss = mse + vb, the VLB term with the eps estimate frozen (only
    // v learns from it), on the z_t the forward process made from z0 and eps.
    const auto zt = noisy_latent(objective_, sc.z0, sc.eps, sc.gamma, sc.sigma);
    loss = loss + vlb_bits(variance_, sc.z0, zt, pred.detach(), learned_v(objective_, out), sc.t, sc.gamma,
                           sc.sigma).mean();
  }
  if (align_) {  // REPA: the tapped state against the target, through the projector
    auto target = align_->target(idx, network_input(objective_, z0, V_), device_);
    Autocast ac(cfg_.train.bf16, device_);
    loss = loss + cfg_.objective.align_weight * align_->loss(model, target);
  }
  for (const auto& h : plugin_hooks())
    if (h.extra_loss) loss = loss + h.extra_loss(sc, pred);
  return loss;
}

}  // namespace ldae
