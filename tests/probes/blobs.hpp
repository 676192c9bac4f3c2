// Test data of the probes: K Gaussian blobs in F dimensions (centres drawn
// N(0, 9 I), each point its centre + N(0, 0.25 I)), so a linear classifier
// (and kNN) separates them; drawn from the global generator (seed it first).
#pragma once
#include <torch/torch.h>

#include <utility>

namespace ldae {

struct Blobs {
  torch::Tensor xtr, ytr, xte, yte;  // (n, F) float, (n,) int64
};

inline Blobs gaussian_blobs(int64_t K, int64_t F, int64_t n_train, int64_t n_test) {
  auto centers = torch::randn({K, F}) * 3.0;
  auto make = [&](int64_t n) {
    auto y = torch::randint(K, {n}, torch::kLong);
    return std::make_pair(centers.index_select(0, y) + 0.5 * torch::randn({n, F}), y);
  };
  auto [xtr, ytr] = make(n_train);
  auto [xte, yte] = make(n_test);
  return {xtr, ytr, xte, yte};
}

}  // namespace ldae
