#include "core/train/trainer.hpp"

#include "core/base/archive_check.hpp"
#include "core/data/epoch_order.hpp"

#include <fmt/core.h>

#include <cmath>
#include <sstream>
#include <filesystem>

#include "core/nn/autocast.hpp"
#include "core/nn/fused_support.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"
#include "core/base/file_digest.hpp"
#include "core/train/graph_step.hpp"
#include "core/base/progress.hpp"
#include "core/base/schedule.hpp"
#include "methods/denoise.hpp"

namespace ldae {

void write_archive_atomically(const std::string& path, torch::serialize::OutputArchive& ar,
                              uint64_t expected_bytes) {
  std::ostringstream bytes(std::ios::binary);
  ar.save_to(bytes);
  write_text_atomically(path, bytes.str(), expected_bytes);
}
namespace fs = std::filesystem;

Trainer::Trainer(const RunConfig& cfg, Backbone model, Schedule schedule, torch::Device device)
    : cfg_(cfg), model_(std::move(model)), schedule_(std::move(schedule)), device_(device),
      objective_(make_objective(cfg.objective)) {
  model_->to(device_);
  // fp32 matrix products on tensor cores (TF32) where the GPU has them;
  // bf16 autocast covers the rest (train.bf16).
  if (device_.is_cuda()) at::globalContext().setFloat32MatmulPrecision("high");
  const double lr = cfg.train.base_lr * cfg.train.batch / 256.0;
  const auto options = torch::optim::AdamWOptions(lr).betas({0.9, cfg.train.beta2}).weight_decay(cfg.train.weight_decay);
  // Built empty, then the model's group(s) added: the same optimizer as one
  // built on the parameters (recorded runs unchanged).
  if (cfg.train.fused_adamw) {
    auto fused = std::make_unique<FusedAdamW>(std::vector<torch::optim::OptimizerParamGroup>{}, options);
    fused_ = fused.get();
    opt_ = std::move(fused);
  } else {
    opt_ = std::make_unique<torch::optim::AdamW>(std::vector<torch::optim::OptimizerParamGroup>{}, options);
  }
  add_groups(model_->parameters());
  if (cfg.train.ema > 0)
    for (auto& p : model_->parameters()) ema_.push_back(p.detach().clone());
}

void Trainer::add_groups(const std::vector<torch::Tensor>& params) {
  const auto& defaults = static_cast<const torch::optim::AdamWOptions&>(opt_->defaults());
  auto add = [&](const std::vector<torch::Tensor>& ps, bool decay) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(defaults);
    if (!decay) o->weight_decay(0);
    opt_->add_param_group(torch::optim::OptimizerParamGroup(ps, std::move(o)));
    decays_.push_back(decay);
  };
  if (!cfg_.train.wd_exclude_1d) return add(params, true);
  std::vector<torch::Tensor> decayed, plain;
  for (const auto& p : params) (p.dim() <= 1 ? plain : decayed).push_back(p);
  if (!decayed.empty()) add(decayed, true);
  if (!plain.empty()) add(plain, false);
}

void Trainer::set_alignment(std::shared_ptr<Alignment> align) {
  align_ = std::move(align);
  auto proj = align_->projector();
  proj->to(device_);
  add_groups(proj->parameters());
  if (auto teacher = align_->teacher()) {
    if (ema_.empty())
      throw InputError("objective.align_target = \"ema\" aligns with the model's EMA: set train.ema "
                       "(e.g. 0.999)");
    teacher->to(device_);
    auto mine = model_->parameters(), theirs = teacher->parameters();
    torch::NoGradGuard ng;
    for (size_t k = 0; k < mine.size(); ++k) theirs[k].copy_(mine[k]);
    ema_ = theirs;  // the EMA update now moves the teacher itself
  }
}

void Trainer::set_method(Method method) {
  method_ = std::move(method);
  method_->to(device_);
  method_->set_communicator(comm_);
  add_groups(method_->trained_parameters());
}

std::vector<torch::Tensor> Trainer::trainable() {
  auto params = model_->parameters();
  if (align_)
    for (auto& p : align_->projector()->parameters()) params.push_back(p);
  if (method_)
    for (auto& p : method_->trained_parameters()) params.push_back(p);
  return params;
}

