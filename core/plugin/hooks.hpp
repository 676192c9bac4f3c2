// The hooks loaded plugins registered (core/plugin/api.hpp: Hooks), in load
// order, where the run's steps call them: the denoising step (corrupt,
// transform_target, extra_loss), the probe (probe_features) and validate.
// Loading plugins (dlopen, version checks) is core/run/plugins.hpp's.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "core/plugin/api.hpp"

namespace ldae {

// Every loaded plugin's hooks, in load order.
const std::vector<Hooks>& plugin_hooks();
// Appends one plugin's hooks (the loader, after all its checks passed).
void add_plugin_hooks(Hooks hooks);

// Apply the probe_features hooks of every loaded plugin, in load order:
// features (N, F) -> (N, F').
torch::Tensor plugin_probe_features(const RunConfig& cfg, torch::Tensor features);

}  // namespace ldae
