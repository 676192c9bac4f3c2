// Forwarding header for plugins built against the previous layout: this
// header moved to core/diffusion/noise.hpp (include that in new code). Kept for one
// release, like core/plugin.hpp.
#pragma once
#include "core/diffusion/noise.hpp"
