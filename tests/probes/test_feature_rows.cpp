// The probes on rows made on demand (probes/feature_rows.hpp: the streamed
// raw-pixel anchor) against the same probes on the rows held.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/base/errors.hpp"
#include "probes/feature_rows.hpp"
#include "probes/knn_probe.hpp"
#include "probes/linear_probe.hpp"
#include "tests/probes/blobs.hpp"

using namespace ldae;

namespace {
// x's rows made on demand, `block` rows per block; *widest: the most rows
// any one read returned (nothing may read the whole matrix).
FeatureRows rows_on_demand(const torch::Tensor& x, int64_t block, int64_t* widest) {
  FeatureRows r;
  r.n = x.size(0), r.width = x.size(1), r.block_rows = block;
  r.range = [x, widest](int64_t lo, int64_t hi) {
    *widest = std::max(*widest, hi - lo);
    return x.slice(0, lo, hi).clone();
  };
  r.pick = [x, widest](const torch::Tensor& idx) {
    *widest = std::max(*widest, idx.size(0));
    return x.index_select(0, idx);
  };
  return r;
}
}  // namespace

TEST(FeatureRows, LinearProbeOnDemandTrainsTheHeldProbe) {
  torch::manual_seed(4);
  auto [xtr, ytr, xte, yte] = gaussian_blobs(8, 24, 600, 130);
  ProbeConfig c;
  c.epochs = 4;
  c.batch = 64;
  int64_t widest = 0;
  const auto held = linear_probe(xtr, ytr, xte, yte, 8, c, 7);
  const auto made = linear_probe(rows_on_demand(xtr, 50, &widest), ytr, rows_on_demand(xte, 50, &widest), yte, 8, c, 7);
  ASSERT_EQ(held.curve.size(), made.curve.size());
  for (size_t e = 0; e < held.curve.size(); ++e) {
    EXPECT_EQ(held.curve[e][1], made.curve[e][1]) << "epoch " << e + 1 << ": the same batches, the same loss";
    EXPECT_EQ(held.curve[e][3], made.curve[e][3]) << "epoch " << e + 1;
    // The epoch's trained batches' accuracy, not a second pass: in range, and
    // high once the blobs are separated.
    EXPECT_GE(made.curve[e][2], 0.0);
    EXPECT_LE(made.curve[e][2], 100.0);
  }
  EXPECT_GT(made.curve.back()[2], 90.0);
  EXPECT_EQ(held.top1, made.top1);
  EXPECT_EQ(held.top5, made.top5);
  EXPECT_LE(widest, 64) << "a read returned more than a batch or a block";
}

TEST(FeatureRows, KnnInPassesEqualsTheHeldProbe) {
  // 9 test rows a pass (4 passes over the training rows), blocks of 3
  // training rows (fewer than k = 5: every block's best merged with the
  // best so far), 10 classes (top-5 counted too).
  torch::manual_seed(5);
  auto [xtr, ytr, xte, yte] = gaussian_blobs(10, 16, 400, 31);
  xtr = xtr + 6.0 * torch::randn_like(xtr);  // overlapping blobs: neighbours of other classes vote too
  const auto held = knn_probe(xtr, ytr, xte, yte, 10, 5, 0.07);
  for (int64_t block : {3, 64, 4096}) {
    int64_t widest = 0;
    const auto made = knn_probe(rows_on_demand(xtr, block, &widest), ytr, rows_on_demand(xte, block, &widest), yte, 10, 5,
                                0.07, false, 9);
    EXPECT_EQ(held.top1, made.top1) << "blocks of " << block;
    EXPECT_EQ(held.top5, made.top5) << "blocks of " << block;
    EXPECT_LE(widest, std::max<int64_t>(block, 9));
  }
  EXPECT_GT(held.top1, 10.0);
  EXPECT_LT(held.top1, 100.0);  // not trivial: some test rows' neighbours disagree
}

TEST(FeatureRows, KnnOnDemandRefusesAKBeyondTheTrainingRows) {
  int64_t widest = 0;
  auto x = torch::randn({6, 4});
  auto y = torch::zeros({6}, torch::kLong);
  EXPECT_THROW(knn_probe(rows_on_demand(x, 2, &widest), y, rows_on_demand(x, 2, &widest), y, 2, 7, 0.07, false, 3),
               InputError);
}
