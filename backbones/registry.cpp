// The backbone registry (STYLE.md rule 3): one literal map keyed by the exact
// model.backbone of sweep files. Adding a backbone = its file + one line here
// (+ its tests: tests/backbones' conformance suite).
#include <fmt/core.h>

#include <functional>
#include <map>
#include <sstream>

#include "backbones/dit.hpp"
#include "backbones/unet.hpp"
#include "backbones/uvit.hpp"
#include "core/base/errors.hpp"
#include "core/config/config.hpp"
#include "core/data/data.hpp"

namespace ldae {
namespace {

// A backbone: its constructor and what validation asks before building one
// (feature points, the probe's default block, options it cannot take).
struct BackboneEntry {
  std::function<Backbone(const BackboneOptions&)> make;
  int64_t (*blocks)(const BackboneOptions&);
  int64_t (*default_block)(const BackboneOptions&);
  std::string (*check)(const BackboneOptions&);
};
template <class Impl>
BackboneEntry backbone_entry() {
  return {[](const BackboneOptions& o) { return Backbone(std::shared_ptr<BackboneImpl>(std::make_shared<Impl>(o))); },
          &Impl::count_blocks, &Impl::default_block, &Impl::check};
}

const std::map<std::string, BackboneEntry>& backbones() {
  static const std::map<std::string, BackboneEntry> m = {
      {"dit", backbone_entry<DiTImpl>()},
      {"uvit", backbone_entry<UViTImpl>()},
      {"unet", backbone_entry<UNetImpl>()},
  };
  return m;
}

std::string join_names() {
  std::string s;
  for (const auto& kv : backbones()) s += (s.empty() ? "" : ", ") + kv.first;
  return s;
}

const BackboneEntry& backbone(const std::string& name) {
  auto it = backbones().find(name);
  if (it == backbones().end())
    throw InputError("unknown model.backbone '" + name + "'; known: " + join_names());
  return it->second;
}

}  // namespace

std::vector<std::string> backbone_names() {
  std::vector<std::string> out;
  for (const auto& kv : backbones()) out.push_back(kv.first);
  return out;
}

Backbone make_backbone(const std::string& name, const BackboneOptions& o) {
  const auto& b = backbone(name);
  if (auto e = b.check(o); !e.empty()) throw InputError("model.backbone = \"" + name + "\": " + e);
  return b.make(o);
}

std::vector<int64_t> parse_attn_resolutions(const std::string& text) {
  std::vector<int64_t> sides;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const auto a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    const std::string v = a == std::string::npos ? "" : item.substr(a, b - a + 1);
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 6 || std::stoll(v) < 1)
      throw InputError(fmt::format("key 'model.attn_resolutions': \"{}\" is not a list of feature-map sides; write "
                                   "positive integers separated by commas, e.g. \"16\" (DDPM's CIFAR-10) or \"16, 8\"",
                                   text));
    sides.push_back(std::stoll(v));
  }
  return sides;
}

BackboneOptions backbone_options(const RunConfig& cfg, int64_t grid_h, int64_t grid_w) {
  const ModelShape shape = model_shape(cfg.model);
  BackboneOptions o;
  o.grid_h = grid_h, o.grid_w = grid_w;
  o.patch = cfg.model.patch;
  o.depth = shape.depth, o.width = shape.width, o.heads = shape.heads;
  o.mlp_ratio = cfg.model.mlp_ratio;
  o.t_mlp_ratio = cfg.model.t_mlp_ratio;
  o.class_dropout = cfg.model.class_dropout;
  o.cls_token = cfg.model.cls_token;
  o.time_mlp = cfg.model.time_mlp, o.qkv_bias = cfg.model.qkv_bias, o.conv_out = cfg.model.conv_out;
  o.attn_sides = parse_attn_resolutions(cfg.model.attn_resolutions);
  o.fused_kernels = cfg.train.fused_kernels;
  o.split = cfg.model.split >= 0 ? cfg.model.split : backbone(cfg.model.name).default_block(o);
  return o;
}

BackboneOptions backbone_options(const RunConfig& cfg) {
  const int64_t grid = dataset_image_side(cfg.data) / cfg.tokenizer.patch;
  return backbone_options(cfg, grid, grid);
}

int64_t backbone_blocks(const std::string& name, const BackboneOptions& o) {
  return backbone(name).blocks(o);
}

std::string backbone_check(const std::string& name, const BackboneOptions& o) {
  return backbone(name).check(o);
}

}  // namespace ldae
