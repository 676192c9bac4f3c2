// The tokenizer.* keys (core/config/keys.hpp) and their checks.
#pragma once
#include "core/config/keys.hpp"

namespace ldae {

// Rows of tokenizer.*: the tokenizer, its patch and latent sizes, the PCA
// fit, the learned tokenizers' training and losses, per-seed fitting.
KeyRows tokenizer_keys();
// What a tokenizer cannot take: d above the patch dimension, conv_vae's
// downsampling and token grouping, losses of another tokenizer. (Whether
// its patches tile the image is the token grid's check, backbones/.)
void check_tokenizer(const RunConfig& c, const Fail& fail);

}  // namespace ldae
