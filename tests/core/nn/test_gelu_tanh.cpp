// core/nn/gelu_tanh: the vectorised GELU (tanh approximation) against
// LibTorch's, forward and backward, and by finite differences.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include "core/nn/adaln_fused.hpp"
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
  auto d = torch::randn({33}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(gelu_tanh(d), torch::gelu(d, "tanh")));
}

TEST(GeluTanh, Bf16IsTheFloat32MathRoundedOnce) {
  torch::manual_seed(7);
  // 3,001 elements: whole vectors and a scalar tail.
  auto x = (torch::randn({3001}) * 4).to(torch::kBFloat16).requires_grad_(true);
  auto g = torch::randn({3001}).to(torch::kBFloat16);
  auto y = gelu_tanh(x);
  y.backward(g);
  ASSERT_EQ(y.scalar_type(), torch::kBFloat16);
  ASSERT_EQ(x.grad().scalar_type(), torch::kBFloat16);
  // The float32 kernel on the same (exactly representable) values, rounded
  // to bf16: equal but for the float32 result's own rounding (a few ulp)
  // landing on the other side of a bf16 rounding boundary.
  auto x32 = x.detach().to(torch::kFloat32).requires_grad_(true);
  auto y32 = gelu_tanh(x32);
  y32.backward(g.to(torch::kFloat32));
  const auto off = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat32) - b.to(torch::kBFloat16).to(torch::kFloat32)).abs();
  };
  const auto tol = [](const torch::Tensor& b) { return b.abs() * (1.0 / 128) + 1e-30; };  // one bf16 ulp
  EXPECT_TRUE((off(y, y32) <= tol(y32)).all().item<bool>());
  EXPECT_TRUE((off(x.grad(), x32.grad()) <= tol(x32.grad())).all().item<bool>());
  EXPECT_GE((off(y, y32) == 0).to(torch::kFloat32).mean().item<double>(), 0.99);
}


namespace {
struct LinearGrads {
  torch::Tensor out, x, w, b;
};
// f(x, w, b) and the gradients of sum(f * g), on copies as leaves.
template <class Fn>
LinearGrads linear_grads(Fn f, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                         const torch::Tensor& g) {
  auto x1 = x.clone().requires_grad_(true), w1 = w.clone().requires_grad_(true), b1 = b.clone().requires_grad_(true);
  auto out = f(x1, w1, b1);
  (out.to(torch::kFloat32) * g).sum().backward();
  return {out.detach(), x1.grad(), w1.grad(), b1.grad()};
}
double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().max().item<double>();
}
auto fused_mlp = [](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return linear_gelu_tanh(x, w, b);
};
auto unfused_mlp = [](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::gelu(at::linear(x, w, b), "tanh");
};
}  // namespace

TEST(GeluTanh, BiasFoldedIntoTheGeluEqualsLinearThenGelu) {
  torch::manual_seed(2);
  // 37 outputs: whole vectors and a scalar tail; 3 x 50 rows: several chunks.
  auto x = torch::randn({3, 50, 16}), w = torch::randn({37, 16}) * 0.3, b = torch::randn({37});
  auto g = torch::randn({3, 50, 37});
  auto f = linear_grads(fused_mlp, x, w, b, g), u = linear_grads(unfused_mlp, x, w, b, g);
  EXPECT_LE(max_abs(f.out, u.out), 1e-5);
  EXPECT_LE(max_abs(f.x, u.x), 1e-4);
  EXPECT_LE(max_abs(f.w, u.w), 1e-4);
  EXPECT_LE(max_abs(f.b, u.b), 1e-4);
  // A planted error in the bias's gradient would show here: its column sums
  // over 150 rows against a float64 reference.
  auto pre = at::linear(x.to(torch::kFloat64), w.to(torch::kFloat64), b.to(torch::kFloat64)).requires_grad_(true);
  (torch::gelu(pre, "tanh") * g.to(torch::kFloat64)).sum().backward();
  EXPECT_LE(max_abs(f.b, pre.grad().sum(std::vector<int64_t>{0, 1})), 1e-4);
}

