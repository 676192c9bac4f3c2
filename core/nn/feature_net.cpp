#include "core/nn/feature_net.hpp"
#include "core/base/archive_check.hpp"
#include "core/base/stop.hpp"

#include <fmt/core.h>
#include <torch/script.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/base/errors.hpp"
#include "core/base/atomic_file.hpp"
#include "core/records/module_h5.hpp"

namespace ldae {
namespace fs = std::filesystem;

namespace {
torch::nn::Sequential stage(int64_t in, int64_t out) {
  namespace nn = torch::nn;
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(2).padding(1)), nn::SiLU(),
                        nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1)), nn::SiLU());
}
}  // namespace

SmallCnnImpl::SmallCnnImpl(int64_t channels, int64_t classes, int64_t w) {
  s1 = register_module("s1", stage(channels, w));
  s2 = register_module("s2", stage(w, 2 * w));
  s3 = register_module("s3", stage(2 * w, 4 * w));
  head = register_module("head", FusedLinear(4 * w, classes));
}

std::vector<torch::Tensor> SmallCnnImpl::stages(const torch::Tensor& x) {
  auto a = s1->forward(x), b = s2->forward(a), c = s3->forward(b);
  return {a, b, c};
}

torch::Tensor SmallCnnImpl::forward(const torch::Tensor& x) {
  return head(stages(x).back().mean({2, 3}));
}

ClassifierNet::ClassifierNet(int64_t channels, int64_t classes) : net_(channels, classes) {}

double ClassifierNet::train(const torch::Tensor& images, const torch::Tensor& labels, int epochs,
                            uint64_t seed, const torch::Tensor& test_images,
                            const torch::Tensor& test_labels) {
  const ImageBatches test = test_images.defined() ? image_batches(test_images) : ImageBatches{};
  return train(image_batches(images), labels, epochs, seed, test_images.defined() ? &test : nullptr,
               test_labels);
}