int64_t Trainer::total_steps(int64_t n) const {
  return int64_t(cfg_.train.epochs) * std::max<int64_t>(1, n / cfg_.train.batch);
}

double Trainer::lr_at(int64_t step, int64_t total, int64_t spe) const {
  // To train.min_lr: 0 by default (MAE / l-DAE practice), DINO's 1e-6.
  return warmup_cosine(step, int64_t(cfg_.train.warmup_epochs * spe), total,
                       cfg_.train.base_lr * cfg_.train.batch / 256.0, cfg_.train.min_lr);
}

double Trainer::weight_decay_at(int64_t step, int64_t total) const {
  const double start = cfg_.train.weight_decay, end = cfg_.train.weight_decay_end;
  if (end < 0) return start;
  // DINO's utils.cosine_scheduler without warm-up: end + (start - end) (1 + cos(pi i / n)) / 2.
  return end + 0.5 * (start - end) * (1.0 + std::cos(M_PI * double(step) / double(std::max<int64_t>(1, total))));
}

void Trainer::use_ema() {
  if (ema_.empty()) return;
  torch::NoGradGuard ng;
  auto params = model_->parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(ema_[i]);
}

void Trainer::save(const std::string& path, int64_t step,
                   const std::vector<std::array<double, 3>>& curve) {
  if (comm_ && comm_->rank() != 0) return;  // one writer; every rank resumes from it
  // Atomic: a kill or a full disk leaves the old checkpoint or the new one.
  // Needs room for the weights, Adam's two moments and every EMA copy.
  auto ar = state_archive(step, curve);
  write_archive_atomically(path, ar,
                           parameter_bytes(trainable()) * (3 + ema_.size()) +
                               (method_ ? parameter_bytes(method_->parameters()) : 0));
}

torch::serialize::OutputArchive Trainer::state_archive(int64_t step,
                                                       const std::vector<std::array<double, 3>>& curve) {
  torch::serialize::OutputArchive ar, model_ar, opt_ar;
  model_->save(model_ar);
  opt_->save(opt_ar);
  ar.write("model", model_ar);
  ar.write("optimizer", opt_ar);
  if (align_) {
    torch::serialize::OutputArchive proj_ar;
    align_->projector()->save(proj_ar);
    ar.write("align_projector", proj_ar);
  }
  if (method_) {  // heads, momentum networks, centre
    torch::serialize::OutputArchive method_ar;
    method_->save(method_ar);
    ar.write("method", method_ar);
  }
  const auto step_t = torch::tensor(step);
  const auto seconds_t = torch::tensor(seconds_before_ + std::chrono::duration<double>(
                                                             std::chrono::steady_clock::now() - started_).count(),
                                       torch::kFloat64);
  std::vector<double> flat;
  for (const auto& r : curve) flat.insert(flat.end(), r.begin(), r.end());
  const auto curve_t = torch::tensor(flat, torch::kFloat64);
  ar.write("step", step_t);
  ar.write("seconds", seconds_t);
  ar.write("loss_curve", curve_t);
  for (size_t i = 0; i < ema_.size(); ++i) ar.write(fmt::format("ema_{}", i), ema_[i]);
  // The checkpoint embeds the config it belongs to (STYLE.md rule 7).
  std::string canon = canonical(cfg_);
  ar.write("config", torch::tensor(std::vector<int64_t>(canon.begin(), canon.end())));
  ar.write("seed", torch::tensor(int64_t(cfg_.seed)));  // canonical() leaves the seed out
  const std::string digest = state_digest({{"step", step_t}, {"seconds", seconds_t}, {"loss_curve", curve_t}});
  ar.write("digest", torch::tensor(std::vector<int64_t>(digest.begin(), digest.end())));
  return ar;
}

