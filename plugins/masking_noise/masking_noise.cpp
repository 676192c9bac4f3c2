// masking_noise: MAE-style token masking as the corruption of a denoising
// autoencoder, alone or on top of l-DAE's latent Gaussian noise. A new
// ablation axis [masking] added from outside the harness (see
// docs/extending.md).
//
//   masking.ratio    fraction of tokens masked per image (0 = off, l-DAE as is)
//   masking.gaussian true: mask the noisy latent z_t (masking + noise);
//                    false: mask the clean latent z0 (masking alone, MAE-like;
//                    needs objective.target = "clean_latent")
//   masking.loss_on  "masked": the loss counts masked tokens only (MAE);
//                    "all": every token
//
// A masked token is set to 0, the mean of the (centred, unit-variance)
// latents. The probe sees unmasked inputs, as MAE's does.
#include <cmath>

#include "core/base/errors.hpp"
#include "core/plugin/api.hpp"

namespace {
using namespace ldae;

// (B, L) with 1 at round(ratio x L) tokens per row, drawn from torch's RNG
// (reseeded every step by the trainer, so resumed runs draw the same masks).
torch::Tensor random_mask(int64_t B, int64_t L, double ratio, const torch::TensorOptions& opts) {
  const int64_t n = std::llround(ratio * double(L));
  auto order = torch::rand({B, L}, opts).argsort(/*dim=*/int64_t(1));  // a random permutation per row
  auto mask = torch::zeros({B, L}, opts);
  if (n > 0) mask.scatter_(1, order.slice(1, 0, n), 1.0);
  return mask;
}

void corrupt(StepContext& s) {
  const double ratio = key_value<double>(s.cfg, "masking.ratio");
  if (ratio <= 0) return;
  if (!key_value<bool>(s.cfg, "masking.gaussian")) {
    s.input = s.z0;                       // no Gaussian noise: the clean latent
    s.weight = torch::ones_like(s.weight);  // every sample counts fully (no t weighting)
  }
  auto mask = random_mask(s.z0.size(0), s.z0.size(1), ratio, s.z0.options());
  s.input = s.input * (1.0 - mask).unsqueeze(-1);
  if (key_value<std::string>(s.cfg, "masking.loss_on") == "masked") s.token_weight = mask;
}

void validate(const RunConfig& c, const std::string& where) {
  if (key_value<double>(c, "masking.ratio") <= 0) return;
  if (c.objective.space != "latent")
    throw InputError(where + ": key 'masking.ratio': masking acts on latent tokens; set "
                             "objective.space = \"latent\"");
  if (!key_value<bool>(c, "masking.gaussian") && c.objective.target != "clean_latent")
    throw InputError(where + ": key 'masking.gaussian': without Gaussian noise there is no noise "
                             "to predict; set objective.target = \"clean_latent\"");
}

void register_axis(PluginHost& host) {
  host.add_key({"masking.ratio", 0.0, "fraction of tokens masked per image (0 = off)", 0.0, 0.99});
  host.add_key({"masking.gaussian", true, "keep l-DAE's latent Gaussian noise under the mask"});
  host.add_key({"masking.loss_on", std::string("masked"), "tokens the loss counts: masked | all",
                -1e300, 1e300, {"masked", "all"}});
  Hooks h;
  h.corrupt = corrupt;
  h.validate = validate;
  host.add_hooks(h);
}

}  // namespace

LDAE_PLUGIN("masking_noise", "0.1.0", "MAE-style token masking, alone or with latent noise",
            register_axis)
