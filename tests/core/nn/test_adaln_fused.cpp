// core/nn/adaln_fused: the DiT block's LayerNorm + modulate and gated
// residual as fused functions, against the unfused LibTorch ops (forward and
// backward, float32, bfloat16 and autocast's mix), by hand values and by
// finite differences; the CUDA kernels on a GPU when one is visible.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "core/nn/adaln_fused.hpp"

using namespace ldae;
using torch::Tensor;

namespace {

constexpr double kEps = 1e-6;  // DiT's LayerNorm

struct Grads {
  Tensor out, a, b, c;  // the result and the gradients of the three inputs
};

// f(a, b, c) and the gradients of sum(f * w), inputs copied as leaves.
template <class Fn>
Grads run(Fn f, const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& w) {
  auto a1 = a.detach().clone().requires_grad_(true), b1 = b.detach().clone().requires_grad_(true),
       c1 = c.detach().clone().requires_grad_(true);
  auto out = f(a1, b1, c1);
  (out.to(torch::kFloat32) * w).sum().backward();
  return {out.detach(), a1.grad(), b1.grad(), c1.grad()};
}

double max_diff(const Tensor& a, const Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().max().item<double>();
}

auto fused_ln = [](const Tensor& x, const Tensor& sh, const Tensor& sc) { return layer_norm_modulate(x, sh, sc, kEps); };
auto unfused_ln = [](const Tensor& x, const Tensor& sh, const Tensor& sc) {
  return layer_norm_modulate_unfused(x, sh, sc, kEps);
};
// gated_residual(x, gate, branch), inputs in that order.
auto fused_gate = [](const Tensor& x, const Tensor& g, const Tensor& b) { return gated_residual(x, g, b); };
auto unfused_gate = [](const Tensor& x, const Tensor& g, const Tensor& b) { return gated_residual_unfused(x, g, b); };

// (B, L, W) activations and (B, W) modulations; W = 37 leaves a scalar tail
// after the whole vectors, W = 256 none.
struct Case {
  Tensor x, m1, m2, w;
};
Case make_case(int64_t B, int64_t L, int64_t W, const torch::Device& dev = torch::kCPU) {
  torch::manual_seed(B * 1000 + L * 10 + W);
  auto o = torch::TensorOptions().device(dev);
  return {torch::randn({B, L, W}, o) * 2 + 0.5, torch::randn({B, W}, o) * 0.3, torch::randn({B, W}, o) * 0.3,
          torch::randn({B, L, W}, o)};
}

void expect_close(const Grads& f, const Grads& u, double tol, const std::string& what) {
  EXPECT_LE(max_diff(f.out, u.out), tol) << what << ": result";
  EXPECT_LE(max_diff(f.a, u.a), tol) << what << ": first input's gradient";
  EXPECT_LE(max_diff(f.b, u.b), tol * 4) << what << ": second input's gradient (a sum over tokens)";
  EXPECT_LE(max_diff(f.c, u.c), tol * 4) << what << ": third input's gradient (a sum over tokens)";
  EXPECT_EQ(f.out.scalar_type(), u.out.scalar_type()) << what;
  EXPECT_EQ(f.b.scalar_type(), u.b.scalar_type()) << what;
}

}  // namespace

TEST(AdaLNFused, LayerNormModulateHandValues) {
  // Row [1, 2, 3, 4]: mean 2.5, variance 1.25, xhat = (x - 2.5) / sqrt(1.25 + 1e-6);
  // scale 1 and shift 0.5 give 2 xhat + 0.5.
  auto x = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({1, 1, 4});
  auto y = layer_norm_modulate(x, torch::full({1, 4}, 0.5f), torch::ones({1, 4}), kEps);
  const float s = 1.0f / std::sqrt(1.25f + 1e-6f);
  auto expect = torch::tensor({-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s}) * 2 + 0.5;
  EXPECT_LE(max_diff(y.view({4}), expect), 1e-6);
  auto g = gated_residual(x, torch::full({1, 4}, 2.f), torch::ones({1, 1, 4}));
  EXPECT_LE(max_diff(g.view({4}), torch::tensor({3.f, 4.f, 5.f, 6.f})), 0);
}