int64_t Trainer::load(const std::string& path, std::vector<std::array<double, 3>>& curve, std::istream* in) {
  kept_ = {};  // the archive's tensors replace the storage a kept recording points at
  try {
    torch::serialize::InputArchive ar, model_ar, opt_ar;
    if (in) {
      ar.load_from(*in);
    } else {
      check_archive(path, "checkpoint");
      ar.load_from(path);
    }
    torch::Tensor cfg_t, step_t, curve_t;
    ar.read("config", cfg_t);
    auto v = cfg_t.to(torch::kLong).contiguous();
    std::string canon(v.data_ptr<int64_t>(), v.data_ptr<int64_t>() + v.numel());
    if (canon != canonical(cfg_))
      throw InputError(path + ": checkpoint of another config");
    torch::Tensor seed_t;  // checkpoints written before the seed was kept have none
    if (ar.try_read("seed", seed_t) && seed_t.item<int64_t>() != int64_t(cfg_.seed))
      throw InputError(fmt::format("{}: checkpoint of seed {}, this run's is {}", path, seed_t.item<int64_t>(),
                                   cfg_.seed));
    ar.read("model", model_ar);
    load_module_checked(*model_, model_ar, path, "checkpoint");
    model_->to(device_);
    if (align_) {
      torch::serialize::InputArchive proj_ar;
      ar.read("align_projector", proj_ar);
      load_module_checked(*align_->projector(), proj_ar, path, "checkpoint's alignment projector");
      align_->projector()->to(device_);
    }
    if (method_) {
      torch::serialize::InputArchive method_ar;
      ar.read("method", method_ar);
      load_module_checked(*method_, method_ar, path, "checkpoint's method heads");
      method_->to(device_);
    }
    ar.read("optimizer", opt_ar);
    opt_->load(opt_ar);
    ar.read("step", step_t);
    ar.read("loss_curve", curve_t);
    torch::Tensor seconds_t;  // checkpoints written before it was kept have none
    seconds_before_ = ar.try_read("seconds", seconds_t) ? seconds_t.item<double>() : 0.0;
    auto c = curve_t.contiguous();
    curve.clear();
    for (int64_t i = 0; i + 2 < c.numel(); i += 3)
      curve.push_back({c[i].item<double>(), c[i + 1].item<double>(), c[i + 2].item<double>()});
    // Copied into the EMA tensors where they live (the device; an EMA
    // teacher's own parameters), not swapped for the archive's host tensors.
    torch::NoGradGuard ng;
    for (size_t i = 0; i < ema_.size(); ++i) {
      torch::Tensor saved;
      ar.read(fmt::format("ema_{}", i), saved);
      ema_[i].copy_(saved);
    }
    torch::Tensor digest_t;  // checkpoints written before it was kept have none
    if (ar.try_read("digest", digest_t)) {
      const auto d = digest_t.to(torch::kLong).contiguous();
      NamedTensors read = {{"step", step_t}, {"loss_curve", curve_t}};
      if (seconds_t.defined()) read.insert(read.begin() + 1, {"seconds", seconds_t});
      if (std::string(d.data_ptr<int64_t>(), d.data_ptr<int64_t>() + d.numel()) != state_digest(read))
        throw InputError(path + ": checkpoint damaged (its tensors differ from those it was written with)");
    }
    return step_t.item<int64_t>();
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: unreadable checkpoint ({})", path, load_failure(e)));
  }
}

std::string Trainer::state_digest(const NamedTensors& saved) const {
  NamedTensors named = saved;
  auto model = module_tensors(*model_, "model.");
  named.insert(named.end(), model.begin(), model.end());
  if (align_) {
    auto p = module_tensors(*align_->projector(), "align_projector.");
    named.insert(named.end(), p.begin(), p.end());
  }
  if (method_) {
    auto m = module_tensors(*method_, "method.");
    named.insert(named.end(), m.begin(), m.end());
  }
  for (size_t i = 0; i < ema_.size(); ++i) named.emplace_back(fmt::format("ema_{}", i), ema_[i]);
  size_t k = 0, g = 0;
  for (const auto& group : opt_->param_groups()) {
    // The group's settings, restored from the archive on a load as well.
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    named.emplace_back(fmt::format("adamw.group{}.options", g++),
                       torch::tensor({o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(),
                                      o.weight_decay(), o.amsgrad() ? 1.0 : 0.0},
                                     torch::kFloat64));
    for (const auto& p : group.params()) {
      const auto it = opt_->state().find(p.unsafeGetTensorImpl());
      if (it != opt_->state().end()) {
        const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        named.emplace_back(fmt::format("adamw.{}.exp_avg", k), st.exp_avg());
        named.emplace_back(fmt::format("adamw.{}.exp_avg_sq", k), st.exp_avg_sq());
        named.emplace_back(fmt::format("adamw.{}.step", k), torch::tensor(st.step()));
      }
      ++k;
    }
  }
  return tensors_digest(named);
}

