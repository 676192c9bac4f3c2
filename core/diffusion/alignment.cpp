#include "core/diffusion/alignment.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <cmath>

#include "core/base/errors.hpp"

namespace ldae {
namespace F = torch::nn::functional;

AlignProjectorImpl::AlignProjectorImpl(int64_t width, int64_t target_dim, int64_t hidden_width) {
  const int64_t hidden = hidden_width > 0 ? hidden_width : 4 * width;
  fc1 = register_module("fc1", FusedLinear(width, hidden));
  fc2 = register_module("fc2", FusedLinear(hidden, hidden));
  fc3 = register_module("fc3", FusedLinear(hidden, target_dim));
}

torch::Tensor AlignProjectorImpl::forward(const torch::Tensor& h) {
  return fc3(torch::silu(fc2(torch::silu(fc1(h)))));
}

torch::Tensor alignment_loss(const torch::Tensor& p, const torch::Tensor& y, std::pair<int64_t, int64_t> grid) {
  torch::Tensor tokens;  // (B, N, F)
  if (y.dim() == 4) {
    auto pooled = F::adaptive_avg_pool2d(y, F::AdaptiveAvgPool2dFuncOptions({grid.first, grid.second}));
    tokens = pooled.flatten(2).transpose(1, 2);
  } else {
    tokens = y.unsqueeze(1).expand({y.size(0), p.size(1), y.size(1)});
  }
  if (tokens.size(1) != p.size(1) || tokens.size(2) != p.size(2))
    throw std::logic_error(fmt::format("alignment: {} projected tokens of width {} against {} targets of {}",
                                       p.size(1), p.size(2), tokens.size(1), tokens.size(2)));
  auto cos = F::cosine_similarity(p.to(torch::kFloat32), tokens.to(torch::kFloat32),
                                  F::CosineSimilarityFuncOptions().dim(-1).eps(1e-8));  // (B, N)
  return -cos.mean();
}

Alignment::Alignment(int64_t block, int64_t width, std::shared_ptr<FeatureNet> net, torch::Tensor images,
                     int64_t hidden)
    : Alignment(block, width, std::move(net), image_batches(images), hidden) {}

Alignment::Alignment(int64_t block, int64_t width, std::shared_ptr<FeatureNet> net, ImageBatches images,
                     int64_t hidden)
    : block_(block), net_(std::move(net)), images_(std::move(images)) {
  // One pass on two images: the target's width, and a network that cannot
  // take these images (channels, size) said before training starts.
  torch::NoGradGuard ng;
  torch::Tensor y;
  try {
    y = network_target(images_.rows(0, std::min<int64_t>(2, images_.n)));
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("objective.align_target: {} fails on the run's images {} ({}); export "
                                 "a network for {}-channel images", net_->describe(),
                                 fmt::format("{} x {} x {}", images_.c, images_.h, images_.w),
                                 first_sentence(e.what_without_backtrace()), images_.c));
  }
  projector_ = AlignProjector(width, y.size(1), hidden);
}

Alignment::Alignment(int64_t block, int64_t width, Backbone teacher, int64_t hidden)
    : block_(block), teacher_(std::move(teacher)) {
  projector_ = AlignProjector(width, teacher_->feature_width(block), hidden);
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  teacher_->eval();
}

torch::Tensor Alignment::network_target(const torch::Tensor& images) const {
  auto maps = net_->layers(images);
  auto y = maps.empty() ? net_->pooled(images) : maps.back();
  if (y.dim() == 4 || y.dim() == 2) return y;
  if (y.dim() == 3) {  // (B, N, F) tokens (a ViT): a square grid, after an optional class token
    const int64_t n = y.size(1), s = std::llround(std::sqrt(double(n))), s1 = std::llround(std::sqrt(double(n - 1)));
    if (s * s == n) return y.transpose(1, 2).reshape({y.size(0), y.size(2), s, s});
    if (s1 * s1 == n - 1) return y.slice(1, 1).transpose(1, 2).reshape({y.size(0), y.size(2), s1, s1});
    throw InputError(fmt::format("objective.align_target: {} returns {} tokens, neither a square grid nor "
                                 "one class token and a square grid; return a (B, F, h, w) map, (B, h*w, F) "
                                 "tokens or (B, F) vectors", net_->describe(), n));
  }
  throw InputError(fmt::format("objective.align_target: {} returns a {}-D tensor; return a (B, F, h, w) map, "
                               "(B, N, F) tokens or (B, F) vectors", net_->describe(), y.dim()));
}

torch::Tensor Alignment::target(const torch::Tensor& idx, const torch::Tensor& clean_input, torch::Device device) {
  torch::NoGradGuard ng;
  if (teacher_) {
    auto t = torch::ones({clean_input.size(0)}, clean_input.options().dtype(torch::kFloat32));
    teacher_->tap(block_);
    teacher_->forward(clean_input, t);
    auto f = teacher_->tapped();  // (b, [1 +] h w, C)
    const auto [h, w] = teacher_->tapped_grid();
    teacher_->tap(-1);
    if (teacher_->has_cls_token()) f = f.slice(1, 1);
    return f.transpose(1, 2).reshape({f.size(0), f.size(2), h, w}).to(torch::kFloat32);
  }
  return network_target(images_.read(idx.cpu())).to(device);
}

torch::Tensor Alignment::loss(const Backbone& model, const torch::Tensor& target) {
  auto h = model->tapped();
  if (!h.defined())
    throw std::logic_error(fmt::format("alignment: the forward pass kept no state at block {}", block_));
  if (model->has_cls_token()) h = h.slice(1, 1);  // grid tokens only
  return alignment_loss(projector_->forward(h), target, model->tapped_grid());
}

}  // namespace ldae
