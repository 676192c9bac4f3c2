#include "tokenizers/learned.hpp"
#include "core/base/stop.hpp"

#include <fmt/core.h>

#include "core/base/errors.hpp"
#include "core/records/module_h5.hpp"
#include "core/base/seeds.hpp"
#include "tokenizers/losses.hpp"

namespace ldae {

LearnedTokenizer::LearnedTokenizer(const TokenizerConfig& c, int channels) : cfg_(c) {
  patch_ = c.patch;
  d_ = c.d;
  C_ = channels;
}

std::pair<double, double> LearnedTokenizer::train_step(const torch::Tensor& x, int64_t) {
  auto [mu, logvar] = posterior(x);
  torch::Tensor z = mu;
  torch::Tensor loss_kl = torch::zeros({});
  if (logvar.defined()) {  // reparameterised sample z = mu + exp(logvar / 2) eps
    z = mu + (0.5 * logvar).exp() * torch::randn_like(mu);
    loss_kl = kl_standard_normal(mu, logvar);
  }
  auto recon = (generate(z) - x).pow(2).mean();
  auto loss = recon + cfg_.kl_weight * loss_kl;
  opt_->zero_grad();
  loss.backward();
  opt_->step();
  return {loss.item<double>(), recon.item<double>()};
}

void LearnedTokenizer::fit(const torch::Tensor& images, uint64_t seed) {
  fit_batches(image_batches(images), seed);
}

void LearnedTokenizer::fit_batches(const ImageBatches& images, uint64_t seed) {
  C_ = images.c, H_ = images.h, W_ = images.w;
  torch::manual_seed(seed);
  build();
  opt_ = std::make_unique<torch::optim::AdamW>(
      net().parameters(), torch::optim::AdamWOptions(cfg_.lr).betas({0.9, 0.99}).weight_decay(0));
  net().train();
  fit_curve_.clear();
  const int64_t N = images.n, B = std::min<int64_t>(cfg_.batch, N);
  double loss_sum = 0, recon_sum = 0;
  int n = 0;
  for (int64_t step = 0; step < cfg_.steps; ++step) {
    check_stop("the tokenizer fit");
    torch::manual_seed(step_seed(seed, uint64_t(step)));
    auto x = images.read(torch::randint(N, {B}, torch::kLong));
    auto [loss, recon] = train_step(x, step);
    if (!std::isfinite(loss))
      throw std::runtime_error(fmt::format("{} tokenizer: non-finite loss at step {}; lower "
                                           "tokenizer.lr", name(), step));
    loss_sum += loss, recon_sum += recon, ++n;
    if ((step + 1) % 50 == 0 || step + 1 == cfg_.steps) {
      fit_curve_.push_back({double(step + 1), loss_sum / n, recon_sum / n});
      loss_sum = recon_sum = 0, n = 0;
    }
  }
  opt_.reset();
  net().eval();
  // Latent scale: the root mean variance of the posterior means over a
  // sample, so the diffusion noise meets unit-variance latents (DiT's VAE
  // factor 0.18215 plays this role).
  torch::NoGradGuard ng;
  auto sample = images.rows(0, std::min<int64_t>(N, 4096));
  auto mu = posterior(sample).first;
  scale_ = cfg_.scale ? std::sqrt(mu.reshape({-1, d_}).var(0).mean().item<double>()) : 1.0;
  if (!(scale_ > 1e-12)) scale_ = 1.0;
}

torch::Tensor LearnedTokenizer::encode(const torch::Tensor& images) const {
  torch::NoGradGuard ng;
  auto self = const_cast<LearnedTokenizer*>(this);  // modules' forward is non-const
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 512)
    out.push_back(self->posterior(images.slice(0, i, std::min(i + 512, images.size(0)))).first);
  return torch::cat(out) / scale_;
}

torch::Tensor LearnedTokenizer::decode(const torch::Tensor& tokens) const {
  auto self = const_cast<LearnedTokenizer*>(this);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < tokens.size(0); i += 512)
    out.push_back(self->generate(tokens.slice(0, i, std::min(i + 512, tokens.size(0))) * scale_));
  return torch::cat(out);
}

void LearnedTokenizer::to(torch::Device device) {
  Tokenizer::to(device);
  net().to(device);
}

std::vector<std::pair<std::string, torch::Tensor>> LearnedTokenizer::export_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : const_cast<LearnedTokenizer*>(this)->net().named_parameters())
    if (p.key().rfind("encoder.", 0) == 0) out.emplace_back(p.key(), p.value().detach());
  return out;
}

void LearnedTokenizer::save(const std::string& path) const {
  H5File f(path, H5File::Create);
  write_header(f);
  std::vector<double> curve;
  for (const auto& r : fit_curve_) curve.insert(curve.end(), r.begin(), r.end());
  if (!fit_curve_.empty()) f.write("fit_curve", curve, {uint64_t(fit_curve_.size()), 3});
  save_module(f, "net", const_cast<LearnedTokenizer*>(this)->net());
}

void LearnedTokenizer::load(const std::string& path) {
  H5File f(path, H5File::Read);
  read_header(f);
  build();
  load_module(f, "net", net());
  net().eval();
  fit_curve_.clear();
  if (f.has("fit_curve")) {
    auto v = f.read_f64("fit_curve");
    for (size_t i = 0; i + 2 < v.size(); i += 3) fit_curve_.push_back({v[i], v[i + 1], v[i + 2]});
  }
}

}  // namespace ldae
