// AdamW whose step is LibTorch's fused kernel (at::_fused_adamw_: one pass
// over each parameter group, on the CPU or a CUDA device) instead of the
// C++ frontend's eight tensor ops per parameter. Same update as
// torch::optim::AdamW (Loshchilov & Hutter, decoupled weight decay; PyTorch's
// bias correction and eps after the square root), equal up to float
// rounding; same state and archive, so checkpoints of either load into the
// other. The capturable form takes lr as a device scalar and keeps the step
// counts on the device, so a whole training step can be recorded as a CUDA
// graph and replayed (core/train/graph_step.hpp).
#pragma once
#include <torch/torch.h>

#include <unordered_map>
#include <vector>

namespace ldae {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  // One fused update of every parameter that has a gradient, lr from each
  // group's options. Errors: amsgrad (not supported by this class).
  torch::Tensor step(LossClosure closure = nullptr) override;
  // The same update with lr read from `lr` (a 0-dim float32 tensor on the
  // parameters' device) and step counts kept in device tensors, so the call
  // can be captured in a CUDA graph. `count_on_host`: advance the host step
  // counts the archive saves (false while capturing; count_replay() then
  // advances them once per replay).
  void step_capturable(const torch::Tensor& lr, bool count_on_host);
  // After a graph replay: the host step counts of the captured parameters + 1.
  void count_replay();
  void load(torch::serialize::InputArchive& archive) override;

 private:
  struct Group {  // one param group's parameters with gradients, and their state
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  };
  Group gather(torch::optim::OptimizerParamGroup& g, bool count_on_host);
  // The fused update of every group: lr from *lr (a device scalar) or, when
  // null, from each group's options.
  void update(const torch::Tensor* lr, bool count_on_host);
  std::vector<torch::Tensor> captured_;                  // parameters the last update touched
  std::unordered_map<void*, torch::Tensor> device_steps_;  // per parameter, float32 on its device
};

}  // namespace ldae