void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  // Per-gradient norms and the scaling as multi-tensor (_foreach) calls: one
  // kernel per group of tensors on a GPU (PyTorch's clip_grad_norm_ with
  // foreach), the same per-tensor kernels on the CPU. The scale stays a
  // device tensor (no .item(), so no host synchronisation):
  // min(1, max_norm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_.
  std::vector<torch::Tensor> norms = torch::_foreach_norm(grads, 2);
  for (auto& n : norms) n = n.to(torch::kFloat32);
  auto coef = (max_norm / (torch::stack(norms).norm(2) + 1e-6)).clamp_max(1.0);
  if (grads.front().scalar_type() == torch::kFloat32) {
    torch::_foreach_mul_(grads, coef);
  } else {
    for (auto& g : grads) g.mul_(coef.to(g.dtype()));
  }
}

void clip_grad_per_param(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard ng;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    auto g = p.mutable_grad();
    // min(1, max_norm / (norm + 1e-6)) per parameter, on the device (no .item()).
    auto coef = (max_norm / (g.norm(2).to(torch::kFloat32) + 1e-6)).clamp_max(1.0);
    g.mul_(coef.to(g.dtype()));
  }
}


torch::Tensor Trainer::step_body(DenoiseStep* denoise, GradReducer* reducer, const std::vector<torch::Tensor>& params,
                                 const torch::Tensor& idx, const torch::Tensor& idx_dev, int64_t step, double lr,
                                 const torch::Tensor* lr_dev) {
  // Names the step in profiles, and lets a test see which operators one step
  // runs (tests/core/train/test_capturable.cpp: what a CUDA graph records).
  RECORD_USER_SCOPE("ldae::train_step");
  torch::Tensor loss;
  if (method_) {  // a baseline (methods/): its own views, passes and loss
    Autocast ac(cfg_.train.bf16, device_);
    loss = method_->loss(model_, idx, step).to(torch::kFloat32);
  } else {
    loss = denoise->loss(model_, idx, idx_dev);
  }
  // Drop the old gradients instead of zeroing them (PyTorch's
  // set_to_none=True): backward then writes fresh buffers, no add pass.
  for (auto p : params) p.mutable_grad() = torch::Tensor();
  loss.backward();
  if (reducer) reducer->finish();
  if (cfg_.train.grad_clip > 0) {
    if (cfg_.train.grad_clip_mode == "per_param") clip_grad_per_param(params, cfg_.train.grad_clip);
    else clip_grad_norm(params, cfg_.train.grad_clip);
  }
  if (lr_dev) {  // being recorded: lr from the device, step counts kept there
    fused_->step_capturable(*lr_dev, /*count_on_host=*/false);
  } else {
    const double wd = weight_decay_at(step, total_);
    for (size_t k = 0; k < opt_->param_groups().size(); ++k) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(opt_->param_groups()[k].options());
      o.lr(lr);
      if (cfg_.train.weight_decay_end >= 0 && decays_[k]) o.weight_decay(wd);
    }
    opt_->step();
  }
  if (!ema_.empty()) {
    torch::NoGradGuard ng;
    // ema = ema x d + w x (1 - d), as two multi-tensor (_foreach) calls: one
    // kernel per group of tensors on a GPU, the same arithmetic as per tensor.
    std::vector<torch::Tensor> weights;
    for (const auto& w : model_->parameters()) weights.push_back(w.detach());
    torch::_foreach_mul_(ema_, cfg_.train.ema);
    torch::_foreach_add_(ema_, weights, 1.0 - cfg_.train.ema);
  }
  return loss;
}

