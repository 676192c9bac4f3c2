// Welch's t-test and the Student t tail, against closed forms (df 1, 2, 4)
// and values from a numerical integration of the t density.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/stats.hpp"

using namespace ldae;

TEST(Stats, IncompleteBetaClosedForms) {
  for (double x : {0.0, 0.1, 0.5, 0.93, 1.0}) {
    EXPECT_NEAR(incomplete_beta(1, 1, x), x, 1e-12);          // uniform
    EXPECT_NEAR(incomplete_beta(2, 1, x), x * x, 1e-12);      // x^a for b = 1
    EXPECT_NEAR(incomplete_beta(1, 3, x), 1 - std::pow(1 - x, 3), 1e-12);
  }
  // Symmetry I_x(a, b) = 1 - I_{1-x}(b, a), across the branch point.
  for (double x : {0.05, 0.3, 0.6, 0.97})
    EXPECT_NEAR(incomplete_beta(2.5, 0.5, x), 1 - incomplete_beta(0.5, 2.5, 1 - x), 1e-12);
}

TEST(Stats, StudentTTail) {
  const double pi = std::acos(-1.0);
  for (double t : {0.0, 0.5, 1.0, 3.0, -7.0}) {
    EXPECT_NEAR(student_t_two_sided_p(t, 1), 1 - 2 / pi * std::atan(std::fabs(t)), 1e-12);  // Cauchy
    EXPECT_NEAR(student_t_two_sided_p(t, 2), 1 - std::fabs(t) / std::sqrt(t * t + 2), 1e-12);
  }
  // Simpson's rule on the density (2e6 panels): 0.0733880348, 0.3813372536.
  EXPECT_NEAR(student_t_two_sided_p(2.0, 10), 0.0733880348, 1e-9);
  EXPECT_NEAR(student_t_two_sided_p(1.0, 3.5), 0.3813372536, 1e-9);
  // Many degrees of freedom: the normal's 5% point.
  EXPECT_NEAR(student_t_two_sided_p(1.959963985, 1e7), 0.05, 1e-6);
}

TEST(Stats, WelchTTest) {
  // Equal spreads, n = 3 each: t = -3 / sqrt(2/3), df = 4, and the df = 4
  // closed form 1 - 2 (3/8) u (1 - u^2 / 12), u = t / sqrt(1 + t^2 / 4).
  auto w = welch_t_test({1, 2, 3}, {4, 5, 6});
  EXPECT_DOUBLE_EQ(w.diff, -3);
  EXPECT_NEAR(w.se, std::sqrt(2.0 / 3), 1e-12);
  EXPECT_NEAR(w.df, 4, 1e-12);
  const double t = 3 / std::sqrt(2.0 / 3), u = t / std::sqrt(1 + t * t / 4);
  EXPECT_NEAR(w.p, 1 - 0.75 * u * (1 - u * u / 12), 1e-10);
  // Unequal sizes and spreads: the Welch-Satterthwaite df, p symmetric.
  auto a = welch_t_test({1, 2, 3, 4}, {10, 10.5});
  const double qa = (5.0 / 3) / 4, qb = 0.125 / 2;
  EXPECT_NEAR(a.df, (qa + qb) * (qa + qb) / (qa * qa / 3 + qb * qb / 1), 1e-12);
  auto b = welch_t_test({10, 10.5}, {1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(a.diff, -b.diff);
  EXPECT_NEAR(a.p, b.p, 1e-15);
  EXPECT_GT(a.p, 0);
  EXPECT_LT(a.p, 0.01);
  // No p without two values a side or without any spread; the change stays.
  auto one = welch_t_test({80.0}, {78.0, 78.5});
  EXPECT_DOUBLE_EQ(one.diff, 1.75);
  EXPECT_EQ(one.p, -1);
  EXPECT_EQ(welch_t_test({81.52, 81.52}, {81.52, 81.52}).p, -1);
}

// Holm 1979 by hand: p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005 x 4 =
// 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06.
TEST(Stats, HolmAdjustsStepDownWithARunningMax) {
  const auto a = holm_adjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(a.size(), 4u);
  EXPECT_NEAR(a[0], 0.03, 1e-12);
  EXPECT_NEAR(a[1], 0.06, 1e-12);
  EXPECT_NEAR(a[2], 0.06, 1e-12);
  EXPECT_NEAR(a[3], 0.02, 1e-12);
  const auto b = holm_adjust({0.5, std::nan(""), 0.8});  // NaN kept, m = 2, capped at 1
  EXPECT_NEAR(b[0], 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(b[1]));
  EXPECT_NEAR(b[2], 1.0, 1e-12);
}
