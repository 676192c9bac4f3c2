#include "tokenizers/tokenizer_keys.hpp"

#include <fmt/core.h>

#include "core/data/data.hpp"
#include "tokenizers/tokenizer.hpp"

namespace ldae {

KeyRows tokenizer_keys() {
  return {
      choice(field("tokenizer.name", &RunConfig::tokenizer, &TokenizerConfig::name), tokenizer_names),
      field("tokenizer.patch", &RunConfig::tokenizer, &TokenizerConfig::patch, 1, 256),
      field("tokenizer.d", &RunConfig::tokenizer, &TokenizerConfig::d, 1, 1e6),
      field("tokenizer.fit_patches", &RunConfig::tokenizer, &TokenizerConfig::fit_patches, 16, 1e8),
      field("tokenizer.scale", &RunConfig::tokenizer, &TokenizerConfig::scale),
      field("tokenizer.steps", &RunConfig::tokenizer, &TokenizerConfig::steps, 0, 1e8),
      field("tokenizer.batch", &RunConfig::tokenizer, &TokenizerConfig::batch, 1, 1e6),
      field("tokenizer.lr", &RunConfig::tokenizer, &TokenizerConfig::lr, 0, 10),
      field("tokenizer.kl_weight", &RunConfig::tokenizer, &TokenizerConfig::kl_weight, 0, 1e3),
      field("tokenizer.downsample", &RunConfig::tokenizer, &TokenizerConfig::downsample, 1, 64),
      field("tokenizer.width", &RunConfig::tokenizer, &TokenizerConfig::width, 1, 4096),
      field("tokenizer.perceptual_weight", &RunConfig::tokenizer, &TokenizerConfig::perceptual_weight, 0, 1e3),
      field("tokenizer.perceptual_net", &RunConfig::tokenizer, &TokenizerConfig::perceptual_net),
      field("tokenizer.adv_weight", &RunConfig::tokenizer, &TokenizerConfig::adv_weight, 0, 1e3),
      field("tokenizer.adv_start", &RunConfig::tokenizer, &TokenizerConfig::adv_start, 0, 1e9),
      field("tokenizer.per_seed", &RunConfig::tokenizer, &TokenizerConfig::per_seed),
  };
}

void check_tokenizer(const RunConfig& c, const Fail& fail) {
  const int C = dataset_channels(c.data.name), p = c.tokenizer.patch;
  if (c.tokenizer.name == "patch_pca" || c.tokenizer.name == "patch_ae" ||
      c.tokenizer.name == "patch_vae") {
    const int D = p * p * C;
    if (c.tokenizer.d > D)
      fail("tokenizer.d", fmt::format("d = {} exceeds the patch dimension D = {} "
                                      "(patch {} x {} x {} channels)",
                                      c.tokenizer.d, D, p, p, C));
  }
  if (c.tokenizer.name == "conv_vae") {
    const int f = c.tokenizer.downsample;
    if (f & (f - 1))
      fail("tokenizer.downsample", fmt::format("{} is not a power of two (1, 2, 4, 8, ...)", f));
    if (p % f != 0)
      fail("tokenizer.patch", fmt::format("a conv_vae token is {} pixels wide, which must be a "
                                          "multiple of tokenizer.downsample = {}",
                                          p, f));
    const int q = p / f;
    if (c.tokenizer.d % (q * q) != 0)
      fail("tokenizer.d", fmt::format("conv_vae tokens group {0} x {0} latent pixels of c "
                                      "channels, so d = {1} must be a multiple of {2}",
                                      q, c.tokenizer.d, q * q));
  }
  if (c.tokenizer.perceptual_weight > 0 || c.tokenizer.adv_weight > 0) {
    if (c.tokenizer.name != "conv_vae")
      fail(c.tokenizer.perceptual_weight > 0 ? "tokenizer.perceptual_weight" : "tokenizer.adv_weight",
           "perceptual and adversarial losses belong to conv_vae (the VQGAN-style tokenizer)");
  }
}
}  // namespace ldae
