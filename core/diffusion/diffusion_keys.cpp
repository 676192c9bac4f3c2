#include "core/diffusion/diffusion_keys.hpp"

#include <fmt/core.h>

#include "backbones/backbone.hpp"
#include "core/diffusion/learned_variance.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"
#include "core/diffusion/sampler.hpp"

namespace ldae {

KeyRows noise_keys() {
  return {
      choice(field("noise.schedule", &RunConfig::noise, &NoiseConfig::schedule), schedule_names),
      field("noise.T", &RunConfig::noise, &NoiseConfig::T, 1, 1e6),
      field("noise.sigma", &RunConfig::noise, &NoiseConfig::sigma, 0, 1e3),
      field("noise.sigma_max", &RunConfig::noise, &NoiseConfig::sigma_max, 0, 1e3),
      field("noise.p_mean", &RunConfig::noise, &NoiseConfig::p_mean, -20, 20),
      field("noise.p_std", &RunConfig::noise, &NoiseConfig::p_std, 1e-3, 20),
  };
}

KeyRows objective_keys() {
  return {
      choice(field("objective.target", &RunConfig::objective, &ObjectiveConfig::target), target_names),
      choice(field("objective.space", &RunConfig::objective, &ObjectiveConfig::space), fixed({"latent", "image"})),
      field("objective.input_scaling", &RunConfig::objective, &ObjectiveConfig::input_scaling),
      field("objective.beyond_weight", &RunConfig::objective, &ObjectiveConfig::beyond_weight, 0, 1e3),
      field("objective.learn_sigma", &RunConfig::objective, &ObjectiveConfig::learn_sigma),
      field("objective.align_weight", &RunConfig::objective, &ObjectiveConfig::align_weight, 0, 1e3),
      field("objective.align_block", &RunConfig::objective, &ObjectiveConfig::align_block, -1, 1000),
      field("objective.align_target", &RunConfig::objective, &ObjectiveConfig::align_target),
      field("objective.align_hidden", &RunConfig::objective, &ObjectiveConfig::align_hidden, 0, 1e6),
  };
}

void check_objective(const RunConfig& c, const Fail& fail) {
  const bool linear_tok = c.tokenizer.name == "pixel" || c.tokenizer.name == "patch_pca";
  const bool image_target =
      c.objective.target == "clean_image" || c.objective.target == "original_image";
  if ((image_target || c.objective.space == "image") && !linear_tok)
    fail(image_target ? "objective.target" : "objective.space",
         "image-space inputs and targets use the inverse of a linear tokenizer; "
         "tokenizer '" + c.tokenizer.name + "' has none. Use pixel or patch_pca.");
  if (c.objective.target == "velocity") {
    // SiT: v = d gamma/ds z0 + d sigma/ds eps needs the schedule's derivatives
    // and the interpolant itself as input (z_s = gamma_s z0 + sigma_s eps).
    if (c.noise.schedule != "linear_interp" && c.noise.schedule != "gvp")
      fail("objective.target", "the velocity target needs an interpolant with known derivatives: "
                               "noise.schedule = \"linear_interp\" or \"gvp\", not \"" + c.noise.schedule + "\"");
    if (c.objective.space != "latent" || !c.objective.input_scaling)
      fail("objective.target", "the velocity target is defined for the latent interpolant: "
                               "objective.space = \"latent\" with objective.input_scaling = true");
  }
  if (c.objective.learn_sigma) {
    // DiT's learned variance is the variance of DDPM's reverse step: a
    // network predicting eps on a variance-preserving chain of latents.
    const std::string off = " (or set objective.learn_sigma = false)";
    if (c.objective.target != "eps")
      fail("objective.learn_sigma", "DiT's learned variance goes with its eps prediction: objective.target = \"" +
                                        c.objective.target + "\" must be \"eps\"" + off);
    else if (c.objective.space != "latent")
      fail("objective.learn_sigma", "DiT's learned variance is the variance of its latents' reverse step: "
                                    "objective.space = \"" + c.objective.space + "\" must be \"latent\"" + off);
    else if (!c.objective.input_scaling)
      fail("objective.learn_sigma", "DiT's learned variance needs the variance-preserving chain z_t = gamma_t z0 + "
                                    "sigma_t eps: objective.input_scaling = false must be true" + off);
    else if (has_schedule(c.noise.schedule))
      if (const std::string why = learned_variance_unsupported(make_schedule(c.noise)); !why.empty())
        fail("objective.learn_sigma", why);
  }
  if (c.eval.fid_samples > 0) {
    if (c.objective.space != "latent" || !c.objective.input_scaling ||
        (c.objective.target != "eps" && c.objective.target != "clean_latent" &&
         c.objective.target != "velocity"))
      fail("eval.fid_samples", "generation needs a latent-space model with input scaling that "
                               "predicts eps, clean_latent (Table 1 settings) or velocity (SiT)");
    if (c.objective.target != "velocity" && c.noise.schedule != "ddpm_linear" &&
        c.noise.schedule != "linear_gamma2" && c.noise.schedule != "cosine" &&
        c.noise.schedule != "edm_lognormal")
      fail("eval.fid_samples", "the samplers need a variance-preserving schedule (ddpm_linear, "
                               "linear_gamma2, cosine or edm_lognormal), not '" + c.noise.schedule + "'");
    if (c.eval.sample_steps > c.noise.T)
      fail("eval.sample_steps", fmt::format("{} steps exceed noise.T = {}", c.eval.sample_steps,
                                            c.noise.T));
  }
}

void check_alignment(const RunConfig& c, const Fail& fail) {
  if (c.objective.align_weight <= 0) return;
  const BackboneOptions bo = backbone_options(c);
  const int64_t points = backbone_blocks(c.model.name, bo);
  const int64_t ab = c.objective.align_block >= 0 ? c.objective.align_block : bo.split;
  if (ab < 1 || ab > points)
    fail("objective.align_block", fmt::format("block {} is not one of the feature points 1..{} of {} "
                                              "(-1 = the probe's default, {})", ab, points, c.model.name, bo.split));
  const std::string& target = c.objective.align_target;
  if (target == "ema" && c.train.ema <= 0)
    fail("objective.align_target", "\"ema\" aligns with the model's own EMA: set train.ema (e.g. 0.999) "
                                   "or align with \"classifier\" or a TorchScript .pt");
  if (target != "ema" && c.data.augment != "center")
    fail("objective.align_target", "a network target reads the un-augmented image: use data.augment = "
                                   "\"center\" or align with \"ema\"");
}

}  // namespace ldae
