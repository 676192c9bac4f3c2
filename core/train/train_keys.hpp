// The train.* keys (core/config/keys.hpp) and their checks.
#pragma once
#include "core/config/keys.hpp"

namespace ldae {

// Rows of train.*: length, batch, AdamW and its schedule, EMA, clipping,
// precision, device, and the cadences and knobs outside the run id.
KeyRows train_keys();
// A replayed CUDA graph needs the capturable (fused) optimizer.
void check_train(const RunConfig& c, const Fail& fail);

}  // namespace ldae
