// The dataset registry (STYLE.md rule 3): one literal map keyed by the exact
// data.name of sweep files. Adding a dataset = its loader + one line here.
#include <functional>
#include <map>

#include "core/data/data.hpp"

namespace ldae {
namespace {

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

}  // namespace

std::vector<std::string> dataset_names() {
  std::vector<std::string> out;
  for (const auto& kv : datasets()) out.push_back(kv.first);
  return out;
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

}  // namespace ldae
