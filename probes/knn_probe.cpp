#include "probes/knn_probe.hpp"
#include "core/base/stop.hpp"

#include <algorithm>

#include "core/base/errors.hpp"
#include "core/base/progress.hpp"

namespace ldae {

namespace {
// Test rows' neighbours voted and counted: s (c, k) similarities, best
// first, of neighbours with labels (c, k) int64; votes exp((s - s_max) / T),
// the same ranking as exp(s / T) without overflow (float32 overflows at
// exp(88.7), i.e. for T < 0.0113).
struct KnnHits {
  int64_t hit1 = 0, hit5 = 0;
  void add(const torch::Tensor& s, const torch::Tensor& labels, const torch::Tensor& test_y, int64_t classes,
           double temperature) {
    auto votes = torch::zeros({s.size(0), classes}, s.options());
    const auto w = ((s - s.select(1, 0).unsqueeze(1)) / temperature).exp();
    votes.scatter_add_(1, labels, w);
    auto pred = std::get<1>(votes.topk(classes > 5 ? 5 : 1, /*dim=*/1));  // (c, top), best first
    auto y = test_y.to(torch::kLong).unsqueeze(1);
    hit1 += pred.slice(1, 0, 1).eq(y).sum().item<int64_t>();
    hit5 += pred.eq(y).any(1).sum().item<int64_t>();
  }
  KnnResult result(int64_t m, int64_t classes) const {
    KnnResult r;
    r.top1 = 100.0 * double(hit1) / double(std::max<int64_t>(m, 1));
    if (classes > 5) r.top5 = 100.0 * double(hit5) / double(std::max<int64_t>(m, 1));
    return r;
  }
};

void check_k(int64_t k, int64_t n) {
  if (k < 1 || k > n)
    throw InputError("probe.knn_k = " + std::to_string(k) + " must be between 1 and the " +
                     std::to_string(n) + " training images (0 turns the kNN probe off)");
}

// (rows, F) rows of norm 1, computed in float32 and kept as bf16 when `half`.
torch::Tensor unit_rows(const torch::Tensor& x, bool half) {
  auto f = x.to(torch::kFloat32);
  f = f / f.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
  return half ? f.to(torch::kBFloat16) : f;
}
}  // namespace

KnnResult knn_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                    const torch::Tensor& test_x, const torch::Tensor& test_y, int64_t classes,
                    int64_t k, double temperature, bool bf16) {
  torch::NoGradGuard no_grad;
  const int64_t n = train_x.size(0), m = test_x.size(0);
  check_k(k, n);
  const bool half = bf16 && train_x.is_cuda();
  const auto tr = unit_rows(train_x, half), te = unit_rows(test_x, half);
  const auto ytr = train_y.to(torch::kLong);
  const int64_t block = train_x.is_cuda() ? int64_t(1) << 28 : int64_t(1) << 26;  // floats per (chunk, N) block
  const int64_t chunk = std::max<int64_t>(1, block / std::max<int64_t>(n, 1));
  KnnHits hits;
  for (int64_t a = 0; a < m; a += chunk) {
    check_stop("the kNN probe");
    const int64_t b = std::min(m, a + chunk);
    auto sim = torch::matmul(te.slice(0, a, b), tr.t()).to(torch::kFloat32);  // (c, N) cosine similarities
    auto [s, idx] = sim.topk(k, /*dim=*/1);                 // (c, k)
    hits.add(s, ytr.index_select(0, idx.reshape(-1)).reshape(idx.sizes()), test_y.slice(0, a, b), classes,
             temperature);
  }
  return hits.result(m, classes);
}

KnnResult knn_probe(const FeatureRows& train_x, const torch::Tensor& train_y, const FeatureRows& test_x,
                    const torch::Tensor& test_y, int64_t classes, int64_t k, double temperature, bool bf16,
                    int64_t held_test) {
  if (train_x.held() && test_x.held())
    return knn_probe(train_x.all, train_y, test_x.all, test_y, classes, k, temperature, bf16);
  torch::NoGradGuard no_grad;
  const int64_t n = train_x.n, m = test_x.n, pass = std::max<int64_t>(1, held_test);
  check_k(k, n);
  const bool half = bf16 && train_x.device.is_cuda();
  const auto ytr = train_y.to(torch::kLong);
  const int64_t passes = (m + pass - 1) / pass;
  KnnHits hits;
  for (int64_t a = 0; a < m; a += pass) {
    const int64_t b = std::min(m, a + pass);
    // (c, F) normalised, held for the pass: filled a block of rows at a time,
    // so reading it holds one block's copies beside it, not the pass's.
    auto te = torch::empty({b - a, test_x.width},
                           torch::dtype(half ? torch::kBFloat16 : torch::kFloat32).device(test_x.device));
    for (int64_t lo = a; lo < b; lo += test_x.block()) {
      const int64_t hi = std::min(b, lo + test_x.block());
      te.slice(0, lo - a, hi - a).copy_(unit_rows(test_x.rows(lo, hi), half));
    }
    // Train rows 128 MB at a time (each block's product reads the whole pass:
    // wider blocks, fewer reads), the (c, block) similarities at most 256 MB.
    const int64_t block =
        std::max<int64_t>(1, std::min(train_x.block(4096, int64_t(1) << 25), (int64_t(1) << 26) / (b - a)));
    const int64_t blocks = (n + block - 1) / block;  // plain lines: each tenth of a pass (a short pass: its end)
    Progress progress(fmt::format("kNN pass {}/{}", a / pass + 1, passes), blocks,
                      std::max<int64_t>(10, blocks / 10), block, nullptr);
    torch::Tensor best_s, best_i;  // (c, <= k): the k most similar so far, best first; their rows
    for (int64_t lo = 0, done = 1; lo < n; lo += block, ++done) {
      check_stop("the kNN probe");
      const int64_t hi = std::min(n, lo + block);
      auto sim = torch::matmul(te, unit_rows(train_x.rows(lo, hi), half).t()).to(torch::kFloat32);  // (c, hi - lo)
      auto [s, i] = sim.topk(std::min(k, hi - lo), /*dim=*/1);
      i = i + lo;
      if (best_s.defined()) s = torch::cat({best_s, s}, 1), i = torch::cat({best_i, i}, 1);
      auto [top_s, j] = s.topk(std::min<int64_t>(k, s.size(1)), /*dim=*/1);
      best_s = top_s, best_i = i.gather(1, j);
      progress.update(done, 0, "");
    }
    hits.add(best_s, ytr.index_select(0, best_i.reshape(-1)).reshape(best_i.sizes()), test_y.slice(0, a, b),
             classes, temperature);
  }
  return hits.result(m, classes);
}

}  // namespace ldae