std::shared_ptr<GraphStep> Trainer::graph_for(const DenoiseStep* denoise, int64_t b,
                                              const std::function<void(const std::string&)>& log) {
  if (!cfg_.train.cuda_graph) return nullptr;
  if (!fused_) {  // validate() refuses this in sweeps; a program building its own config may not
    if (log) log("train.cuda_graph: training eagerly: it needs train.fused_adamw = true");
    return nullptr;
  }
  GraphStepInputs in;
  in.cuda = device_.is_cuda(), in.baseline_method = method_ != nullptr, in.alignment = align_ != nullptr;
  in.data_parallel = comm_ != nullptr, in.resident_data = denoise && denoise->resident();
  if (auto why = graph_unsupported(in); !why.empty()) {
    if (log) log("train.cuda_graph: training eagerly: " + why);
    return nullptr;
  }
  return std::make_shared<GraphStep>(device_, b);
}

namespace {
// train.fused_kernels on a GPU the CUDA kernels cannot serve (a build
// without nvcc, another architecture): the run's log says so once.
void say_missing_gpu_kernels(const RunConfig& cfg, const torch::Device& device,
                             const std::function<void(const std::string&)>& log) {
  if (!cfg.train.fused_kernels || !log) return;
  if (auto why = gpu_kernels_missing(device); !why.empty())
    log("train.fused_kernels: " + why + "; the DiT's fused functions take LibTorch's ops on this GPU");
}
}  // namespace

Trainer::StepParts Trainer::step_parts(const TrainData& data, int64_t b, int64_t rank, int64_t world,
                                       const std::function<void(const std::string&)>& log) {
  say_missing_gpu_kernels(cfg_, device_, log);
  const bool same = kept_.graph && kept_.data == &data && kept_.z0.is_same(data.z0) && kept_.b == b &&
                    cfg_.train.cuda_graph && !method_ && !align_ && !comm_;
  if (same) {  // the call holds it (an error then releases it); kept again at the end
    StepParts p = std::move(kept_);
    kept_ = {};
    p.graph->enter();
    if (log) log(kReplayingAKeptRecording);
    return p;
  }
  kept_ = {};  // its pool goes back before this call allocates
  StepParts p;
  p.data = &data, p.z0 = data.z0, p.b = b;
  // The paper's step (methods/denoise.hpp), unless a baseline method replaces it.
  if (!method_) p.denoise = std::make_shared<DenoiseStep>(cfg_, objective_, schedule_, data, device_, rank, world, align_);
  p.graph = graph_for(p.denoise.get(), b, log);
  return p;
}

void Trainer::end_call(StepParts& parts) {
  // The side stream's work is finished before the caller reads the weights
  // (GraphStep::leave, or its destructor).
  if (keep_recorded_ && parts.graph && parts.graph->captured()) {
    parts.graph->leave();
    kept_ = std::move(parts);
  }
  parts = {};
}

bool Trainer::sync_point(LossSum& losses, TrainResult& res, const std::string& ckpt, int64_t step, int64_t total,
                         double lr, bool at_log, bool at_ckpt, bool stop_vote) {
  // [sum of losses, stop votes] over every rank. A checkpoint is written
  // only after its losses were seen finite.
  const int64_t world = comm_ ? comm_->world() : 1;
  auto s = torch::stack({losses.sum.cpu(), torch::tensor(stop_vote ? 1.0 : 0.0, torch::kFloat64)});
  if (comm_) comm_->sum(s);
  const double mean = s[0].item<double>() / double(world * losses.n);
  if (!std::isfinite(mean)) {
    res.status = TrainResult::Failed;
    const std::string where = losses.n == 1 ? fmt::format("at step {}", step)
                                            : fmt::format("in steps {}..{}", step - losses.n + 1, step);
    res.error = fmt::format("non-finite loss {} {} (lr {:.3g}); lower train.base_lr or set train.grad_clip", mean,
                            where, lr);
    return false;
  }
  if (at_log) {
    res.loss_curve.push_back({double(step), mean, lr});
    if (live_ && (!comm_ || comm_->rank() == 0)) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - live_time_).count();
      LiveValues v = {{"loss", mean}, {"lr", lr}};
      if (live_step_ >= 0 && dt > 0) v.emplace_back("images_per_s", double((step - live_step_) * cfg_.train.batch) / dt);
      live_(std::string("train"), step, v);
      live_step_ = step, live_time_ = now;
    }
    losses.shown = fmt::format("loss {:.4f}", mean);
    losses.sum.zero_(), losses.n = 0;
  }
  if (at_ckpt) save(ckpt, step, res.loss_curve);
  if (comm_ && s[1].item<double>() > 0 && step < total) {  // a rank was asked to stop: all stop here
    if (!ckpt.empty() && !at_ckpt) save(ckpt, step, res.loss_curve);
    res.status = TrainResult::Stopped;
    return false;
  }
  return true;
}

