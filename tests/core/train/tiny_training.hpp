// The small training problem the trainer and alignment tests share: 64
// samples of 16 tokens of 8 values with a random orthonormal basis (d = 3),
// and a 2-block DiT-sized config for l-DAE's objective (3 epochs of 16).
#pragma once
#include <torch/torch.h>

#include "core/config/config.hpp"
#include "core/train/trainer.hpp"

namespace ldae {

inline RunConfig tiny_training_config() {
  RunConfig c;
  c.model.depth = 2, c.model.width = 32, c.model.heads = 2;
  c.train.epochs = 3, c.train.batch = 16, c.train.base_lr = 1e-3;
  c.train.warmup_epochs = 1, c.train.ema = 0.9, c.train.checkpoint_every = 1000;
  c.objective.target = "original_image";
  c.objective.input_scaling = false;
  c.noise.schedule = "linear_sigma";
  return c;
}

inline TrainData tiny_training_data() {
  torch::manual_seed(4);
  TrainData d;
  d.x = torch::randn({64, 16, 8});  // (N, L, D)
  auto q = std::get<0>(torch::linalg_qr(torch::randn({8, 8})));
  d.V_full = q.t().contiguous();
  d.V = d.V_full.slice(0, 0, 3);
  d.z0 = torch::matmul(d.x, d.V.t());
  d.labels = torch::zeros({64}, torch::kLong);
  return d;
}

}  // namespace ldae
