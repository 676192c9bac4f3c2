// Forwarding header for plugins built against the previous layout: this
// header moved to core/config/config.hpp (include that in new code). Kept for one
// release, like core/plugin.hpp.
#pragma once
#include "core/config/config.hpp"