TEST(GeluTanh, TheBiasGradientDoesNotDependOnTheThreadCount) {
  torch::manual_seed(4);
  auto x = torch::randn({4, 300, 24}), w = torch::randn({64, 24}) * 0.3, b = torch::randn({64});
  auto g = torch::randn({4, 300, 64});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto one = linear_grads(fused_mlp, x, w, b, g);
  at::set_num_threads(std::max(2, threads));
  auto many = linear_grads(fused_mlp, x, w, b, g);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.b, many.b));
  EXPECT_TRUE(torch::equal(one.out, many.out));
}

TEST(GeluTanh, TheResultDoesNotDependOnTheThreadCount) {
  // Enough elements for several tasks, and a length no thread split aligns
  // with the vectors: each element takes the vector or the scalar tail path
  // whatever the threads (the scalar tanh differs from the vector one by ulps).
  torch::manual_seed(9);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto x = (torch::randn({100003}) * 3).to(dtype).requires_grad_(true);
    auto g = torch::randn({100003}).to(dtype);
    const int threads = at::get_num_threads();
    auto run = [&](int n) {
      at::set_num_threads(n);
      x.mutable_grad() = torch::Tensor();
      auto y = gelu_tanh(x);
      y.backward(g);
      return std::make_pair(y.detach(), x.grad().clone());
    };
    auto [y1, d1] = run(1);
    for (int n : {2, 3}) {
      auto [yn, dn] = run(n);
      EXPECT_TRUE(torch::equal(y1, yn)) << n << " threads";
      EXPECT_TRUE(torch::equal(d1, dn)) << n << " threads";
    }
    at::set_num_threads(threads);
  }
}

TEST(GeluTanh, LinearGeluWithoutAFusablePathIsTheTwoOps) {
  torch::manual_seed(5);
  auto x = torch::randn({3, 5, 16}, torch::kFloat64), w = torch::randn({24, 16}, torch::kFloat64) * 0.2;
  auto b = torch::randn({24}, torch::kFloat64);
  // float64: at::linear then LibTorch's GELU, bit for bit; no bias: the same.
  EXPECT_TRUE(torch::equal(linear_gelu_tanh(x, w, b), torch::gelu(at::linear(x, w, b), "tanh")));
  auto xf = x.to(torch::kFloat32), wf = w.to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(linear_gelu_tanh(xf, wf, {}), gelu_tanh(at::linear(xf, wf))));
}

