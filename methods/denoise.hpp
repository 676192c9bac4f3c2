// The paper's pre-training step (method.name = "denoise", the default): a
// batch of clean latents z0 (b, L, d) is noised at uniformly drawn steps t,
// z_t = gamma_t z0 + sigma_t eps (core/diffusion/noise.hpp; without input scaling
// z0 + sigma_t eps), mapped to the network's input space (latent, or image
// space through the PCA basis V), and the backbone's prediction is scored
// against the objective's target with its weight lambda_t
// (core/diffusion/objective.hpp, paper Sec. 4 and Eq. 1-2); plugin axes may corrupt,
// re-target and add losses; representation alignment adds its term; with
// objective.learn_sigma the output's second half is DiT's learned variance,
// trained by the VLB term (core/diffusion/learned_variance.hpp).
// Randomness: t and eps are drawn for the whole global batch and sliced, so
// data-parallel ranks see one process's noise.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "backbones/backbone.hpp"
#include "core/diffusion/alignment.hpp"
#include "core/config/config.hpp"
#include "core/diffusion/learned_variance.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"

namespace ldae {

struct TrainData;

class DenoiseStep {
 public:
  // The schedule's tables and the training data, prepared once on `device`
  // (the latents stay there when they fit, else they stream per batch).
  // This process is `rank` of `world`, with b = batch / world samples.
  DenoiseStep(const RunConfig& cfg, const Objective& objective, const Schedule& schedule, const TrainData& data,
              torch::Device device, int64_t rank, int64_t world, std::shared_ptr<Alignment> align);
  // The loss of this process's images: idx (b,) on the host, idx_dev (b,)
  // where the data live (resident()). Call after the step's reseed.
  torch::Tensor loss(Backbone& model, const torch::Tensor& idx, const torch::Tensor& idx_dev);
  // True when the training data live on the device for the whole run.
  bool resident() const { return resident_; }

 private:
  torch::Tensor upload(torch::Tensor t) const;  // a host batch -> the device, overlapping when it can

  const RunConfig& cfg_;
  const Objective& objective_;
  const Schedule& schedule_;
  const TrainData& data_;
  torch::Device device_;
  int64_t rank_, B_, b_, d_;
  std::shared_ptr<Alignment> align_;
  bool velocity_, need_x_, resident_;
  torch::Tensor V_, V_full_, gammas_, sigmas_, dgammas_, dsigmas_;  // on the device
  torch::Tensor z0_all_, x_all_, labels_all_;                        // resident or host
  VarianceTableTensors variance_;  // learn_sigma: the VLB's tables on the device
};

}  // namespace ldae
