// Frozen feature networks: what the perceptual loss (conv_vae) and FID
// compare images in. Either a TorchScript file the user brings (e.g. a VGG or
// Inception exported from PyTorch), or a small classifier the harness trains
// itself with labels on the run's training split (the MNIST-FID practice).
// The second is exactly the label leak the paper points out for VQGAN's
// perceptual loss: a tokenizer that uses it has seen labels.
#pragma once
#include <torch/torch.h>

#include "core/data/image_source.hpp"
#include "core/nn/linear.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ldae {

class FeatureNet {
 public:
  virtual ~FeatureNet() = default;
  // Intermediate feature maps (B, C_k, h_k, w_k) of images (B, C, H, W) in
  // [-1, 1], for the perceptual loss. Differentiable in the images.
  virtual std::vector<torch::Tensor> layers(const torch::Tensor& images) = 0;
  // One feature vector per image (B, F), for FID.
  virtual torch::Tensor pooled(const torch::Tensor& images) = 0;
  virtual std::string describe() const = 0;
};

// conv(3x3, s2)+SiLU x 3 (width w, 2w, 4w) -> global average pool (4w
// features) -> linear classifier.
struct SmallCnnImpl : torch::nn::Module {
  SmallCnnImpl(int64_t channels, int64_t classes, int64_t width = 32);
  std::vector<torch::Tensor> stages(const torch::Tensor& x);
  torch::Tensor forward(const torch::Tensor& x);  // logits (B, classes)
  torch::nn::Sequential s1{nullptr}, s2{nullptr}, s3{nullptr};
  FusedLinear head{nullptr};
};
TORCH_MODULE(SmallCnn);

class ClassifierNet : public FeatureNet {
 public:
  ClassifierNet(int64_t channels, int64_t classes);
  // Supervised training (AdamW, batch 128, cosine), seeded. Returns test
  // accuracy (%) when test images are given, else -1.
  double train(const torch::Tensor& images, const torch::Tensor& labels, int epochs, uint64_t seed,
               const torch::Tensor& test_images = {}, const torch::Tensor& test_labels = {});
  // The same training reading each step's 128 images, and the test split
  // 1,024 at a time, on demand (a streamed split: memory bounded by a batch).
  // Resident images give the same network bit for bit.
  double train(const ImageBatches& images, const torch::Tensor& labels, int epochs, uint64_t seed,
               const ImageBatches* test = nullptr, const torch::Tensor& test_labels = {});
  void save(const std::string& path) const;  // HDF5: one dataset per parameter
  void load(const std::string& path);
  std::vector<torch::Tensor> layers(const torch::Tensor& images) override;
  torch::Tensor pooled(const torch::Tensor& images) override;
  std::string describe() const override { return "harness classifier"; }
  double accuracy = -1;  // test accuracy after training (%)

 private:
  SmallCnn net_;
};

// Load a TorchScript module: forward(images) returns a tensor or a tuple/list
// of tensors. layers() = every returned 4-D tensor; pooled() = the last
// output, spatially averaged if 4-D. Throws InputError naming the file.
std::shared_ptr<FeatureNet> load_torchscript_net(const std::string& path);

// "classifier" -> the harness classifier for this data, trained once and
// cached under results/classifiers/<key>.h5; otherwise a TorchScript path.
// The images are read per batch (resident or streamed); `test` may be null
// (no accuracy report).
std::shared_ptr<FeatureNet> make_feature_net(const std::string& spec, const std::string& results,
                                             const std::string& data_key, const ImageBatches& train_images,
                                             const torch::Tensor& train_labels, const ImageBatches* test_images,
                                             const torch::Tensor& test_labels, int64_t classes, int epochs,
                                             const std::function<void(const std::string&)>& log);

}  // namespace ldae