TEST(GeluTanh, Bf16AndCpuAutocastFoldTheBiasToBf16Rounding) {
  torch::manual_seed(8);
  // 37 outputs: whole vectors and a scalar tail; 3 x 50 rows: several chunks.
  auto x = torch::randn({3, 50, 16}), w = torch::randn({37, 16}) * 0.3, b = torch::randn({37});
  auto g = torch::randn({3, 50, 37});
  auto u = linear_grads(unfused_mlp, x, w, b, g);  // float32, the reference
  at::autocast::set_autocast_enabled(at::kCPU, true);
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  auto f = linear_grads(fused_mlp, x, w, b, g), a = linear_grads(unfused_mlp, x, w, b, g);
  const auto node = linear_gelu_tanh(x.requires_grad_(true), w, b).grad_fn();  // the fused pass, not the two ops
  at::autocast::set_autocast_enabled(at::kCPU, false);
  at::autocast::clear_cache();
  x.requires_grad_(false);
  ASSERT_TRUE(node);
  EXPECT_NE(node->name().find("GeluTanhBias"), std::string::npos) << node->name();
  EXPECT_EQ(f.out.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(f.b.scalar_type(), torch::kFloat32);
  // The fused path is as close to float32 as autocast's two ops are, and
  // the bias's gradient (column sums of the float32 gradient) closer.
  const double out_ref = max_abs(a.out, u.out), b_ref = max_abs(a.b, u.b);
  EXPECT_LE(max_abs(f.out, u.out), 2 * out_ref + 1e-2);
  EXPECT_LE(max_abs(f.x, u.x), 2 * max_abs(a.x, u.x) + 1e-2);
  EXPECT_LE(max_abs(f.b, u.b), b_ref + 1e-3);
  // bf16 tensors without autocast: the same kernel, bf16 gradients for all three.
  auto xb = x.to(torch::kBFloat16), wb = w.to(torch::kBFloat16), bb = b.to(torch::kBFloat16);
  auto fb = linear_grads(fused_mlp, xb, wb, bb, g);
  EXPECT_NE(linear_gelu_tanh(xb, wb.requires_grad_(true), bb).grad_fn()->name().find("GeluTanhBias"),
            std::string::npos);
  for (const auto& t : {fb.out, fb.x, fb.w, fb.b}) EXPECT_EQ(t.scalar_type(), torch::kBFloat16);
  EXPECT_LE(max_abs(fb.out, u.out), 2 * out_ref + 1e-2);
  EXPECT_LE(max_abs(fb.x, u.x), 2 * max_abs(a.x, u.x) + 1e-2);
  EXPECT_LE(max_abs(fb.b, u.b) / (1 + u.b.abs().max().item<double>()), 2e-2);
}

TEST(GeluTanh, LinearEpilogueOnGpuEqualsLinearThenGelu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  torch::manual_seed(3);
  const auto o = torch::TensorOptions().device(torch::kCUDA);
  auto x = torch::randn({4, 64, 96}, o), w = torch::randn({384, 96}, o) * 0.1, b = torch::randn({384}, o);
  torch::NoGradGuard ng;  // evaluation: cuBLASLt's bias + GELU epilogue
  auto ref = torch::gelu(at::linear(x, w, b), "tanh");
  auto got = linear_gelu_tanh(x, w, b);
  EXPECT_EQ(got.sizes(), ref.sizes());
  EXPECT_LE((got - ref).abs().max().item<double>(), 1e-3);  // TF32 may be on for the product
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  auto got16 = linear_gelu_tanh(x, w, b);
  auto ref16 = torch::gelu(at::linear(x, w, b), "tanh");
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
  EXPECT_EQ(got16.scalar_type(), torch::kBFloat16);
  EXPECT_LE((got16.to(torch::kFloat32) - ref16.to(torch::kFloat32)).abs().max().item<double>(), 0.1);
}

TEST(GeluTanh, BiasFoldedIntoTheGeluOnGpuEqualsLinearThenGelu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  ASSERT_TRUE(fused_cuda_kernels_built()) << "a GPU is visible but this build has no CUDA kernels (no nvcc)";
  torch::manual_seed(6);
  const auto o = torch::TensorOptions().device(torch::kCUDA);
  // Widths the kernels tile differently (core/nn/kernels/row_tiling.hpp):
  // 37 (not a multiple of 32), 384 (DiT-S: 3 passes of 128 threads) and the
  // l-DAE MLP's first layer at a small batch, 1024 -> 4096 over 2 x 256 tokens.
  for (auto [B, L, in, out] : {std::tuple{3, 7, 24, 37}, std::tuple{2, 64, 96, 384}, std::tuple{2, 256, 1024, 4096}}) {
    auto xs = torch::randn({B, L, in}, o), ws = torch::randn({out, in}, o) * 0.03, bs = torch::randn({out}, o);
    auto gs = torch::randn({B, L, out}, o);
    auto f = linear_grads(fused_mlp, xs, ws, bs, gs), u = linear_grads(unfused_mlp, xs, ws, bs, gs);
    EXPECT_LE(max_abs(f.out, u.out), 1e-3) << out;  // TF32 may be on for the products
    EXPECT_LE(max_abs(f.x, u.x), 5e-2) << out;
    EXPECT_LE(max_abs(f.b, u.b), 5e-2) << out;
  }
  auto x = torch::randn({2, 256, 1024}, o), w = torch::randn({4096, 1024}, o) * 0.03, b = torch::randn({4096}, o);
  auto g = torch::randn({2, 256, 4096}, o);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  auto f16 = linear_grads(fused_mlp, x, w, b, g), u16 = linear_grads(unfused_mlp, x, w, b, g);
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
  EXPECT_EQ(f16.out.scalar_type(), torch::kBFloat16);
  EXPECT_LE(max_abs(f16.out, u16.out), 0.1);
  EXPECT_LE(max_abs(f16.b, u16.b) / (1 + u16.b.abs().max().item<double>()), 2e-2);
}