namespace {

// This process's share of a global batch of B over `world` processes;
// InputError when B does not split evenly.
int64_t share_of_batch(int64_t B, int64_t world) {
  if (B % world != 0)
    throw InputError(fmt::format("train.batch = {} does not split over {} data-parallel processes; "
                                 "make it a multiple of {}", B, world, world));
  return B / world;
}

}  // namespace

void Trainer::record_step(std::shared_ptr<GraphStep>& graph, DenoiseStep* denoise,
                          const std::vector<torch::Tensor>& params, int64_t step,
                          const std::function<void(const std::string&)>& log) {
  auto why = graph->capture([&](const torch::Tensor& idx_dev, const torch::Tensor& lr_dev) {
    return step_body(denoise, nullptr, params, {}, idx_dev, step, 0.0, &lr_dev);
  });
  if (log) log(why.empty() ? fmt::format("train.cuda_graph: step recorded at step {}; replaying it", step)
                           : "train.cuda_graph: recording failed, training eagerly: " + why);
  if (why.empty()) return;
  graph.reset();
  // The attempt drew from the generators (and installed a fresh CUDA
  // generator state): the eager step that follows draws as an eager run's.
  torch::manual_seed(step_seed(cfg_.seed, step));
}

int64_t Trainer::resume(const std::string& ckpt, std::vector<std::array<double, 3>>& curve,
                        const std::function<void(const std::string&)>& log) {
  live_step_ = 0, live_time_ = std::chrono::steady_clock::now();  // images/s counts from here
  if (ckpt.empty() || !fs::exists(ckpt)) return 0;
  // A load writes into the model, optimizer, heads and EMA copies as it
  // reads: one that fails part-way must leave them as they were, so the run
  // starts afresh exactly as a run that never had the file (host copies,
  // made only when a checkpoint exists).
  std::stringstream before;
  state_archive(0, {}).save_to(before);
  const double seconds = seconds_before_;
  try {
    const int64_t step = load(ckpt, curve);
    if (log) log(fmt::format("resumed from {} at step {}", ckpt, step));
    live_step_ = step;
    return step;
  } catch (const InputError& e) {
    opt_->state().clear();  // a load adds the state it reads and removes none
    std::vector<std::array<double, 3>> none;
    load("the state before " + ckpt, none, &before);
    curve.clear();
    seconds_before_ = seconds;
    // Kept for a look, out of the resume path; rank 0 moves it (every rank
    // read the same file and failed alike; a finished run removes ckpt/).
    // Where it cannot be moved, the first checkpoint written replaces it.
    const std::string aside = ckpt + ".unusable";
    std::string moved = "moved to " + aside;
    if (!comm_ || comm_->rank() == 0) {
      std::error_code ec;
      fs::remove_all(aside, ec);
      fs::rename(ckpt, aside, ec);
      if (ec) moved = fmt::format("left in place ({}: {}), the next checkpoint replaces it", aside, ec.message());
    }
    if (log)
      log(fmt::format("checkpoint {} not used ({}): {}; training starts afresh at step 0", ckpt,
                      reason_about(e.what(), ckpt), moved));
    return 0;
  }
}


