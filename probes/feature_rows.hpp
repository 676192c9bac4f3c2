// The rows a probe reads: a feature matrix (n, width) held in memory, or
// made on demand from a store too large to hold (the raw-pixel anchor at
// ImageNet scale: 1.28 M rows of 3 x 256 x 256 pixels are 0.9 TiB as
// float32). The probes read either kind the same way, a range or a set of
// rows at a time.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <functional>

namespace ldae {

struct FeatureRows {
  int64_t n = 0, width = 0;
  torch::Device device = torch::kCPU;  // where rows come out
  torch::Tensor all;                   // (n, width) when held; undefined when made on demand
  std::function<torch::Tensor(int64_t, int64_t)> range;     // rows [lo, hi) -> (hi - lo, width) float32
  std::function<torch::Tensor(const torch::Tensor&)> pick;  // rows idx (b,) int64 -> (b, width) float32
  int64_t block_rows = 0;  // > 0: rows per block when made on demand (tests), else by the width

  bool held() const { return all.defined(); }
  torch::Tensor rows(int64_t lo, int64_t hi) const { return held() ? all.slice(0, lo, hi) : range(lo, hi); }
  torch::Tensor at(const torch::Tensor& idx) const { return held() ? all.index_select(0, idx) : pick(idx); }
  // Rows read at once when made on demand: `floats` float32 values (64 MB:
  // 85 rows of 196,608 raw pixels), at most `cap` rows.
  int64_t block(int64_t cap = 4096, int64_t floats = int64_t(1) << 24) const {
    if (block_rows > 0) return std::min(block_rows, cap);
    return std::max<int64_t>(1, std::min<int64_t>(cap, floats / std::max<int64_t>(width, 1)));
  }
};

// A held matrix x (n, width), rows on x's device.
inline FeatureRows held_rows(const torch::Tensor& x) {
  FeatureRows r;
  r.n = x.size(0), r.width = x.size(1), r.device = x.device(), r.all = x;
  return r;
}

}  // namespace ldae
