// The learning-rate schedule the trainer and fine-tuning share (MAE's
// util/lr_sched.py per step, l-DAE's pre-training, DINO's cosine_scheduler
// with its min_lr): a linear warm-up, then a half cycle of a cosine.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ldae {

// lr at `step` of `total`: (step + 1) / warm x peak over the first `warm`
// steps, then floor + (peak - floor) (1 + cos(pi progress)) / 2, progress
// running from 0 at step `warm` to 1 at step `total`. floor = 0 gives the
// bare cosine bit for bit (0 + x and x - 0 are exact).
inline double warmup_cosine(int64_t step, int64_t warm, int64_t total, double peak, double floor) {
  if (step < warm) return peak * double(step + 1) / double(warm);
  const double progress = double(step - warm) / double(std::max<int64_t>(1, total - warm));
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace ldae