TrainResult Trainer::train(const TrainData& data, const std::string& ckpt, const std::atomic<bool>* stop,
                           std::function<void(const std::string&)> log, int64_t max_steps) {
  TrainResult res;
  started_ = std::chrono::steady_clock::now();
  seconds_before_ = 0;
  const int64_t N = data.z0.size(0), B = cfg_.train.batch;
  const int64_t spe = std::max<int64_t>(1, N / B), total = total_steps(N);
  total_ = total;
  const int64_t world = comm_ ? comm_->world() : 1, rank = comm_ ? comm_->rank() : 0;
  const int64_t b = share_of_batch(B, world);  // this process's share of each batch
  int64_t step = resume(ckpt, res.loss_curve, log);
  // train.cuda_graph: eager steps on the graph's stream (lazy init, optimizer
  // state), then one recording; or the recording kept from the last call.
  StepParts parts = step_parts(data, b, rank, world, log);
  DenoiseStep* const denoise = parts.denoise.get();
  std::shared_ptr<GraphStep>& graph = parts.graph;
  const bool resident = denoise && denoise->resident();
  // Data parallel: gradients averaged bucket by bucket while backward runs.
  std::unique_ptr<GradReducer> reducer;
  if (comm_) reducer = std::make_unique<GradReducer>(comm_, trainable(), cfg_.train.bucket_mb);
  const auto params = trainable();
  if (align_) model_->tap(align_->block());
  model_->train();
  constexpr int64_t kEagerBeforeGraph = 3;
  Progress progress("train", total, cfg_.train.log_every, B, log);
  const int64_t first = step;
  EpochOrder order(N, B, spe, uint64_t(cfg_.seed), resident ? device_ : torch::Device(torch::kCPU));
  if (data.begin) data.begin(EpochOrder(N, B, spe, uint64_t(cfg_.seed)), rank * b, b, step,
                             max_steps > 0 ? std::min(total, step + max_steps) : total);
  // The loss is summed on the device and read (a host synchronisation) only
  // at sync points: every log_every steps, at checkpoints and at the end.
  // Data-parallel ranks agree on stopping there too, so a stop request takes
  // effect within log_every steps; one process stops at the next step.
  LossSum losses{torch::zeros({}, torch::dtype(torch::kFloat64).device(device_))};
  auto stop_requested = [&] {
    return (stop && stop->load()) || (max_steps > 0 && step - first >= max_steps);
  };
  while (step < total) {
    if (!comm_ && stop_requested()) {
      if (!ckpt.empty()) save(ckpt, step, res.loss_curve);
      res.status = TrainResult::Stopped;
      break;
    }
    // This process's share of the global batch (all of it without data parallel).
    const auto [idx, idx_dev] = order.batch(step, rank * b, b);
    torch::manual_seed(step_seed(cfg_.seed, step));
    // A replayed step reads lr as float32 from the device: the eager steps of
    // a recorded run use that value too, so a resumed run (whose first steps
    // are eager) matches an uninterrupted one.
    const double lr_exact = lr_at(step, total, spe), lr = graph ? double(float(lr_exact)) : lr_exact;
    if (graph && !graph->captured() && step - first >= kEagerBeforeGraph)
      record_step(graph, denoise, params, step, log);
    torch::Tensor loss;
    if (graph && graph->captured()) {
      loss = graph->replay(idx_dev, lr);
      fused_->count_replay();
    } else {
      loss = step_body(denoise, reducer.get(), params, idx, idx_dev, step, lr, nullptr);
    }
    if (method_) method_->after_step(model_, step);
    losses.sum.add_(loss.detach().to(torch::kFloat64));
    ++losses.n, ++step;
    const bool at_ckpt = !ckpt.empty() && step % cfg_.train.checkpoint_every == 0 && step < total;
    const bool at_log = step % cfg_.train.log_every == 0 || step == total;
    if ((at_log || at_ckpt) &&
        !sync_point(losses, res, ckpt, step, total, lr, at_log, at_ckpt, stop_requested()))
      break;
    if (rank == 0) progress.update(step, first, losses.shown);  // one progress line per run
  }
  model_->tap(-1);
  // Keep the finished weights until the run is recorded: a kill during the
  // probe then costs the probe, not the training.
  if (res.status == TrainResult::Done && !ckpt.empty() && step > first) save(ckpt, step, res.loss_curve);
  end_call(parts);
  res.steps = step;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  res.total_seconds = seconds_before_ + res.seconds;
  return res;
}

}  // namespace ldae
