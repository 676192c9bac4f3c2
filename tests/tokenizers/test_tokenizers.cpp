// PCA against its definition, plus the tokenizer conformance suite that every
// registered tokenizer runs (shape round trip, seeded determinism,
// save -> load -> same output, reconstruction error reported).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "core/run/registry.hpp"
#include "tokenizers/linear.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
torch::Tensor images(int n = 64, int size = 16) {
  torch::manual_seed(3);
  // Smooth-ish images so PCA has structure: low-res noise upsampled + noise.
  auto low = torch::randn({n, 1, size / 4, size / 4});
  auto up = torch::nn::functional::interpolate(
      low, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
  return torch::tanh(up + 0.1 * torch::randn({n, 1, size, size}));
}
}  // namespace

TEST(PatchPca, OrthonormalBasisAndDiscardedEigenvaluesAreTheError) {
  // Correlated patches X (n, D) = G A with a random mixing A.
  const int n = 4000, D = 16, d = 5;
  std::mt19937 rng(5);
  std::normal_distribution<double> N01;
  Eigen::MatrixXd A(D, D), G(n, D);
  for (int i = 0; i < D; ++i)
    for (int j = 0; j < D; ++j) A(i, j) = N01(rng) / (1 + i);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < D; ++j) G(i, j) = N01(rng);
  Eigen::MatrixXd X = G * A;
  X.rowwise() += Eigen::RowVectorXd::Constant(D, 0.3);
  PcaFit f = pca_fit(X);
  // Orthonormal basis, eigenvalues sorted decreasing.
  EXPECT_LT((f.basis * f.basis.transpose() - Eigen::MatrixXd::Identity(D, D)).norm(), 1e-9);
  for (int i = 1; i < D; ++i) EXPECT_GE(f.eigenvalues(i - 1), f.eigenvalues(i));
  // Mean squared reconstruction error (sum over dims, mean over patches)
  // with d components = sum of the discarded eigenvalues x (n - 1) / n.
  Eigen::MatrixXd C = X.rowwise() - f.mean.transpose();
  Eigen::MatrixXd V = f.basis.topRows(d);
  Eigen::MatrixXd R = C - C * V.transpose() * V;
  double mse = R.squaredNorm() / n;
  double discarded = f.eigenvalues.tail(D - d).sum() * (n - 1) / double(n);
  EXPECT_NEAR(mse, discarded, 1e-9 * discarded);
  // Each component's variance is its eigenvalue.
  Eigen::VectorXd z = (C * f.basis.row(0).transpose());
  EXPECT_NEAR(z.squaredNorm() / (n - 1), f.eigenvalues(0), 1e-9 * f.eigenvalues(0));
}

TEST(PatchPca, TokenizerAppliesTheFittedBasis) {
  TokenizerConfig c;
  c.patch = 4;
  c.d = 5;
  c.fit_patches = 20000;
  c.scale = false;
  PatchPcaTokenizer tok(c, 1);
  auto x = images();
  tok.fit(x, 0);
  const auto& V = tok.basis();  // (16, 16)
  EXPECT_TRUE(torch::allclose(torch::matmul(V, V.t()), torch::eye(16), 1e-4, 1e-4));
  // encode = V (patch - m) with one mean m for every patch (scale off).
  auto m1 = patchify(x, 4)[2][3] - tok.to_patch_space(x)[2][3];
  auto m2 = patchify(x, 4)[0][7] - tok.to_patch_space(x)[0][7];
  EXPECT_TRUE(torch::allclose(m1, m2, 1e-5, 1e-5));
  auto z = tok.encode(x)[2][3];
  for (int k = 0; k < 5; ++k)
    EXPECT_NEAR(z[k].item<float>(), torch::dot(V[k], patchify(x, 4)[2][3] - m1).item<float>(), 1e-4);
  // More components, less error.
  c.d = 10;
  PatchPcaTokenizer more(c, 1);
  more.fit(x, 0);
  EXPECT_LT(more.reconstruction_mse(x), tok.reconstruction_mse(x));
}

// A split read in batches (streamed data) fits the basis the whole tensor
// fits, bit for bit, reading at most 64 images at a time and every image at
// most once.
TEST(PatchPca, FitFromBatchesEqualsFitFromTheWholeSplit) {
  TokenizerConfig c;
  c.patch = 4;
  c.d = 6;
  c.fit_patches = 5000;
  auto x = torch::rand({150, 1, 16, 16}) * 2 - 1;
  PatchPcaTokenizer whole(c, 1), batched(c, 1);
  whole.fit(x, 7);
  ImageBatches b = image_batches(x);
  int64_t most = 0, seen = 0;
  b.read = [&](const torch::Tensor& idx) {
    most = std::max(most, idx.size(0)), seen += idx.size(0);
    return x.index_select(0, idx);
  };
  batched.fit_batches(b, 7);
  EXPECT_TRUE(torch::equal(whole.basis(), batched.basis()));
  EXPECT_DOUBLE_EQ(whole.reconstruction_mse(x), batched.reconstruction_mse(b));
  EXPECT_EQ(most, 64);
  EXPECT_LE(seen, 150);
}

