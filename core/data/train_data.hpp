// What a pre-training step reads: the training set as tensors, prepared by
// the run's data and tokenizer stages (core/run/run_data.cpp, pretrain.cpp)
// and consumed by the trainer (core/train) and the methods (methods/).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <utility>

#include "core/data/epoch_order.hpp"

namespace ldae {

struct TrainData {
  torch::Tensor x;       // (N, L, D) clean patches x' (image-space objectives), or undefined
  torch::Tensor z0;      // (N, L, d) clean latents
  torch::Tensor labels;  // (N,) int64
  torch::Tensor V;       // (d, D) kept basis, or undefined for non-linear tokenizers
  torch::Tensor V_full;  // (D, D) full basis
  // Optional (augmentation): fresh latents of a batch of image indices,
  // idx (B,) -> {z0 (B, L, d), x (B, L, D) or undefined}. Called after the
  // step's reseed, so augmented runs resume exactly too.
  std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor&)> batch;
  // Optional (streamed data): called once before the first step with the
  // order the trainer visits the images in, this process's share of every
  // global batch [offset, offset + count), the first step (a resumed run's
  // is mid-epoch) and the step it ends before, so a loader reads ahead what
  // `batch` will be asked for and nothing more.
  std::function<void(const EpochOrder& order, int64_t offset, int64_t count, int64_t first_step, int64_t end_step)>
      begin;
};

}  // namespace ldae