TEST(AdaLNFused, Float32EqualsTheUnfusedOpsForwardAndBackward) {
  // 2 x 300 x 96: 170 tokens a chunk on the CPU, so two chunks per row b,
  // the second short, and their column sums added.
  for (auto [B, L, W] : {std::tuple{3, 5, 37}, std::tuple{2, 16, 256}, std::tuple{4, 33, 8}, std::tuple{2, 300, 96}}) {
    auto c = make_case(B, L, W);
    const std::string shape = std::to_string(B) + "x" + std::to_string(L) + "x" + std::to_string(W);
    expect_close(run(fused_ln, c.x, c.m1, c.m2, c.w), run(unfused_ln, c.x, c.m1, c.m2, c.w), 2e-5, "ln " + shape);
    auto branch = torch::randn_like(c.x);
    expect_close(run(fused_gate, c.x, c.m1, branch, c.w), run(unfused_gate, c.x, c.m1, branch, c.w), 2e-5,
                 "gate " + shape);
  }
}

TEST(AdaLNFused, Bfloat16AndAutocastsMixEqualTheUnfusedOpsToBf16Rounding) {
  auto c = make_case(2, 9, 70);
  const auto bf = torch::kBFloat16;
  auto branch = torch::randn_like(c.x);
  // All bfloat16 (a bf16 model): the unfused ops round between ops, so bf16's
  // 2^-8 relative step on values of a few units.
  expect_close(run(fused_ln, c.x.to(bf), c.m1.to(bf), c.m2.to(bf), c.w),
               run(unfused_ln, c.x.to(bf), c.m1.to(bf), c.m2.to(bf), c.w), 0.1, "ln bf16");
  expect_close(run(fused_gate, c.x.to(bf), c.m1.to(bf), branch.to(bf), c.w),
               run(unfused_gate, c.x.to(bf), c.m1.to(bf), branch.to(bf), c.w), 0.1, "gate bf16");
  // Autocast's mix: a float32 residual stream, bf16 modulations and branch;
  // float32 results, bf16 gradients for the bf16 inputs.
  expect_close(run(fused_ln, c.x, c.m1.to(bf), c.m2.to(bf), c.w), run(unfused_ln, c.x, c.m1.to(bf), c.m2.to(bf), c.w),
               2e-2, "ln float32 x, bf16 modulation");
  expect_close(run(fused_gate, c.x, c.m1.to(bf), branch.to(bf), c.w),
               run(unfused_gate, c.x, c.m1.to(bf), branch.to(bf), c.w), 2e-2, "gate float32 x, bf16 branch");
}

TEST(AdaLNFused, GradientsByFiniteDifferences) {
  auto c = make_case(2, 3, 19);
  auto branch = torch::randn_like(c.x);
  const float h = 1e-2f;
  // d/dv sum(w * f) at a few elements of each input, central differences in float32.
  auto check = [&](auto f, std::vector<Tensor> in, const std::string& what) {
    auto g = run(f, in[0], in[1], in[2], c.w);
    const Tensor grads[3] = {g.a, g.b, g.c};
    for (int k = 0; k < 3; ++k)
      for (int64_t i : {int64_t(0), in[k].numel() / 2, in[k].numel() - 1}) {
        auto plus = in, minus = in;
        plus[k] = in[k].clone(), minus[k] = in[k].clone();
        plus[k].view(-1)[i] += h;
        minus[k].view(-1)[i] -= h;
        const Tensor up = (f(plus[0], plus[1], plus[2]) * c.w).sum(), down = (f(minus[0], minus[1], minus[2]) * c.w).sum();
        const double fd = (up.item<double>() - down.item<double>()) / (2 * h);
        EXPECT_NEAR(grads[k].view(-1)[i].item<double>(), fd, 5e-3 * (1 + std::abs(fd)))
            << what << ": input " << k << " element " << i;
      }
  };
  torch::NoGradGuard ng;  // the differences need no graph; run() enables its own
  {
    torch::AutoGradMode on(true);
    check(fused_ln, {c.x, c.m1, c.m2}, "layer_norm_modulate");
    check(fused_gate, {c.x, c.m1, branch}, "gated_residual");
  }
}

