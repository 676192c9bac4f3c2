#include "core/train/train_keys.hpp"

namespace ldae {

KeyRows train_keys() {
  // Threads, logging and checkpoint cadence, the gradient bucket and whether
  // the step is replayed as a CUDA graph (the same kernels on the same data)
  // do not change what a run computes: they stay out of its identity.
  return {
      field("train.epochs", &RunConfig::train, &TrainConfig::epochs, 0, 1e6),
      field("train.batch", &RunConfig::train, &TrainConfig::batch, 1, 1e7),
      field("train.base_lr", &RunConfig::train, &TrainConfig::base_lr, 0, 10),
      field("train.warmup_epochs", &RunConfig::train, &TrainConfig::warmup_epochs, 0, 1e6),
      field("train.min_lr", &RunConfig::train, &TrainConfig::min_lr, 0, 10),
      field("train.weight_decay", &RunConfig::train, &TrainConfig::weight_decay, 0, 10),
      field("train.weight_decay_end", &RunConfig::train, &TrainConfig::weight_decay_end, -1, 10),
      field("train.wd_exclude_1d", &RunConfig::train, &TrainConfig::wd_exclude_1d),
      below(field("train.beta2", &RunConfig::train, &TrainConfig::beta2, 0, 1), "never updates AdamW's second moment"),
      below(field("train.ema", &RunConfig::train, &TrainConfig::ema, 0, 1), "keeps the average at the initial weights, which evaluation then reads (0 turns the EMA off)"),
      field("train.grad_clip", &RunConfig::train, &TrainConfig::grad_clip, 0, 1e6),
      choice(field("train.grad_clip_mode", &RunConfig::train, &TrainConfig::grad_clip_mode), fixed({"global", "per_param"})),
      field("train.bf16", &RunConfig::train, &TrainConfig::bf16),
      choice(field("train.device", &RunConfig::train, &TrainConfig::device), fixed({"cpu", "cuda", "auto"})),
      not_in_id(field("train.threads", &RunConfig::train, &TrainConfig::threads, 0, 4096)),
      not_in_id(field("train.checkpoint_every", &RunConfig::train, &TrainConfig::checkpoint_every, 1, 1e9)),
      not_in_id(field("train.log_every", &RunConfig::train, &TrainConfig::log_every, 1, 1e9)),
      not_in_id(field("train.bucket_mb", &RunConfig::train, &TrainConfig::bucket_mb, 1e-6, 1e6)),
      field("train.fused_adamw", &RunConfig::train, &TrainConfig::fused_adamw),
      field("train.fused_kernels", &RunConfig::train, &TrainConfig::fused_kernels),
      not_in_id(field("train.cuda_graph", &RunConfig::train, &TrainConfig::cuda_graph)),
      not_in_id(field("train.live_log", &RunConfig::train, &TrainConfig::live_log)),
  };
}

void check_train(const RunConfig& c, const Fail& fail) {
  if (c.train.min_lr > c.train.base_lr * c.train.batch / 256.0)
    fail("train.min_lr", fmt::format("the cosine's floor {} is above the peak lr {} (train.base_lr x train.batch / "
                                     "256): lower train.min_lr (DINO: 1e-6)", c.train.min_lr,
                                     c.train.base_lr * c.train.batch / 256.0));
  if (c.train.grad_clip_mode != "global" && c.train.grad_clip == 0)
    fail("train.grad_clip_mode", "says how to clip, but train.grad_clip = 0 turns clipping off: set "
                                 "train.grad_clip (DINO: 3.0) or drop train.grad_clip_mode");
  if (c.train.weight_decay_end > -1 && c.train.weight_decay_end < 0)
    fail("train.weight_decay_end", "a weight decay cannot be negative: -1 keeps train.weight_decay constant, "
                                   "a value >= 0 is the end of its cosine schedule");
  if (c.train.cuda_graph && c.train.weight_decay_end >= 0)
    fail("train.cuda_graph", "a replayed step keeps the weight decay it was recorded with: drop "
                             "train.weight_decay_end (a constant decay) or train.cuda_graph");
  if (c.train.cuda_graph && !c.train.fused_adamw)
    fail("train.cuda_graph", "a replayed step updates the weights inside the graph, which needs the "
                             "capturable optimizer: set train.fused_adamw = true as well");
}

}  // namespace ldae
