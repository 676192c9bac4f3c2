// The model.* keys (core/config/keys.hpp) and their checks.
#pragma once
#include "core/config/keys.hpp"

namespace ldae {

// Rows of model.*: the backbone, its preset and sizes, token grouping, the
// encoder/decoder split, MLP ratios, class conditioning and token.
KeyRows model_keys();
// The token grid: the image splits into tokenizer.patch tokens, the grid
// into model.patch groups; what the backbone cannot take; the split among
// its feature points.
void check_model(const RunConfig& c, const Fail& fail);

}  // namespace ldae
