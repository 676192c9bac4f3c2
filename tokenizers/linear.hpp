// Linear patch tokenizers: z = V (patch(x) - m) / s, decode = V^T z s + m.
// pixel: V = I (d = D); patch_pca: V = top-d eigenvectors of the patch
// covariance (paper Table 2, "patch-wise PCA").
#pragma once
#include <Eigen/Dense>

#include "tokenizers/tokenizer.hpp"

namespace ldae {

class LinearTokenizer : public Tokenizer {
 public:
  torch::Tensor encode(const torch::Tensor& images) const override;
  torch::Tensor decode(const torch::Tensor& tokens) const override;
  void save(const std::string& path) const override;
  void load(const std::string& path) override;
  // Eigenvalues of the patch covariance (pixel units), sorted decreasing (D,).
  const torch::Tensor& eigenvalues() const { return eigenvalues_; }

 protected:
  // Latent scale s: the root mean variance of the kept components, so noise
  // of sigma = 1 is comparable to the signal (cf. DiT's VAE factor 0.18215).
  void set_scale(bool enabled, const torch::Tensor& kept_variances);
  torch::Tensor eigenvalues_;
};

class PixelTokenizer : public LinearTokenizer {
 public:
  PixelTokenizer(const TokenizerConfig& c, int channels);
  std::string name() const override { return "pixel"; }
  void fit(const torch::Tensor& images, uint64_t seed) override;

 private:
  bool scale_enabled_;
};

// PCA of a sample of patches X (n, D): mean (D,), basis rows (D, D) sorted by
// decreasing eigenvalue of the sample covariance (n - 1 normalised).
struct PcaFit {
  Eigen::VectorXd mean;
  Eigen::MatrixXd basis;  // rows are components
  Eigen::VectorXd eigenvalues;
};
PcaFit pca_fit(Eigen::MatrixXd X);

class PatchPcaTokenizer : public LinearTokenizer {
 public:
  PatchPcaTokenizer(const TokenizerConfig& c, int channels);
  std::string name() const override { return "patch_pca"; }
  // Mean and covariance of fit_patches randomly sampled patches (positions
  // and images drawn with the seed), eigendecomposition with Eigen.
  void fit(const torch::Tensor& images, uint64_t seed) override;
  // The same fit reading only the images its patches come from, 64 at a time.
  void fit_batches(const ImageBatches& images, uint64_t seed) override;

 private:
  int fit_patches_;
  bool scale_enabled_;
};

}  // namespace ldae
