#include "tokenizers/linear.hpp"

#include <Eigen/Dense>
#include <fmt/core.h>

#include "core/records/h5.hpp"

namespace ldae {
namespace {

std::vector<double> to_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

torch::Tensor from_vec(const std::vector<double>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<double*>(v.data()), shape, torch::kFloat64)
      .to(torch::kFloat32)
      .clone();
}

}  // namespace

torch::Tensor LinearTokenizer::encode(const torch::Tensor& images) const {
  return torch::matmul(to_patch_space(images), V().t());  // (B, L, D) x (D, d)
}

torch::Tensor LinearTokenizer::decode(const torch::Tensor& tokens) const {
  return from_patch_space(torch::matmul(tokens, V()), C_, H_, W_);  // (B, L, D)
}

void LinearTokenizer::set_scale(bool enabled, const torch::Tensor& kept) {
  scale_ = enabled ? std::sqrt(kept.mean().item<double>()) : 1.0;
  if (!(scale_ > 1e-12)) scale_ = 1.0;  // constant images: nothing to scale
}

void LinearTokenizer::save(const std::string& path) const {
  H5File f(path, H5File::Create);
  write_header(f);
  const uint64_t D = uint64_t(basis_.size(0));
  f.write("mean", to_vec(mean_), {D});
  f.write("basis", to_vec(basis_), {D, D});
  f.write("eigenvalues", to_vec(eigenvalues_), {D});
}

void LinearTokenizer::load(const std::string& path) {
  H5File f(path, H5File::Read);
  read_header(f);
  std::vector<uint64_t> shape;
  auto basis = f.read_f64("basis", &shape);
  const int64_t D = int64_t(shape.at(0));
  basis_ = from_vec(basis, {D, D});
  mean_ = from_vec(f.read_f64("mean"), {D});
  eigenvalues_ = from_vec(f.read_f64("eigenvalues"), {D});
}

PixelTokenizer::PixelTokenizer(const TokenizerConfig& c, int channels)
    : scale_enabled_(c.scale) {
  patch_ = c.patch;
  d_ = c.patch * c.patch * channels;  // the identity keeps every dimension
  C_ = channels;
}

void PixelTokenizer::fit(const torch::Tensor& images, uint64_t) {
  torch::NoGradGuard ng;
  C_ = int(images.size(1)), H_ = int(images.size(2)), W_ = int(images.size(3));
  const int64_t D = int64_t(patch_) * patch_ * C_;
  mean_ = torch::zeros({D});
  basis_ = torch::eye(D);
  auto patches = patchify(images, patch_).reshape({-1, D});
  eigenvalues_ = patches.var(/*dim=*/0);  // per-pixel variances (not sorted)
  scale_ = 1.0;
  set_scale(scale_enabled_, eigenvalues_);
}

PcaFit pca_fit(Eigen::MatrixXd X) {
  const auto n = X.rows();
  PcaFit f;
  f.mean = X.colwise().mean().transpose();
  X.rowwise() -= f.mean.transpose();
  Eigen::MatrixXd cov = (X.transpose() * X) / double(n - 1);  // (D, D)
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  // Eigen sorts ascending; components are kept by decreasing variance.
  f.eigenvalues = eig.eigenvalues().reverse();
  f.basis = eig.eigenvectors().rowwise().reverse().transpose();
  return f;
}

PatchPcaTokenizer::PatchPcaTokenizer(const TokenizerConfig& c, int channels)
    : fit_patches_(c.fit_patches), scale_enabled_(c.scale) {
  patch_ = c.patch;
  d_ = c.d;
  C_ = channels;
}

void PatchPcaTokenizer::fit(const torch::Tensor& images, uint64_t seed) {
  fit_batches(image_batches(images), seed);
}

void PatchPcaTokenizer::fit_batches(const ImageBatches& images, uint64_t seed) {
  torch::NoGradGuard ng;
  C_ = images.c, H_ = images.h, W_ = images.w;
  const int p = patch_, D = p * p * C_;
  if (d_ > D)
    throw InputError(fmt::format("tokenizer.d = {} exceeds the patch dimension D = {}", d_, D));
  // Sample patches at random positions (not only grid-aligned ones, as the
  // paper samples "random patches").
  auto gen = at::detail::createCPUGenerator(seed);
  const int64_t n = fit_patches_;
  auto img = torch::randint(images.n, {n}, gen, torch::kLong);
  auto ys = torch::randint(H_ - p + 1, {n}, gen, torch::kLong);
  auto xs = torch::randint(W_ - p + 1, {n}, gen, torch::kLong);
  Eigen::MatrixXd X(n, D);  // (n, D) patches, row i from image img[i]
  auto ia = img.accessor<int64_t, 1>(), ya = ys.accessor<int64_t, 1>(), xa = xs.accessor<int64_t, 1>();
  // The images are read a group at a time (the patches sorted by image), so
  // a streamed set is never held whole; X is the same either way.
  auto by_image = std::get<1>(img.sort(/*stable=*/true, 0, false));
  auto oa = by_image.accessor<int64_t, 1>();
  constexpr int64_t kGroup = 64;  // images read at once
  for (int64_t start = 0; start < n;) {
    std::vector<int64_t> group;  // distinct images of this group, ascending
    int64_t end = start;
    for (; end < n; ++end) {
      const int64_t im = ia[oa[end]];
      if (group.empty() || group.back() != im) {
        if (int64_t(group.size()) == kGroup) break;
        group.push_back(im);
      }
    }
    auto pix = images.read(torch::tensor(group, torch::kLong)).contiguous();  // (g, C, H, W)
    auto acc = pix.accessor<float, 4>();
    for (int64_t k = start, g = 0; k < end; ++k) {
      const int64_t i = oa[k];
      while (group[size_t(g)] != ia[i]) ++g;
      for (int c = 0, j = 0; c < C_; ++c)
        for (int dy = 0; dy < p; ++dy)
          for (int dx = 0; dx < p; ++dx, ++j) X(i, j) = acc[g][c][ya[i] + dy][xa[i] + dx];
    }
    start = end;
  }
  PcaFit fit = pca_fit(std::move(X));
  std::vector<double> b(size_t(D) * D), m(D), e(D);
  for (int i = 0; i < D; ++i) {
    m[i] = fit.mean(i);
    e[i] = std::max(fit.eigenvalues(i), 0.0);
    for (int j = 0; j < D; ++j) b[size_t(i) * D + j] = fit.basis(i, j);
  }
  basis_ = from_vec(b, {D, D});
  mean_ = from_vec(m, {D});
  eigenvalues_ = from_vec(e, {D});
  scale_ = 1.0;
  set_scale(scale_enabled_, eigenvalues_.slice(0, 0, d_));
}

}  // namespace ldae
