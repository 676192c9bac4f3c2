// run_sweep --list (core/run/launch.hpp): what a sweep file can name, derived
// from the registries and the components' key rows.
#include <fmt/core.h>

#include "core/config/keys.hpp"
#include "core/run/launch.hpp"
#include "core/run/plugins.hpp"
#include "core/run/registry.hpp"

namespace ldae {

void print_registries() {
  // Every key that admits named values (a registry's entries or a fixed
  // list), from the components' own key rows.
  for (const KeyRow* r : key_rows()) {
    if (!r->choices) continue;
    std::string s;
    for (const auto& n : r->choices()) s += (s.empty() ? "" : ", ") + n;
    fmt::print("{:<18} {}\n", r->key == "model.name" ? "model.backbone" : r->key, s);
  }
  fmt::print("{:<18} {}\n", "model.cls_token", "false, true (dit, uvit; probe.pool = cls or cls_mean)");
  // Each pre-training method and the keys it reads (methods/registry.cpp).
  fmt::print("\npre-training methods (method.name; every run trains the encoder its probes read):\n");
  for (const auto& name : method_names()) {
    const MethodEntry& m = method_entry(name);
    // "summary: key, key, ..." wrapped at ~100 columns under the summary.
    std::vector<std::string> keys;
    if (m.keys)
      for (const auto& r : m.keys()) keys.push_back(r.key);
    std::string line = m.summary + (name == "denoise" ? " (default)" : "") + (keys.empty() ? "" : ":");
    std::string label = name;
    for (size_t k = 0; k < keys.size(); ++k) {
      const std::string piece = " " + keys[k] + (k + 1 < keys.size() ? "," : "");
      if (line.size() + piece.size() > 88) {
        fmt::print("  {:<8} {}\n", label, line);
        line.clear(), label.clear();
      }
      line += line.empty() ? piece.substr(1) : piece;
    }
    fmt::print("  {:<8} {}\n", label, line);
  }
  fmt::print("  fine-tuning beside the probes: eval.finetune_epochs > 0 (eval.finetune_*)\n");
  // Each backbone's feature points (probe.block) at the defaults: the tiny
  // preset on Fashion-MNIST's 8 x 8 token grid (patch 4); * = probe.block -1.
  fmt::print("\nprobe.block of each model.backbone (tiny preset, 8 x 8 token grid; * = the default):\n");
  for (const auto& name : backbone_names()) {
    RunConfig c;
    c.model.name = name;
    BackboneOptions o = backbone_options(c, 8, 8);
    o.in_dim = o.out_dim = c.tokenizer.d;
    torch::manual_seed(0);
    Backbone m = make_backbone(name, o);
    std::string s;
    for (int64_t b = 0; b <= m->blocks(); ++b)
      s += fmt::format("{}{} {}{}", b ? ", " : "", b, m->block_name(b), b == o.split ? "*" : "");
    fmt::print("  {:<6} {}\n", name, s);
  }
  fmt::print("\nkeys and defaults (model.backbone is spelled model.name below and in run ids):\n");
  RunConfig defaults;
  // Numbers as the shortest text that reads back the same (0.1, not the
  // 17 digits run ids hash).
  for (const auto& k : config_keys()) fmt::print("  {} = {}\n", k, value_shown(get(defaults, k)));
  for (const auto& p : loaded_plugins())
    fmt::print("\nplugin {} {} ({}): {}\n", p.name, p.version, p.path, p.description);
  for (const auto& [spec, owner] : declared_keys())
    fmt::print("  {} = {}  [{}] {}\n", spec.key, value_shown(spec.default_value), owner, spec.help);
}

}  // namespace ldae
