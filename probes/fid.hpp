// Frechet distance between Gaussians fitted to two feature sets (FID when the
// features come from a frozen image network):
//   d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})
// with tr (S1 S2)^{1/2} = tr (A S2 A)^{1/2}, A = S1^{1/2}, computed by
// symmetric eigendecompositions (Eigen), which stays real and stable where a
// general matrix square root would not.
#pragma once
#include <Eigen/Dense>

namespace ldae {

struct Gaussian {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;  // sample covariance (n - 1)
};

// Rows are samples: X (n, F).
Gaussian fit_gaussian(const Eigen::MatrixXd& X);
double frechet_distance(const Gaussian& a, const Gaussian& b);
// Square root of a symmetric positive semi-definite matrix (negative
// eigenvalues from round-off clipped to 0).
Eigen::MatrixXd sqrtm_psd(const Eigen::MatrixXd& S);

}  // namespace ldae