TEST(AdaLNFused, TheResultDoesNotDependOnTheThreadCount) {
  auto c = make_case(3, 400, 96);  // three chunks per row b
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto one = run(fused_ln, c.x, c.m1, c.m2, c.w);
  at::set_num_threads(std::max(2, threads));
  auto many = run(fused_ln, c.x, c.m1, c.m2, c.w);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.out, many.out) && torch::equal(one.a, many.a) && torch::equal(one.b, many.b) &&
              torch::equal(one.c, many.c));
}

TEST(AdaLNFused, OtherShapesAndDtypesTakeTheUnfusedOps) {
  auto c = make_case(2, 4, 8);
  auto xd = c.x.to(torch::kFloat64), m1 = c.m1.to(torch::kFloat64), m2 = c.m2.to(torch::kFloat64);
  EXPECT_TRUE(torch::equal(layer_norm_modulate(xd, m1, m2, kEps), layer_norm_modulate_unfused(xd, m1, m2, kEps)));
  EXPECT_TRUE(torch::equal(gated_residual(xd, m1, xd), gated_residual_unfused(xd, m1, xd)));
  // bf16 x with float32 modulations promotes to float32: not x's dtype, so unfused.
  auto xb = c.x.to(torch::kBFloat16);
  auto y = layer_norm_modulate(xb, c.m1, c.m2, kEps);
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(y, layer_norm_modulate_unfused(xb, c.m1, c.m2, kEps)));
  // A transposed (not contiguous) x is made contiguous: same values.
  auto xt = c.x.transpose(0, 1).contiguous().transpose(0, 1);
  EXPECT_LE(max_diff(layer_norm_modulate(xt, c.m1, c.m2, kEps), layer_norm_modulate(c.x, c.m1, c.m2, kEps)), 0);
}

TEST(AdaLNFused, CudaKernelsEqualTheUnfusedOpsOnGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  ASSERT_TRUE(fused_cuda_kernels_built()) << "a GPU is visible but this build has no CUDA kernels (no nvcc)";
  const torch::Device gpu(torch::kCUDA);
  // Widths the elementwise kernels tile differently (row_tiling.hpp): 8, 37, 384, 1024.
  for (auto [B, L, W] : {std::tuple{2, 7, 8}, std::tuple{3, 5, 37}, std::tuple{2, 64, 384}, std::tuple{4, 256, 1024}}) {
    auto c = make_case(B, L, W, gpu);
    auto branch = torch::randn_like(c.x);
    const std::string shape = std::to_string(B) + "x" + std::to_string(L) + "x" + std::to_string(W);
    expect_close(run(fused_ln, c.x, c.m1, c.m2, c.w), run(unfused_ln, c.x, c.m1, c.m2, c.w), 5e-5, "cuda ln " + shape);
    expect_close(run(fused_gate, c.x, c.m1, branch, c.w), run(unfused_gate, c.x, c.m1, branch, c.w), 5e-5,
                 "cuda gate " + shape);
    const auto bf = torch::kBFloat16;
    expect_close(run(fused_ln, c.x, c.m1.to(bf), c.m2.to(bf), c.w),
                 run(unfused_ln, c.x, c.m1.to(bf), c.m2.to(bf), c.w), 5e-2, "cuda ln autocast mix " + shape);
    expect_close(run(fused_gate, c.x, c.m1.to(bf), branch.to(bf), c.w),
                 run(unfused_gate, c.x, c.m1.to(bf), branch.to(bf), c.w), 5e-2, "cuda gate autocast mix " + shape);
    expect_close(run(fused_ln, c.x.to(bf), c.m1.to(bf), c.m2.to(bf), c.w),
                 run(unfused_ln, c.x.to(bf), c.m1.to(bf), c.m2.to(bf), c.w), 0.1, "cuda ln bf16 " + shape);
    expect_close(run(fused_gate, c.x.to(bf), c.m1.to(bf), branch.to(bf), c.w),
                 run(unfused_gate, c.x.to(bf), c.m1.to(bf), branch.to(bf), c.w), 0.1, "cuda gate bf16 " + shape);
  }
}
