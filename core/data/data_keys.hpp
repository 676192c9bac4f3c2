// The data.* keys (core/config/keys.hpp) and their checks.
#pragma once
#include "core/config/keys.hpp"

namespace ldae {

// Rows of data.*: the dataset, its location and fingerprint, padding,
// subsets, normalisation, the synthetic set's shape, resolution, augmentation.
KeyRows data_keys();
// An image folder needs data.resolution and no padding.
void check_data(const RunConfig& c, const Fail& fail);

}  // namespace ldae