double ClassifierNet::train(const ImageBatches& images, const torch::Tensor& labels, int epochs, uint64_t seed,
                            const ImageBatches* test, const torch::Tensor& test_labels) {
  torch::manual_seed(seed);
  net_ = SmallCnn(images.c, net_->head->options.out_features());
  const int64_t N = images.n, B = 128, spe = std::max<int64_t>(1, N / B);
  const int64_t total = int64_t(epochs) * spe;
  torch::optim::AdamW opt(net_->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  net_->train();
  for (int64_t step = 0; step < total; ++step) {
    check_stop("the classifier fit");
    if (step % spe == 0) torch::manual_seed(seed + 1000 + step / spe);
    auto idx = torch::randint(N, {B}, torch::kLong);
    auto x = images.read(idx);
    // A random flip keeps the features from memorising orientation quirks.
    if (torch::rand({1}).item<double>() < 0.5) x = x.flip({3});
    auto loss = torch::nn::functional::cross_entropy(net_->forward(x), labels.index_select(0, idx));
    const double lr = 2e-3 * 0.5 * (1 + std::cos(M_PI * double(step) / double(total)));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  net_->eval();
  if (!test) return -1;
  torch::NoGradGuard ng;
  int64_t correct = 0;
  for (int64_t i = 0; i < test->n; i += 1024) {
    const int64_t hi = std::min(i + 1024, test->n);
    correct += net_->forward(test->rows(i, hi)).argmax(1).eq(test_labels.slice(0, i, hi)).sum().item<int64_t>();
  }
  accuracy = 100.0 * double(correct) / double(test->n);
  return accuracy;
}

void ClassifierNet::save(const std::string& path) const {
  H5File f(path, H5File::Create);
  f.set_attr("kind", std::string("classifier"));
  f.set_attr("test_accuracy", accuracy);
  save_module(f, "net", *net_);
}

void ClassifierNet::load(const std::string& path) {
  H5File f(path, H5File::Read);
  load_module(f, "net", *net_);
  accuracy = f.attr_f64("test_accuracy");
  net_->eval();
}

std::vector<torch::Tensor> ClassifierNet::layers(const torch::Tensor& images) {
  // The weights keep requires_grad although nothing updates them (their grads
  // are dropped here): a suspected slow LibTorch 1.13 CPU path for an
  // input-only convolution backward. Not confirmed: the slow fit that
  // suggested it was measured while another process shared the cores.
  for (auto& p : net_->parameters()) p.mutable_grad() = torch::Tensor();
  return net_->stages(images);
}

torch::Tensor ClassifierNet::pooled(const torch::Tensor& images) {
  return net_->stages(images).back().mean({2, 3});
}

namespace {

class TorchScriptNet : public FeatureNet {
 public:
  TorchScriptNet(torch::jit::Module m, std::string path) : m_(std::move(m)), path_(std::move(path)) {
    m_.eval();
    for (auto p : m_.parameters()) p.set_requires_grad(false);
  }
  std::vector<torch::Tensor> layers(const torch::Tensor& images) override {
    std::vector<torch::Tensor> out;
    for (auto& t : outputs(images))
      if (t.dim() == 4) out.push_back(t);
    if (out.empty()) out = outputs(images);
    return out;
  }
  torch::Tensor pooled(const torch::Tensor& images) override {
    auto last = outputs(images).back();
    return last.dim() == 4 ? last.mean({2, 3}) : last.reshape({last.size(0), -1});
  }
  std::string describe() const override { return "TorchScript " + path_; }

 private:
  std::vector<torch::Tensor> outputs(const torch::Tensor& images) {
    auto r = m_.forward({images});
    std::vector<torch::Tensor> out;
    if (r.isTensor()) out.push_back(r.toTensor());
    else if (r.isTuple())
      for (const auto& e : r.toTuple()->elements()) out.push_back(e.toTensor());
    else if (r.isTensorList())
      for (const auto& e : r.toTensorVector()) out.push_back(e);
    else
      throw InputError(path_ + ": forward() must return a tensor or a tuple/list of tensors");
    return out;
  }
  torch::jit::Module m_;
  std::string path_;
};

}  // namespace

std::shared_ptr<FeatureNet> load_torchscript_net(const std::string& path) {
  if (!fs::exists(path))
    throw InputError(fmt::format("feature network '{}' does not exist; give a TorchScript file "
                                 "(torch.jit.script(net).save(path)) or \"classifier\"",
                                 path));
  check_archive(path, "feature network");
  try {
    return std::make_shared<TorchScriptNet>(torch::jit::load(path), path);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: not a loadable TorchScript module ({})", path, load_failure(e)));
  }
}

std::shared_ptr<FeatureNet> make_feature_net(const std::string& spec, const std::string& results,
                                             const std::string& data_key, const ImageBatches& train_images,
                                             const torch::Tensor& train_labels, const ImageBatches* test_images,
                                             const torch::Tensor& test_labels, int64_t classes, int epochs,
                                             const std::function<void(const std::string&)>& log) {
  if (spec != "classifier") return load_torchscript_net(spec);
  auto net = std::make_shared<ClassifierNet>(train_images.c, classes);
  const std::string path =
      fmt::format("{}/classifiers/cnn-{}-e{}.h5", results, data_key, epochs);
  // A kept classifier that cannot be read (damaged, another version's) is
  // trained again and replaced: it is derived data.
  if (fs::exists(path)) {
    try {
      net->load(path);
      if (log) log(fmt::format("classifier loaded from {} (test accuracy {:.2f}%)", path, net->accuracy));
      return net;
    } catch (const std::exception& e) {
      if (log)
        log(fmt::format("classifier {} not used ({}): trained again", path,
                        reason_about(first_sentence(e.what(), 400), path)));
      net = std::make_shared<ClassifierNet>(train_images.c, classes);
    }
  }
  double acc = net->train(train_images, train_labels, epochs, /*seed=*/0, test_images, test_labels);
  write_file_atomically(path, [&](const std::string& tmp) { net->save(tmp); });
  if (log) log(fmt::format("classifier trained ({} epochs, test accuracy {:.2f}%) -> {}", epochs, acc, path));
  return net;
}

}  // namespace ldae
