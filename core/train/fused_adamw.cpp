#include "core/train/fused_adamw.hpp"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_fused_adamw.h>

namespace ldae {
namespace {
const torch::optim::AdamWOptions& options_of(torch::optim::OptimizerParamGroup& g) {
  auto& o = static_cast<torch::optim::AdamWOptions&>(g.options());
  TORCH_CHECK(!o.amsgrad(), "FusedAdamW: amsgrad is not supported");
  return o;
}
}  // namespace

FusedAdamW::Group FusedAdamW::gather(torch::optim::OptimizerParamGroup& g, bool count_on_host) {
  Group out;
  for (auto& p : g.params()) {
    if (!p.grad().defined()) continue;
    void* key = p.unsafeGetTensorImpl();
    // While a graph records (no host counting), state made now would be
    // re-zeroed by every replay: it must exist from an eager step.
    TORCH_CHECK(count_on_host || (state_.count(key) && device_steps_.count(key)),
                "FusedAdamW: a parameter without optimizer state while recording; take an eager step first");
    auto& slot = state_[key];
    if (!slot) {  // as torch::optim::AdamW creates it
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(0);
      s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(s);
    }
    auto& s = static_cast<torch::optim::AdamWParamState&>(*slot);
    // The kernel reads each parameter's step count from a float32 tensor on
    // the parameter's device; it starts from the host count (a resumed run's).
    auto it = device_steps_.find(key);
    if (it == device_steps_.end())
      it = device_steps_.emplace(key, torch::full({}, double(s.step()), p.options().dtype(torch::kFloat32))).first;
    if (count_on_host) s.step(s.step() + 1);
    out.params.push_back(p);
    out.grads.push_back(p.grad());
    out.exp_avgs.push_back(s.exp_avg());
    out.exp_avg_sqs.push_back(s.exp_avg_sq());
    out.steps.push_back(it->second);
  }
  // Advanced before the update, as PyTorch's fused path does: one kernel.
  if (!out.steps.empty()) at::_foreach_add_(out.steps, 1);
  return out;
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode grad(true);
    loss = closure();
  }
  update(nullptr, /*count_on_host=*/true);
  return loss;
}

void FusedAdamW::step_capturable(const torch::Tensor& lr, bool count_on_host) { update(&lr, count_on_host); }

void FusedAdamW::update(const torch::Tensor* lr, bool count_on_host) {
  torch::NoGradGuard ng;
  captured_.clear();
  for (auto& g : param_groups_) {
    const auto& o = options_of(g);
    Group gr = gather(g, count_on_host);
    if (gr.params.empty()) continue;
    captured_.insert(captured_.end(), gr.params.begin(), gr.params.end());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    if (lr)
      at::_fused_adamw_(gr.params, gr.grads, gr.exp_avgs, gr.exp_avg_sqs, {}, gr.steps, *lr, beta1, beta2,
                        o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
    else
      at::_fused_adamw_(gr.params, gr.grads, gr.exp_avgs, gr.exp_avg_sqs, {}, gr.steps, o.lr(), beta1, beta2,
                        o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
}

void FusedAdamW::count_replay() {
  for (auto& p : captured_) {
    auto& s = static_cast<torch::optim::AdamWParamState&>(*state_.at(p.unsafeGetTensorImpl()));
    s.step(s.step() + 1);
  }
}

void FusedAdamW::load(torch::serialize::InputArchive& archive) {
  torch::optim::AdamW::load(archive);
  device_steps_.clear();  // re-read from the loaded host counts
}

}  // namespace ldae
