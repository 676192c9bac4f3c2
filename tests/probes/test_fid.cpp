// FID (probes/fid.hpp): the Frechet distance of Gaussians against closed
// forms, and the streamed Gaussian fit against the fit of all rows at once.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

#include "probes/fid.hpp"

using namespace ldae;

TEST(Fid, DiagonalGaussiansMatchTheClosedForm) {
  // d^2 = |m1 - m2|^2 + sum_i (s1_i + s2_i - 2 sqrt(s1_i s2_i)) for diagonal S.
  Gaussian a{Eigen::Vector3d(0, 1, 2), Eigen::Vector3d(1, 4, 9).asDiagonal()};
  Gaussian b{Eigen::Vector3d(1, 1, 0), Eigen::Vector3d(4, 1, 9).asDiagonal()};
  const double expect = (1 + 0 + 4) + (1 + 4 - 4) + (4 + 1 - 4) + (9 + 9 - 18);
  EXPECT_NEAR(frechet_distance(a, b), expect, 1e-9);
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-9);
}

TEST(Fid, RotatedCovariancesAndSqrtm) {
  // FD is invariant to a common rotation: rotate both diagonal Gaussians.
  std::mt19937 rng(2);
  std::normal_distribution<double> N01;
  Eigen::MatrixXd G(4, 4);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) G(i, j) = N01(rng);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
  Eigen::MatrixXd Q = qr.householderQ();
  Eigen::Vector4d s1(1, 2, 3, 4), s2(2, 2, 5, 1);
  Gaussian a{Eigen::Vector4d::Zero(), Q * s1.asDiagonal() * Q.transpose()};
  Gaussian b{Eigen::Vector4d::Zero(), Q * s2.asDiagonal() * Q.transpose()};
  double expect = 0;
  for (int i = 0; i < 4; ++i) expect += s1(i) + s2(i) - 2 * std::sqrt(s1(i) * s2(i));
  EXPECT_NEAR(frechet_distance(a, b), expect, 1e-9);
  Eigen::MatrixXd R = sqrtm_psd(a.cov);
  EXPECT_LT((R * R - a.cov).norm(), 1e-9);
}

TEST(Fid, SampleEstimateConvergesOnToyGaussians) {
  std::mt19937 rng(3);
  std::normal_distribution<double> N01;
  const int n = 40000;
  Eigen::MatrixXd X(n, 2), Y(n, 2);
  for (int i = 0; i < n; ++i) {
    X(i, 0) = N01(rng), X(i, 1) = 2 * N01(rng);      // N(0, diag(1, 4))
    Y(i, 0) = 1 + N01(rng), Y(i, 1) = N01(rng);       // N((1, 0), I)
  }
  const double expect = 1 + (1 + 1 - 2) + (4 + 1 - 4);  // = 2
  EXPECT_NEAR(frechet_distance(fit_gaussian(X), fit_gaussian(Y)), expect, 0.05);
}

TEST(Fid, ChunkedFitIsTheFitOfAllRows) {
  // Hand values: rows 0, 2, 4 of one feature: mean 2, variance (4 + 0 + 4) / 2 = 4.
  GaussianFit hand;
  hand.add(Eigen::MatrixXd::Constant(1, 1, 0.0));
  hand.add(Eigen::MatrixXd(0, 1));  // an empty chunk changes nothing
  hand.add((Eigen::MatrixXd(2, 1) << 2.0, 4.0).finished());
  EXPECT_EQ(hand.count(), 3);
  EXPECT_NEAR(hand.gaussian().mean(0), 2.0, 1e-15);
  EXPECT_NEAR(hand.gaussian().cov(0, 0), 4.0, 1e-15);
  // Uneven chunks (1, 7, 500, 1492 rows) of correlated features far from the
  // origin, where a sum of outer products would lose digits: the same
  // Gaussian as fit_gaussian of the whole matrix.
  std::mt19937 rng(5);
  std::normal_distribution<double> N01;
  Eigen::MatrixXd X(2000, 3);
  for (int i = 0; i < X.rows(); ++i) {
    const double u = N01(rng), v = N01(rng), w = N01(rng);
    X.row(i) << 1e4 + u, 1e4 + 0.5 * u + v, -3e3 + 2 * w;
  }
  GaussianFit fit;
  int lo = 0;
  for (int m : {1, 7, 500, 1492}) {
    fit.add(X.middleRows(lo, m));
    lo += m;
  }
  const Gaussian whole = fit_gaussian(X), chunked = fit.gaussian();
  EXPECT_LT((whole.mean - chunked.mean).norm(), 1e-9);
  EXPECT_LT((whole.cov - chunked.cov).norm(), 1e-9);
  EXPECT_NEAR(chunked.cov(0, 1), 0.5, 0.1);  // what the rows were drawn with
}

TEST(Fid, FitRefusesTooFewRowsAndAChangedWidth) {
  GaussianFit fit;
  EXPECT_THROW(fit.gaussian(), std::invalid_argument);
  fit.add(Eigen::MatrixXd::Zero(1, 4));
  EXPECT_THROW(fit.gaussian(), std::invalid_argument);
  EXPECT_THROW(fit.add(Eigen::MatrixXd::Zero(2, 3)), std::invalid_argument);
  fit.add(Eigen::MatrixXd::Ones(1, 4));
  EXPECT_NEAR(fit.gaussian().cov(2, 2), 0.5, 1e-15);
}
