#include "probes/fid.hpp"

#include <stdexcept>
#include <string>

namespace ldae {

Gaussian fit_gaussian(const Eigen::MatrixXd& X) {
  if (X.rows() < 2) throw std::invalid_argument("fit_gaussian: need at least 2 samples");
  GaussianFit fit;
  fit.add(X);
  return fit.gaussian();
}

void GaussianFit::add(const Eigen::MatrixXd& X) {
  if (X.rows() == 0) return;
  if (n_ > 0 && X.cols() != mean_.size())
    throw std::invalid_argument("GaussianFit::add: " + std::to_string(X.cols()) + " features after " +
                                std::to_string(mean_.size()));
  const Eigen::VectorXd m = X.colwise().mean().transpose();
  const Eigen::MatrixXd C = X.rowwise() - m.transpose();
  Eigen::MatrixXd S = C.transpose() * C;
  const double na = double(n_), nb = double(X.rows()), n = na + nb;
  if (n_ == 0) {
    mean_ = m;
    scatter_ = std::move(S);
  } else {
    const Eigen::VectorXd delta = m - mean_;
    scatter_ += S + (delta * delta.transpose()) * (na * nb / n);
    mean_ += delta * (nb / n);
  }
  n_ += X.rows();
}

Gaussian GaussianFit::gaussian() const {
  if (n_ < 2) throw std::invalid_argument("GaussianFit: need at least 2 samples, have " + std::to_string(n_));
  return {mean_, scatter_ / double(n_ - 1)};
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