TEST(PatchPca, ExactOnItsOwnSample) {
  // With d = D the reconstruction is exact.
  TokenizerConfig c;
  c.patch = 2;
  c.d = 4;
  c.fit_patches = 5000;
  PatchPcaTokenizer tok(c, 1);
  auto x = images(16, 8);
  tok.fit(x, 1);
  EXPECT_LT(tok.reconstruction_mse(x), 1e-10);
}

class TokenizerConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerConformance, RoundTripDeterminismSaveLoad) {
  TokenizerConfig c;
  c.name = GetParam();
  c.patch = 4;
  c.d = 6;
  c.fit_patches = 4000;
  c.steps = 150;  // learned tokenizers: a short fit is enough to beat zero
  c.lr = 3e-3;
  c.batch = 32;
  if (c.name == "conv_vae") c.downsample = 4, c.width = 8;  // one latent pixel per token
  auto x = images(32, 16);
  auto a = make_tokenizer(c, 1), b = make_tokenizer(c, 1);
  a->fit(x, 7);
  b->fit(x, 7);
  auto z = a->encode(x);
  ASSERT_EQ(z.dim(), 3);
  EXPECT_EQ(z.size(0), 32);
  EXPECT_EQ(z.size(1), 16);  // (16 / 4)^2 tokens
  EXPECT_EQ(z.size(2), a->d());
  EXPECT_EQ(a->decode(z).sizes(), x.sizes());
  EXPECT_TRUE(torch::allclose(z, b->encode(x)));  // seeded determinism
  auto path = test::temp_dir("tok-" + c.name) + "/tok.h5";
  a->save(path);
  auto loaded = make_tokenizer(c, 1);
  loaded->load(path);
  EXPECT_TRUE(torch::allclose(loaded->encode(x), z));
  EXPECT_TRUE(torch::allclose(loaded->decode(z), a->decode(z)));
  // to(device) moves every tensor encode and decode use (streamed training
  // on a GPU tokenizes there): on the meta device (shapes only) a tensor
  // left on the CPU fails the call. (LibTorch's Module::to cannot move
  // parameters to meta, so the learned tokenizers' networks are checked on
  // a GPU, below.)
  if (a->is_linear()) {
    auto moved = make_tokenizer(c, 1);
    moved->load(path);
    moved->to(torch::kMeta);
    const auto zm = moved->encode(x.to(torch::kMeta));
    EXPECT_TRUE(zm.is_meta());
    EXPECT_TRUE(moved->basis().is_meta());  // LibTorch's matmul takes a CPU operand beside a meta one
    EXPECT_EQ(zm.sizes(), z.sizes());
    EXPECT_EQ(moved->decode(zm).sizes(), x.sizes());
  }
  if (torch::cuda::is_available()) {  // the GPU machine: the same latents to float rounding
    auto gpu = make_tokenizer(c, 1);
    gpu->load(path);
    gpu->to(torch::kCUDA);
    EXPECT_TRUE(torch::allclose(gpu->encode(x.to(torch::kCUDA)).cpu(), z, 1e-4, 1e-4));
  }
  double mse = a->reconstruction_mse(x);
  EXPECT_GE(mse, 0.0);
  EXPECT_LT(mse, x.pow(2).mean().item<double>());  // better than predicting zero
  if (!a->is_linear()) {  // the fitting curve is recorded and goes down
    ASSERT_GE(a->fit_curve().size(), 2u);
    EXPECT_LT(a->fit_curve().back()[2], a->fit_curve().front()[2]);
    EXPECT_EQ(loaded->fit_curve().size(), a->fit_curve().size());
  }
  fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(AllRegistered, TokenizerConformance,
                         ::testing::ValuesIn(tokenizer_names()));

TEST(Tokenizer, PatchifyRoundTrip) {
  auto x = torch::arange(2 * 3 * 8 * 8, torch::kFloat32).reshape({2, 3, 8, 8});
  auto p = patchify(x, 4);
  EXPECT_EQ(p.sizes(), (std::vector<int64_t>{2, 4, 48}));
  EXPECT_TRUE(unpatchify(p, 4, 3, 8, 8).equal(x));
  EXPECT_FLOAT_EQ(p[0][1][1].item<float>(), x[0][0][0][5].item<float>());  // token (0,1), pixel (0,1)
}

TEST(Tokenizer, LoadRejectsAMismatchedFile) {
  TokenizerConfig c;
  c.patch = 4;
  c.d = 4;
  c.fit_patches = 1000;
  PatchPcaTokenizer tok(c, 1);
  tok.fit(images(8, 16), 0);
  auto path = test::temp_dir("tok-mismatch") + "/tok.h5";
  tok.save(path);
  c.patch = 2;
  PatchPcaTokenizer other(c, 1);
  EXPECT_THROW(other.load(path), InputError);
  EXPECT_THROW(other.load(path + ".missing"), InputError);
  fs::remove(path);
}
