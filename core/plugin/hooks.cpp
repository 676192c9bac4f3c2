#include "core/plugin/hooks.hpp"

namespace ldae {
namespace {
std::vector<Hooks>& hooks() {
  static std::vector<Hooks> v;
  return v;
}
}  // namespace

const std::vector<Hooks>& plugin_hooks() { return hooks(); }
void add_plugin_hooks(Hooks h) { hooks().push_back(std::move(h)); }

torch::Tensor plugin_probe_features(const RunConfig& cfg, torch::Tensor features) {
  for (const auto& h : hooks())
    if (h.probe_features) features = h.probe_features(cfg, features);
  return features;
}

}  // namespace ldae
