// Every registry of the harness, as literal maps (STYLE.md rule 3). Adding a
// variant = one new file + one line here. Keys are the strings of sweep files.
#include "core/registry.hpp"

#include <functional>
#include <map>

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
      {"cosine", cosine},
  };
  return m;
}

const std::map<std::string, Target>& targets() {
  static const std::map<std::string, Target> m = {
      {"eps", Target::Eps},
      {"clean_latent", Target::CleanLatent},
      {"clean_image", Target::CleanImage},
      {"original_image", Target::OriginalImage},
  };
  return m;
}

}  // namespace

std::vector<std::string> dataset_names() { return keys(datasets()); }
std::vector<std::string> tokenizer_names() { return keys(tokenizers()); }
std::vector<std::string> schedule_names() { return keys(schedules()); }
std::vector<std::string> target_names() { return keys(targets()); }
std::vector<std::string> backbone_names() { return {"dit"}; }
std::vector<std::string> probe_names() { return {"linear"}; }
std::vector<std::string> sampler_names() { return {"ddim", "ddpm"}; }

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
  return tokenizers().at(c.name)(c, channels);
}

Target parse_target(const std::string& name) {
  auto it = targets().find(name);
  if (it == targets().end()) throw InputError("unknown objective.target '" + name + "'");
  return it->second;
}

Schedule make_schedule(const NoiseConfig& c) { return schedules().at(c.schedule)(c); }

}  // namespace ldae
