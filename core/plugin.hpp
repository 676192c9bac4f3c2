// Forwarding header: the plugin API moved to core/plugin/api.hpp. Installed
// plugins that include "core/plugin.hpp" keep building for one release;
// include "core/plugin/api.hpp" in new code.
#pragma once
#include "core/plugin/api.hpp"
