#include "probes/fid.hpp"

#include <stdexcept>

namespace ldae {

Gaussian fit_gaussian(const Eigen::MatrixXd& X) {
  if (X.rows() < 2) throw std::invalid_argument("fit_gaussian: need at least 2 samples");
  Gaussian g;
  g.mean = X.colwise().mean().transpose();
  Eigen::MatrixXd C = X.rowwise() - g.mean.transpose();
  g.cov = (C.transpose() * C) / double(X.rows() - 1);
  return g;
}

Eigen::MatrixXd sqrtm_psd(const Eigen::MatrixXd& S) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(S);
  Eigen::VectorXd r = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * r.asDiagonal() * eig.eigenvectors().transpose();
}

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  const Eigen::MatrixXd A = sqrtm_psd(a.cov);
  Eigen::MatrixXd M = A * b.cov * A;
  M = 0.5 * (M + M.transpose());  // symmetric up to round-off
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(M, Eigen::EigenvaluesOnly);
  const double tr_sqrt = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2.0 * tr_sqrt;
}

}  // namespace ldae
