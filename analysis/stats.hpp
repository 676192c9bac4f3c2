// Small statistics for tables: is a row's change bigger than seed noise?
// Welch's t-test (unequal variances) over the per-seed values of two rows,
// with the Student t tail from the regularized incomplete beta function.
#pragma once
#include <vector>

namespace ldae {

struct WelchTest {
  double diff = 0;  // mean(a) - mean(b)
  double se = 0;    // sqrt(var_a / n_a + var_b / n_b), sample variances
  double df = 0;    // Welch-Satterthwaite degrees of freedom
  double p = -1;    // two-sided p; -1 when it cannot be computed (a side
                    // with fewer than 2 values, or no spread on either side)
};
WelchTest welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

// P(|T| >= |t|) for Student's t with df > 0 degrees of freedom (Boost.Math's
// students_t complement); NaN for a NaN t or df <= 0, 0 for an infinite t.
double student_t_two_sided_p(double t, double df);

// Holm's step-down adjustment of m p values tested together (Holm 1979):
// sort ascending, p_(i) -> max over j <= i of min(1, (m - j + 1) p_(j)); returned
// in the input's order. Controls the family-wise error rate at the level the
// adjusted p is compared with. NaN entries stay NaN and do not count in m.
std::vector<double> holm_adjust(const std::vector<double>& p);

// The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]
// (Boost.Math's ibeta).
double incomplete_beta(double a, double b, double x);

}  // namespace ldae
