// core/nn/gelu_tanh: the vectorised GELU (tanh approximation) against
// LibTorch's, forward and backward, and by finite differences.
#include <gtest/gtest.h>

#include "core/nn/gelu_tanh.hpp"
#include "core/nn/kernels/gelu_tanh_math.hpp"

using namespace ldae;

TEST(GeluTanh, EqualsLibTorchsForwardAndBackwardToFloatRounding) {
  torch::manual_seed(0);
  // 3,001 elements: whole vectors and a scalar tail; values where the tanh saturates too.
  auto x = (torch::randn({3001}) * 4).requires_grad_(true);
  auto y = gelu_tanh(x);
  auto x2 = x.detach().clone().requires_grad_(true);
  auto y2 = torch::gelu(x2, "tanh");
  EXPECT_LE((y - y2).abs().max().item<double>(), 2e-6);
  auto g = torch::randn({3001});
  y.backward(g);
  y2.backward(g);
  EXPECT_LE((x.grad() - x2.grad()).abs().max().item<double>(), 1e-5);
  // A hand value: gelu(1) = 0.5 (1 + tanh(k (1 + c))) = 0.841192.
  EXPECT_NEAR(gelu_math::forward(1.0f, [](float v) { return std::tanh(v); }), 0.841192f, 1e-6);
}

TEST(GeluTanh, GradientByFiniteDifferences) {
  torch::manual_seed(1);
  auto x = torch::randn({64}).requires_grad_(true);
  gelu_tanh(x).sum().backward();
  auto xd = x.detach().to(torch::kFloat64);
  const double h = 1e-3;
  auto ref = [](const torch::Tensor& v) { return torch::gelu(v, "tanh"); };  // float64: LibTorch's, exact enough
  auto fd = (ref(xd + h) - ref(xd - h)) / (2 * h);
  EXPECT_LE((x.grad().to(torch::kFloat64) - fd).abs().max().item<double>(), 1e-5);
}

TEST(GeluTanh, OtherDtypesAndStridesTakeLibTorchsKernel) {
  auto x = torch::randn({8, 6}).t();  // not contiguous: made contiguous, same values
  EXPECT_TRUE(torch::allclose(gelu_tanh(x), torch::gelu(x, "tanh"), 1e-6, 1e-6));
  auto b = torch::randn({33}).to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(gelu_tanh(b), torch::gelu(b, "tanh")));
}

