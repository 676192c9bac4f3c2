// Tokenizers map images (B, C, H, W) in [-1, 1] to tokens (B, L, d) on an
// h x w grid and back. Linear ones (pixel, patch_pca) also expose the full
// D x D patch basis that the image-space objectives of Table 3 need.
#pragma once
#include <torch/torch.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/data/image_source.hpp"

namespace ldae {

// (B, C, H, W) -> (B, L, p*p*C), patches in row-major grid order, each patch
// flattened as (C, p, p).
torch::Tensor patchify(const torch::Tensor& images, int p);
// Inverse of patchify for a grid of (H / p) x (W / p) patches.
torch::Tensor unpatchify(const torch::Tensor& patches, int p, int C, int H, int W);

class FeatureNet;
class H5File;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string name() const = 0;
  // Fit on training images (N, C, H, W); a no-op for tokenizers without
  // parameters. Deterministic given the seed.
  virtual void fit(const torch::Tensor& images, uint64_t seed) = 0;
  // The same fit on a split read in batches (a streamed split, core/data/
  // image_source.hpp). The default reads the whole split and calls fit; the
  // PCA tokenizer reads only the images its sampled patches come from.
  virtual void fit_batches(const ImageBatches& images, uint64_t seed) { fit(images.rows(0, images.n), seed); }
  // (B, C, H, W) -> (B, L, d)
  virtual torch::Tensor encode(const torch::Tensor& images) const = 0;
  // (B, L, d) -> (B, C, H, W)
  virtual torch::Tensor decode(const torch::Tensor& tokens) const = 0;
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;
  // Moves the tokenizer's tensors (patch mean and basis; a learned
  // tokenizer's networks) to `device`: encode and decode then take images
  // there. Streamed pre-training on a GPU tokenizes each batch on it with a
  // copy loaded from the tokenizer's file (core/run/pretrain.cpp,
  // batch_tokenizer). A plugin tokenizer holding tensors of its own
  // overrides this and calls the base.
  virtual void to(torch::Device device);

  int d() const { return d_; }
  int patch() const { return patch_; }
  // The latent scale s (tokens are divided by it) and the image shape fit saw.
  double scale() const { return scale_; }
  std::array<int, 3> image_shape() const { return {C_, H_, W_}; }
  // What an exported encoder needs of this tokenizer (core/export/
  // encoder_export.hpp) to map images to tokens: linear tokenizers the
  // patch mean "mean" (D,) and the kept basis rows "V" (d, D); learned ones
  // their encoder network's parameters ("encoder.0.weight", ...). Empty for
  // a tokenizer that cannot be exported (a plugin's that does not override it).
  virtual std::vector<std::pair<std::string, torch::Tensor>> export_tensors() const;

  // Learned tokenizers: the frozen network of the perceptual loss, set
  // before fit() when tokenizer.perceptual_weight > 0.
  virtual bool wants_perceptual_net() const { return false; }
  virtual void set_perceptual_net(std::shared_ptr<FeatureNet>) {}
  // Encoder filters (d, D): what each latent dimension reads from a patch
  // (flattened as (C, p, p)); undefined for the convolutional tokenizer.
  virtual torch::Tensor filters() const { return is_linear() ? V() : torch::Tensor(); }
  // Fitting curve (step, total loss, reconstruction MSE); empty for PCA.
  const std::vector<std::array<double, 3>>& fit_curve() const { return fit_curve_; }

  // ---- linear tokenizers: z = V (x - m) / s with V (d, D) orthonormal rows.
  bool is_linear() const { return basis_.defined(); }
  // Patches in the tokenizer's normalised image space x' = (x - m) / s: (B, L, D).
  torch::Tensor to_patch_space(const torch::Tensor& images) const;
  torch::Tensor from_patch_space(const torch::Tensor& patches, int C, int H, int W) const;
  // Full basis (D, D), rows sorted by decreasing variance; V = first d rows.
  const torch::Tensor& basis() const { return basis_; }
  torch::Tensor V() const { return basis_.slice(0, 0, d_); }
  // Reconstruction mean squared error per pixel on `images`.
  double reconstruction_mse(const torch::Tensor& images) const;
  // The same, reading the split `batch` images at a time (the tensor form's 1,024).
  double reconstruction_mse(const ImageBatches& images, int64_t batch = 1024) const;

 protected:
  // Every tokenizer file starts with the same header: name, patch, d, latent
  // scale and the image shape seen by fit. read_header checks name, patch and
  // d against this tokenizer (InputError naming the file) and restores the rest.
  void write_header(H5File& f) const;
  void read_header(const H5File& f);

  int patch_ = 1, d_ = 1;
  int C_ = 1, H_ = 0, W_ = 0;  // image shape seen by fit
  torch::Tensor mean_;   // (D,) patch mean m
  double scale_ = 1.0;   // s: makes the latent variance ~1 (DiT's VAE factor)
  torch::Tensor basis_;  // (D, D) or undefined for non-linear tokenizers
  std::vector<std::array<double, 3>> fit_curve_;
};

// The tokenizer registry (tokenizers/registry.cpp), keyed by tokenizer.name:
// the built-in literal map, then the entries plugins added. make_tokenizer
// throws InputError for an unknown name.
std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerConfig& c, int channels);
std::vector<std::string> tokenizer_names();
bool has_tokenizer(const std::string& name);          // built in or a plugin's
bool has_tokenizer_builtin(const std::string& name);
// A plugin's entry; call has_tokenizer() first (this assumes the name is new).
void add_plugin_tokenizer(const std::string& name,
                          std::function<std::unique_ptr<Tokenizer>(const TokenizerConfig&, int)> make);

}  // namespace ldae
