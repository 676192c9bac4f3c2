// The registries: one literal map per axis, keyed by the exact string used in
// sweep files. Names stored in the results database are frozen: add new names,
// never repurpose old ones. The maps live in core/registry.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ldae {

std::vector<std::string> dataset_names();    // data.name
std::vector<std::string> tokenizer_names();  // tokenizer.name
std::vector<std::string> schedule_names();   // noise.schedule
std::vector<std::string> target_names();     // objective.target
std::vector<std::string> backbone_names();   // model.backbone (model.name)
std::vector<std::string> probe_names();      // probe.name
std::vector<std::string> method_names();     // method.name

std::vector<std::string> sampler_names();    // eval.sampler

// Image channels of a registered dataset (1 for grey Fashion-MNIST).
int dataset_channels(const std::string& dataset);
// Image side a run sees: data.resolution, else the native side + 2 x pad
// (Fashion-MNIST: 28 + 2 x pad).
struct DataConfig;
int dataset_image_side(const DataConfig& c);

// Backbones (backbones/): the options of cfg's backbone on a grid_h x grid_w
// token grid (token widths and classes left to the caller; split resolved
// to the backbone's default probe block when model.split = -1), its feature
// points (probe.block 0..n) and "" or what it cannot take. InputError for an
// unknown name. make_backbone (backbones/backbone.hpp) builds one.
struct RunConfig;
struct BackboneOptions;
BackboneOptions backbone_options(const RunConfig& cfg, int64_t grid_h, int64_t grid_w);
int64_t backbone_blocks(const std::string& name, const BackboneOptions& o);
std::string backbone_check(const std::string& name, const BackboneOptions& o);

// ---- entries added by plugins (core/plugins.cpp) ------------------------------
struct NoiseConfig;
struct Schedule;
struct TokenizerConfig;
class Tokenizer;
// True when `name` is a built-in or plugin entry of the axis.
bool has_schedule(const std::string& name);
bool has_tokenizer(const std::string& name);
bool has_tokenizer_builtin(const std::string& name);
// Add a plugin's entry; call has_*() first (these assume the name is new).
void add_plugin_schedule(const std::string& name,
                         std::function<Schedule(const NoiseConfig&)> make);
void add_plugin_tokenizer(const std::string& name,
                          std::function<std::unique_ptr<Tokenizer>(const TokenizerConfig&, int)> make);

}  // namespace ldae
