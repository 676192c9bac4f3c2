#include "analysis/stats.hpp"

#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ldae {

namespace {

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double sample_var(const std::vector<double>& v, double m) {
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(v.size() - 1);
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return boost::math::ibeta(a, b, x);
}

double student_t_two_sided_p(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0;
  // 2 P(T > |t|), the complement computed directly (no 1 - cdf cancellation).
  return 2 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::fabs(t)));
}

WelchTest welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  WelchTest w;
  if (a.empty() || b.empty()) return w;
  const double ma = mean_of(a), mb = mean_of(b);
  w.diff = ma - mb;
  if (a.size() < 2 || b.size() < 2) return w;
  const double qa = sample_var(a, ma) / double(a.size()), qb = sample_var(b, mb) / double(b.size());
  w.se = std::sqrt(qa + qb);
  if (!(w.se > 0)) return w;
  w.df = (qa + qb) * (qa + qb) /
         (qa * qa / double(a.size() - 1) + qb * qb / double(b.size() - 1));
  w.p = student_t_two_sided_p(w.diff / w.se, w.df);
  return w;
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out = p;
  const double m = double(order.size());
  double running = 0;
  for (size_t j = 0; j < order.size(); ++j) {
    running = std::max(running, std::min(1.0, (m - double(j)) * p[order[j]]));
    out[order[j]] = running;
  }
  return out;
}

}  // namespace ldae
