// Every registry of the harness, as literal maps (STYLE.md rule 3). Adding a
// variant = one new file + one line here. Keys are the strings of sweep files.
#include "core/registry.hpp"

#include <functional>
#include <map>

#include "backbones/dit.hpp"
#include "backbones/unet.hpp"
#include "backbones/uvit.hpp"
#include "methods/dino.hpp"
#include "methods/mae.hpp"
#include "methods/moco_v3.hpp"
#include "core/config.hpp"
#include "core/data.hpp"
#include "core/noise.hpp"
#include "core/objective.hpp"
#include "tokenizers/conv_vae.hpp"
#include "tokenizers/linear.hpp"
#include "tokenizers/patch_ae.hpp"
#include "tokenizers/patch_vae.hpp"

namespace ldae {
namespace {

template <class Map>
std::vector<std::string> keys(const Map& m) {
  std::vector<std::string> out;
  for (const auto& kv : m) out.push_back(kv.first);
  return out;
}

struct DatasetEntry {
  std::function<Dataset(const DataConfig&, const LoadContext&)> load;
  int channels;
  std::function<int(const DataConfig&)> side;  // image side before padding
};

const std::map<std::string, DatasetEntry>& datasets() {
  static const std::map<std::string, DatasetEntry> m = {
      {"fashion_mnist",
       {[](const DataConfig& c, const LoadContext&) { return load_fashion_mnist(c); }, 1,
        [](const DataConfig&) { return 28; }}},
      {"cifar10",
       {[](const DataConfig& c, const LoadContext&) { return load_cifar10(c); }, 3,
        [](const DataConfig&) { return 32; }}},
      {"image_folder", {load_image_folder, 3, [](const DataConfig& c) { return c.resolution; }}},
      {"synthetic",
       {[](const DataConfig& c, const LoadContext& ctx) { return make_synthetic(c, ctx.seed); }, 1,
        [](const DataConfig& c) { return c.synthetic_size; }}},
  };
  return m;
}

using TokenizerFactory = std::function<std::unique_ptr<Tokenizer>(const TokenizerConfig&, int)>;
const std::map<std::string, TokenizerFactory>& tokenizers() {
  static const std::map<std::string, TokenizerFactory> m = {
      {"pixel", [](const TokenizerConfig& c, int ch) { return std::make_unique<PixelTokenizer>(c, ch); }},
      {"patch_pca", [](const TokenizerConfig& c, int ch) { return std::make_unique<PatchPcaTokenizer>(c, ch); }},
      {"patch_ae", [](const TokenizerConfig& c, int ch) { return std::make_unique<PatchAeTokenizer>(c, ch); }},
      {"patch_vae", [](const TokenizerConfig& c, int ch) { return std::make_unique<PatchVaeTokenizer>(c, ch); }},
      {"conv_vae", [](const TokenizerConfig& c, int ch) { return std::make_unique<ConvVaeTokenizer>(c, ch); }},
  };
  return m;
}

const std::map<std::string, Schedule (*)(const NoiseConfig&)>& schedules() {
  static const std::map<std::string, Schedule (*)(const NoiseConfig&)> m = {
      {"ddpm_linear", ddpm_linear}, {"linear_gamma2", linear_gamma2},
      {"linear_sigma", linear_sigma}, {"single_sigma", single_sigma},
      {"cosine", cosine}, {"edm_lognormal", edm_lognormal},
      {"linear_interp", linear_interp}, {"gvp", gvp},
  };
  return m;
}

const std::map<std::string, Target>& targets() {
  static const std::map<std::string, Target> m = {
      {"eps", Target::Eps},
      {"clean_latent", Target::CleanLatent},
      {"clean_image", Target::CleanImage},
      {"original_image", Target::OriginalImage},
      {"velocity", Target::Velocity},
  };
  return m;
}

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

const BackboneEntry& backbone(const std::string& name) {
  auto it = backbones().find(name);
  if (it == backbones().end())
    throw InputError("unknown model.backbone '" + name + "'; known: dit, uvit, unet");
  return it->second;
}

// Pre-training methods (methods/): "denoise" builds no method object, the
// trainer runs its DenoiseStep (methods/denoise.hpp).
using MethodFactory = std::function<Method(const RunConfig&, MethodContext)>;
const std::map<std::string, MethodFactory>& methods() {
  static const std::map<std::string, MethodFactory> m = {
      {"denoise", [](const RunConfig&, MethodContext) { return Method(nullptr); }},
      {"mae", [](const RunConfig& c, MethodContext x) { return Method(Mae(c.mae, std::move(x)).ptr()); }},
      {"moco_v3", [](const RunConfig& c, MethodContext x) { return Method(MocoV3(c.moco, std::move(x)).ptr()); }},
      {"dino", [](const RunConfig& c, MethodContext x) { return Method(Dino(c.dino, std::move(x)).ptr()); }},
  };
  return m;
}

// Plugin entries live beside the literal maps, never inside them.
std::map<std::string, TokenizerFactory>& plugin_tokenizers() {
  static std::map<std::string, TokenizerFactory> m;
  return m;
}
std::map<std::string, std::function<Schedule(const NoiseConfig&)>>& plugin_schedules() {
  static std::map<std::string, std::function<Schedule(const NoiseConfig&)>> m;
  return m;
}

template <class A, class B>
std::vector<std::string> keys(const A& a, const B& b) {
  auto out = keys(a), more = keys(b);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

}  // namespace

std::vector<std::string> dataset_names() { return keys(datasets()); }
std::vector<std::string> tokenizer_names() { return keys(tokenizers(), plugin_tokenizers()); }
std::vector<std::string> schedule_names() { return keys(schedules(), plugin_schedules()); }
std::vector<std::string> target_names() { return keys(targets()); }
std::vector<std::string> backbone_names() { return keys(backbones()); }
std::vector<std::string> probe_names() { return {"linear"}; }
std::vector<std::string> method_names() { return keys(methods()); }

Method make_method(const RunConfig& cfg, MethodContext ctx) {
  auto it = methods().find(cfg.method.name);
  if (it == methods().end())
    throw InputError("unknown method.name '" + cfg.method.name + "'; known: denoise, dino, mae, moco_v3");
  return it->second(cfg, std::move(ctx));
}
std::vector<std::string> sampler_names() { return {"ddim", "ddpm"}; }

Backbone make_backbone(const std::string& name, const BackboneOptions& o) {
  const auto& b = backbone(name);
  if (auto e = b.check(o); !e.empty()) throw InputError("model.backbone = \"" + name + "\": " + e);
  return b.make(o);
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
  o.split = cfg.model.split >= 0 ? cfg.model.split : backbone(cfg.model.name).default_block(o);
  return o;
}

int64_t backbone_blocks(const std::string& name, const BackboneOptions& o) {
  return backbone(name).blocks(o);
}

std::string backbone_check(const std::string& name, const BackboneOptions& o) {
  return backbone(name).check(o);
}

int dataset_channels(const std::string& name) {
  auto it = datasets().find(name);
  return it == datasets().end() ? 1 : it->second.channels;
}

int dataset_image_side(const DataConfig& c) {
  auto it = datasets().find(c.name);
  if (c.resolution > 0) return c.resolution;
  return it == datasets().end() ? 0 : it->second.side(c) + 2 * c.pad;
}

Dataset load_registered_dataset(const DataConfig& c, const LoadContext& ctx) {
  return datasets().at(c.name).load(c, ctx);
}

std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerConfig& c, int channels) {
  auto it = tokenizers().find(c.name);
  if (it != tokenizers().end()) return it->second(c, channels);
  auto p = plugin_tokenizers().find(c.name);
  if (p != plugin_tokenizers().end()) return p->second(c, channels);
  throw InputError("unknown tokenizer.name '" + c.name + "' (a plugin's tokenizer needs --plugin)");
}

bool has_schedule(const std::string& name) {
  return schedules().count(name) || plugin_schedules().count(name);
}
bool has_tokenizer_builtin(const std::string& name) { return tokenizers().count(name) > 0; }
bool has_tokenizer(const std::string& name) {
  return tokenizers().count(name) || plugin_tokenizers().count(name);
}
void add_plugin_schedule(const std::string& name, std::function<Schedule(const NoiseConfig&)> make) {
  plugin_schedules()[name] = std::move(make);
}
void add_plugin_tokenizer(const std::string& name, TokenizerFactory make) {
  plugin_tokenizers()[name] = std::move(make);
}

Target parse_target(const std::string& name) {
  auto it = targets().find(name);
  if (it == targets().end()) throw InputError("unknown objective.target '" + name + "'");
  return it->second;
}

Schedule make_schedule(const NoiseConfig& c) {
  auto it = schedules().find(c.schedule);
  if (it != schedules().end()) return it->second(c);
  auto p = plugin_schedules().find(c.schedule);
  if (p != plugin_schedules().end()) return p->second(c);
  throw InputError("unknown noise.schedule '" + c.schedule + "' (a plugin's schedule needs --plugin)");
}

}  // namespace ldae
