// The tokenizer registry (STYLE.md rule 3): one literal map keyed by the
// exact tokenizer.name of sweep files. Adding a tokenizer = its file + one
// line here (+ its tests in tests/tokenizers). Plugin entries live beside the
// literal map, never inside it.
#include <functional>
#include <map>

#include "core/base/errors.hpp"
#include "tokenizers/conv_vae.hpp"
#include "tokenizers/linear.hpp"
#include "tokenizers/patch_ae.hpp"
#include "tokenizers/patch_vae.hpp"

namespace ldae {
namespace {

using TokenizerFactory = std::function<std::unique_ptr<Tokenizer>(const TokenizerConfig&, int)>;

template <class T>
TokenizerFactory entry() {
  return [](const TokenizerConfig& c, int channels) { return std::make_unique<T>(c, channels); };
}

const std::map<std::string, TokenizerFactory>& tokenizers() {
  static const std::map<std::string, TokenizerFactory> m = {
      {"pixel", entry<PixelTokenizer>()},
      {"patch_pca", entry<PatchPcaTokenizer>()},
      {"patch_ae", entry<PatchAeTokenizer>()},
      {"patch_vae", entry<PatchVaeTokenizer>()},
      {"conv_vae", entry<ConvVaeTokenizer>()},
  };
  return m;
}

std::map<std::string, TokenizerFactory>& plugin_tokenizers() {
  static std::map<std::string, TokenizerFactory> m;
  return m;
}

}  // namespace

std::vector<std::string> tokenizer_names() {
  std::vector<std::string> out;
  for (const auto& kv : tokenizers()) out.push_back(kv.first);
  for (const auto& kv : plugin_tokenizers()) out.push_back(kv.first);
  return out;
}

std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerConfig& c, int channels) {
  auto it = tokenizers().find(c.name);
  if (it != tokenizers().end()) return it->second(c, channels);
  auto p = plugin_tokenizers().find(c.name);
  if (p != plugin_tokenizers().end()) return p->second(c, channels);
  throw InputError("unknown tokenizer.name '" + c.name + "' (a plugin's tokenizer needs --plugin)");
}

bool has_tokenizer_builtin(const std::string& name) { return tokenizers().count(name) > 0; }
bool has_tokenizer(const std::string& name) {
  return tokenizers().count(name) || plugin_tokenizers().count(name);
}
void add_plugin_tokenizer(const std::string& name, TokenizerFactory make) {
  plugin_tokenizers()[name] = std::move(make);
}

}  // namespace ldae
