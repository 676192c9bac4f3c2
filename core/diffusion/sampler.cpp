#include "core/diffusion/sampler.hpp"
#include "core/base/stop.hpp"

#include <cmath>

#include "core/diffusion/learned_variance.hpp"
#include "core/nn/autocast.hpp"
#include "core/base/errors.hpp"

namespace ldae {

std::vector<int64_t> respaced_timesteps(const Schedule& s, int steps) {
  int64_t t_max = s.T;
  while (t_max > 1 && !(s.gamma.at(size_t(t_max)) > 0)) --t_max;
  std::vector<int64_t> ts;
  steps = int(std::max<int64_t>(1, std::min<int64_t>(steps, t_max)));
  for (int i = steps - 1; i >= 0; --i) {
    const int64_t t = steps == 1 ? t_max
                                 : 1 + int64_t(std::llround(double(t_max - 1) * i / (steps - 1)));
    if (ts.empty() || t < ts.back()) ts.push_back(t);
  }
  return ts;
}

torch::Tensor ddim_step(const torch::Tensor& zt, const torch::Tensor& eps, double gt, double st,
                        double gn, double sn, double eta, const torch::Tensor& noise) {
  auto x0 = (zt - st * eps) / gt;
  double s = 0;
  if (eta > 0 && st > 0 && gn > 0)
    s = eta * std::sqrt(std::max(0.0, (sn * sn) / (st * st) * (1.0 - (gt * gt) / (gn * gn))));
  auto out = gn * x0 + std::sqrt(std::max(0.0, sn * sn - s * s)) * eps;
  return s > 0 ? out + s * noise : out;
}

torch::Tensor integrate_velocity(torch::Tensor z, int T, int steps, bool heun,
                                 const std::function<torch::Tensor(const torch::Tensor&, int64_t)>& v) {
  steps = std::max(1, std::min(steps, T));
  int64_t t = T;
  for (int k = 1; k <= steps; ++k) {
    check_stop("sampling");
    const int64_t tn = int64_t(std::llround(double(T) * (1.0 - double(k) / steps)));
    const double h = double(tn - t) / T;  // ds < 0
    const auto vt = v(z, t);
    auto pred = z + h * vt;
    z = heun && tn > 0 ? z + 0.5 * h * (vt + v(pred, tn)) : pred;
    t = tn;
  }
  return z;
}

torch::Tensor sample_latents(Backbone& model, const Schedule& s, const Objective& o, int64_t L,
                             int64_t d, const SampleOptions& opt, torch::Device device) {
  std::vector<torch::Tensor> out;
  sample_latent_batches(model, s, o, L, d, opt, device, [&out](const torch::Tensor& z) { out.push_back(z); });
  return torch::cat(out);
}

void sample_latent_batches(Backbone& model, const Schedule& s, const Objective& o, int64_t L, int64_t d,
                           const SampleOptions& opt, torch::Device device,
                           const std::function<void(const torch::Tensor&)>& take) {
  if (o.image_space || !o.input_scaling ||
      (o.target != Target::Eps && o.target != Target::CleanLatent && o.target != Target::Velocity))
    throw InputError("sampling needs a latent-space model with input scaling that predicts eps, "
                     "the clean latent or the velocity");
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const auto ts = respaced_timesteps(s, opt.steps);
  auto gen = at::detail::createCPUGenerator(opt.seed);
  for (int64_t i0 = 0; i0 < opt.n; i0 += opt.batch) {
    const int64_t B = std::min(opt.batch, opt.n - i0);
    auto z = torch::randn({B, L, d}, gen).to(device);
    torch::Tensor y;
    if (opt.classes > 0) y = (torch::arange(i0, i0 + B) % opt.classes).to(device);
    auto predict = [&](const torch::Tensor& zt, int64_t t) {  // the model's output (B, L, d)
      auto tt = torch::full({B}, double(t), torch::dtype(torch::kFloat32).device(device));
      Autocast ac(opt.bf16 && device.is_cuda(), device);
      return model->forward(zt, tt, y).to(torch::kFloat32);
    };
    if (o.target == Target::Velocity) {  // SiT: the probability-flow ODE, Heun
      take(integrate_velocity(z, s.T, opt.steps, /*heun=*/true, predict).cpu());
      continue;
    }
    for (size_t k = 0; k < ts.size(); ++k) {
      check_stop("sampling");
      const int64_t t = ts[k], tn = k + 1 < ts.size() ? ts[k + 1] : 0;
      const double gt = s.gamma[t], st = s.sigma[t];
      const double gn = tn > 0 ? s.gamma[tn] : 1.0, sn = tn > 0 ? s.sigma[tn] : 0.0;
      const auto out = predict(z, t);
      const auto pred = regression_part(o, out);
      // A clean-latent model's estimate converts to eps = (z - gamma x0) / sigma.
      auto eps = o.target == Target::Eps ? pred : (z - gt * pred) / st;
      auto noise = torch::randn({B, L, d}, gen).to(device);
      // DDPM with DiT's learned variance takes the model's; DDIM (eta 0) has
      // none to take (DiT's ddim_sample reads only eps).
      z = o.learn_sigma && opt.eta > 0 ? learned_variance_step(z, eps, learned_v(o, out), gt, st, gn, sn, noise)
                                       : ddim_step(z, eps, gt, st, gn, sn, opt.eta, noise);
    }
    take(z.cpu());
  }
  if (was_training) model->train();
}

}  // namespace ldae
