// Seeds derived from a run's seed: every random draw of a step, an epoch's
// order, a probe's batch, depends only on (seed, counter), so a resumed run
// draws what an uninterrupted one draws.
#pragma once
#include <cstdint>

namespace ldae {

// Seed for step `step` of a run with seed `seed`: splitmix64 of both,
// shifted to 63 bits so it is a valid torch seed (int64-friendly).
inline uint64_t step_seed(uint64_t seed, uint64_t step) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + step + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (z ^ (z >> 31)) >> 1;
}

}  // namespace ldae
