#include "probes/knn_probe.hpp"
#include "core/base/stop.hpp"

#include <algorithm>

#include "core/base/errors.hpp"

namespace ldae {

KnnResult knn_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                    const torch::Tensor& test_x, const torch::Tensor& test_y, int64_t classes,
                    int64_t k, double temperature, bool bf16) {
  torch::NoGradGuard no_grad;
  const int64_t n = train_x.size(0), m = test_x.size(0);
  if (k < 1 || k > n)
    throw InputError("probe.knn_k = " + std::to_string(k) + " must be between 1 and the " +
                     std::to_string(n) + " training images (0 turns the kNN probe off)");
  auto unit = [](const torch::Tensor& x) {  // (rows, F) float32, rows of norm 1
    auto f = x.to(torch::kFloat32);
    return f / f.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
  };
  const bool half = bf16 && train_x.is_cuda();
  const auto tr = half ? unit(train_x).to(torch::kBFloat16) : unit(train_x);
  const auto te = half ? unit(test_x).to(torch::kBFloat16) : unit(test_x);
  const auto ytr = train_y.to(torch::kLong);
  const int64_t top = classes > 5 ? 5 : 1;
  const int64_t block = train_x.is_cuda() ? int64_t(1) << 28 : int64_t(1) << 26;  // floats per (chunk, N) block
  const int64_t chunk = std::max<int64_t>(1, block / std::max<int64_t>(n, 1));
  int64_t hit1 = 0, hit5 = 0;
  for (int64_t a = 0; a < m; a += chunk) {
    check_stop("the kNN probe");
    const int64_t b = std::min(m, a + chunk);
    auto sim = torch::matmul(te.slice(0, a, b), tr.t()).to(torch::kFloat32);  // (c, N) cosine similarities
    auto [s, idx] = sim.topk(k, /*dim=*/1);                 // (c, k)
    auto votes = torch::zeros({b - a, classes}, s.options());
    // exp((s - s_max) / T): the same ranking as exp(s / T) without overflow
    // (float32 overflows at exp(88.7), i.e. for T < 0.0113).
    const auto w = ((s - s.select(1, 0).unsqueeze(1)) / temperature).exp();
    votes.scatter_add_(1, ytr.index_select(0, idx.reshape(-1)).reshape(idx.sizes()), w);
    auto pred = std::get<1>(votes.topk(top, /*dim=*/1));     // (c, top), best first
    auto y = test_y.slice(0, a, b).to(torch::kLong).unsqueeze(1);
    hit1 += pred.slice(1, 0, 1).eq(y).sum().item<int64_t>();
    hit5 += pred.eq(y).any(1).sum().item<int64_t>();
  }
  KnnResult r;
  r.top1 = 100.0 * double(hit1) / double(std::max<int64_t>(m, 1));
  if (classes > 5) r.top5 = 100.0 * double(hit5) / double(std::max<int64_t>(m, 1));
  return r;
}

}  // namespace ldae
