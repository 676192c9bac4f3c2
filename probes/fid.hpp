// Frechet distance between Gaussians fitted to two feature sets (FID when the
// features come from a frozen image network):
//   d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})
// with tr (S1 S2)^{1/2} = tr (A S2 A)^{1/2}, A = S1^{1/2}, computed by
// symmetric eigendecompositions (Eigen), which stays real and stable where a
// general matrix square root would not.
#pragma once
#include <Eigen/Dense>

#include <cstdint>

namespace ldae {

struct Gaussian {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;  // sample covariance (n - 1)
};

// Rows are samples: X (n, F). std::invalid_argument for n < 2.
Gaussian fit_gaussian(const Eigen::MatrixXd& X);

// The same fit over rows that arrive in chunks, none of them kept: it holds
// F + F^2 doubles whatever the number of samples (add works in a chunk's
// centred copy and two F x F products; FID-50K's 50,000 images, or
// ImageNet's 1.28 M training images as the reference). Chunks merge by Chan,
// Golub and LeVeque's pairwise update (mean and centred scatter), which stays
// exact to round-off where the sum of outer products would cancel.
class GaussianFit {
 public:
  // Rows of X (m, F) are samples; F must match earlier chunks
  // (std::invalid_argument otherwise). m = 0 is a no-op.
  void add(const Eigen::MatrixXd& X);
  int64_t count() const { return n_; }
  // The Gaussian of every row added; std::invalid_argument for fewer than 2.
  Gaussian gaussian() const;

 private:
  int64_t n_ = 0;
  Eigen::VectorXd mean_;
  Eigen::MatrixXd scatter_;  // sum over rows of (x - mean)(x - mean)^T
};
double frechet_distance(const Gaussian& a, const Gaussian& b);
// Square root of a symmetric positive semi-definite matrix (negative
// eigenvalues from round-off clipped to 0).
Eigen::MatrixXd sqrtm_psd(const Eigen::MatrixXd& S);

}  // namespace ldae
