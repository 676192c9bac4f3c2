#include <gtest/gtest.h>

#include "core/base/errors.hpp"
#include "probes/knn_probe.hpp"
#include "tests/probes/blobs.hpp"

using namespace ldae;

TEST(KnnProbe, HandCountedVotes) {
  // Unit vectors at angles (degrees) in 2-D; the test point at 0 degrees.
  auto at = [](std::vector<double> deg) {
    auto a = torch::tensor(deg, torch::kFloat64) * (M_PI / 180.0);
    return torch::stack({a.cos(), a.sin()}, 1).to(torch::kFloat32) * 3.0;  // norms do not matter
  };
  auto train = at({10, 20, 30, 170});
  auto y = torch::tensor({1, 0, 0, 1}, torch::kLong);
  auto test = at({0});
  auto yt = torch::tensor({0}, torch::kLong);
  // k = 1: the nearest (10 degrees) is class 1.
  EXPECT_EQ(knn_probe(train, y, test, yt, 2, 1, 0.07).top1, 0.0);
  // k = 3, T large: near-equal weights, two votes of class 0 beat one of class 1.
  EXPECT_EQ(knn_probe(train, y, test, yt, 2, 3, 100.0).top1, 100.0);
  // k = 3, T small: exp(cos / T) lets the single nearest win:
  // w(10) = exp(0.9848 / T) > w(20) + w(30) = exp(0.9397 / T) + exp(0.8660 / T) for T = 0.01
  // (where exp(cos / T) itself would overflow float32: weights are taken relative to the best).
  EXPECT_EQ(knn_probe(train, y, test, yt, 2, 3, 0.01).top1, 0.0);
}

TEST(KnnProbe, ChunkedEqualsOneRowAtATime) {
  // 70,000 training rows: test rows go in chunks of 958, so 2,000 test rows
  // span three chunks; the answer must equal a plain per-row computation.
  torch::manual_seed(3);
  const int64_t n = 70000, m = 2000, classes = 10, k = 20;
  auto tr = torch::randn({n, 8}), te = torch::randn({m, 8});
  auto ytr = torch::randint(classes, {n}, torch::kLong), yte = torch::randint(classes, {m}, torch::kLong);
  auto r = knn_probe(tr, ytr, te, yte, classes, k, 0.07);
  auto trn = tr / tr.norm(2, 1, true), ten = te / te.norm(2, 1, true);
  int64_t hit1 = 0, hit5 = 0;
  for (int64_t i = 0; i < m; ++i) {
    auto [s, idx] = torch::matmul(trn, ten[i]).topk(k);
    std::vector<double> votes(classes, 0.0);
    for (int64_t j = 0; j < k; ++j) votes[ytr[idx[j].item<int64_t>()].item<int64_t>()] += std::exp(s[j].item<double>() / 0.07);
    std::vector<int64_t> order(classes);
    for (int64_t c = 0; c < classes; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return votes[a] > votes[b]; });
    const int64_t y = yte[i].item<int64_t>();
    hit1 += order[0] == y;
    hit5 += std::find(order.begin(), order.begin() + 5, y) != order.begin() + 5;
  }
  EXPECT_NEAR(r.top1, 100.0 * hit1 / m, 0.051);  // at most one tie broken differently
  EXPECT_NEAR(r.top5, 100.0 * hit5 / m, 0.051);
  EXPECT_GT(r.top5, r.top1);
}

TEST(KnnProbe, ClustersAndChance) {
  torch::manual_seed(5);
  const int K = 6, F = 16;
  auto [xtr, ytr, xte, yte] = gaussian_blobs(K, F, 1500, 500);
  auto r = knn_probe(xtr, ytr, xte, yte, K, 20, 0.07);
  EXPECT_GE(r.top1, 95.0);
  EXPECT_GE(r.top5, r.top1);
  // Labels unrelated to the features: chance (1/6 = 16.7%).
  auto noise = knn_probe(torch::randn({1500, F}), ytr, torch::randn({500, F}), yte, K, 20, 0.07);
  EXPECT_LT(noise.top1, 26.0);
  EXPECT_EQ(knn_probe(xtr, ytr.remainder(4), xte, yte.remainder(4), 4, 20, 0.07).top5, -1);  // <= 5 classes
}

TEST(KnnProbe, MoreNeighboursThanImagesIsAnInputError) {
  auto x = torch::randn({10, 4});
  auto y = torch::zeros({10}, torch::kLong);
  EXPECT_THROW(knn_probe(x, y, x, y, 2, 11, 0.07), InputError);
  EXPECT_THROW(knn_probe(x, y, x, y, 2, 0, 0.07), InputError);
}

TEST(KnnProbe, Bf16IsForGpusOnly) {
  // On the CPU the flag changes nothing (recorded CPU results stay as they
  // were); on a GPU the bf16 products give the fp32 accuracy to a few
  // borderline test images.
  torch::manual_seed(6);
  const int K = 6, F = 32;
  auto centers = torch::randn({K, F}) * 1.5;
  auto make = [&](int n) {
    auto y = torch::randint(K, {n}, torch::kLong);
    return std::make_pair(centers.index_select(0, y) + torch::randn({n, F}), y);
  };
  auto [xtr, ytr] = make(3000);
  auto [xte, yte] = make(1000);
  auto fp32 = knn_probe(xtr, ytr, xte, yte, K, 20, 0.07);
  auto cpu_bf16 = knn_probe(xtr, ytr, xte, yte, K, 20, 0.07, /*bf16=*/true);
  EXPECT_EQ(fp32.top1, cpu_bf16.top1);
  EXPECT_EQ(fp32.top5, cpu_bf16.top5);
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible for the bf16 half";
  auto gpu = knn_probe(xtr.cuda(), ytr.cuda(), xte.cuda(), yte.cuda(), K, 20, 0.07, /*bf16=*/true);
  EXPECT_NEAR(gpu.top1, fp32.top1, 1.0);  // at most 10 of 1000 images flip
  EXPECT_NEAR(gpu.top5, fp32.top5, 1.0);
}
