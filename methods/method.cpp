#include "methods/method.hpp"

#include <cmath>

#include "core/data/augment.hpp"
#include "core/nn/linear.hpp"

namespace ldae {

std::vector<torch::Tensor> MethodImpl::trained_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

torch::Tensor MethodImpl::view_tokens(const torch::Tensor& idx, const ViewSpec& view) const {
  torch::NoGradGuard ng;
  auto v = ctx_.crop_images
               ? augment_cropped_view(ctx_.crop_images(idx, view.scale_lo, view.scale_hi, view.out_side), view,
                                      ctx_.normalized, ctx_.image_side)
               : augment_view(ctx_.read_images(idx), view, ctx_.normalized);
  return ctx_.encode(v).to(ctx_.device);
}

torch::Tensor MethodImpl::pooled(Backbone& model, const torch::Tensor& tokens) const {
  auto t = torch::zeros({tokens.size(0)}, tokens.options().dtype(torch::kFloat32));
  return pool_features(model->features(tokens, t, ctx_.block), ctx_.pool, model->has_cls_token());
}

torch::nn::Sequential bn_mlp(int64_t layers, int64_t in, int64_t hidden, int64_t out) {
  torch::nn::Sequential m;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t a = l == 0 ? in : hidden, b = l == layers - 1 ? out : hidden;
    m->push_back(FusedLinear(torch::nn::LinearOptions(a, b).bias(false)));
    if (l < layers - 1) {
      m->push_back(torch::nn::BatchNorm1d(b));
      m->push_back(torch::nn::ReLU());
    } else {
      m->push_back(torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(b).affine(false)));
    }
  }
  return m;
}

double linear_macs(torch::nn::Module& m) {
  double macs = 0;
  for (auto& sub : m.modules(/*include_self=*/true))
    if (auto* lin = sub->as<torch::nn::Linear>()) macs += double(lin->weight.numel());
  return macs;
}

void momentum_update(torch::nn::Module& dst, torch::nn::Module& src, double m) {
  torch::NoGradGuard ng;
  auto d = dst.parameters(), s = src.parameters();
  for (size_t i = 0; i < d.size(); ++i) d[i].mul_(m).add_(s[i].detach(), 1.0 - m);
}

void copy_frozen(torch::nn::Module& dst, torch::nn::Module& src) {
  torch::NoGradGuard ng;
  auto d = dst.parameters(), s = src.parameters();
  for (size_t i = 0; i < d.size(); ++i) d[i].copy_(s[i]), d[i].set_requires_grad(false);
  auto db = dst.buffers(), sb = src.buffers();
  for (size_t i = 0; i < db.size(); ++i) db[i].copy_(sb[i]);
}

double cosine_momentum(double m0, int64_t step, int64_t total) {
  return 1.0 - (1.0 - m0) * 0.5 * (1.0 + std::cos(M_PI * double(step) / double(std::max<int64_t>(1, total))));
}

}  // namespace ldae
