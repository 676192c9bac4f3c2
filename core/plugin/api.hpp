// The plugin API: what a shared library may add to the harness without a fork.
//
// A plugin exports one C function, `ldae_plugin`, returning an LdaePluginInfo
// (write it with LDAE_PLUGIN). The host checks the API version, then calls
// `register_fn` with a PluginHost through which the plugin
//   - declares config keys of a new axis, with defaults: a key at its default
//     stays out of the run id, so old sweep files keep their meaning and ids;
//   - adds entries to existing registries (noise schedules, tokenizers);
//   - hooks into a run: corrupt the network input, transform the target, add
//     a loss term, change the features a probe sees, check a config.
// Registration is all or nothing: a clash (a name or key that exists) rejects
// the whole plugin with an error naming it, exit 2.
//
// Plugins are built out of tree against the installed headers
// (find_package(ldae), target ldae::plugin) with the same compiler and
// LibTorch as the host. Symbols of the harness itself resolve against the
// host program at load time (its programs export them).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/diffusion/noise.hpp"
#include "tokenizers/tokenizer.hpp"

// Bumped whenever PluginHost, StepContext, Hooks, KeySpec or RunConfig's
// layout change (a plugin reads RunConfig by reference). 2: the baselines'
// sections (mae, moco, dino) moved into RunConfig::sections (issue 25); a
// plugin built for 1 is refused and must be rebuilt (its source still
// compiles: the old header paths forward). 3: DataConfig::resident_max_gb,
// Tokenizer::fit_batches and MethodContext::read_images (issue 26, streamed data).
// 4: Tokenizer::to (tokenization on the training device, issue 26).
// 5: DataConfig::whole_images and MethodContext::crop_images (crops cut from
// whole images). 6: DataConfig::resize (DiT's centre crop).
#define LDAE_PLUGIN_API_VERSION 6

namespace ldae {

// One training step as the hooks see it (shapes for a batch of B images with
// L tokens of latent width d; the image-space objectives use D instead).
struct StepContext {
  const RunConfig& cfg;
  torch::Tensor z0;            // (B, L, d) clean latents
  torch::Tensor eps;           // (B, L, d) the Gaussian noise drawn this step
  torch::Tensor t;             // (B,) int64 noise levels in {1..T}
  torch::Tensor gamma, sigma;  // (B,) schedule values at t
  torch::Tensor input;         // (B, L, d|D) network input; corrupt() may replace it
  torch::Tensor target;        // (B, L, d|D) regression target; transform_target() may replace it
  torch::Tensor weight;        // (B,) per-sample loss weight lambda_t; hooks may replace it
  torch::Tensor token_weight;  // (B, L) per-token loss weight; undefined = every token counts
};

struct Hooks {
  // After the noisy input is formed, before the network (use torch's RNG:
  // it is reseeded every step, so resumed runs stay exact).
  std::function<void(StepContext&)> corrupt;
  // After the target is formed.
  std::function<void(StepContext&)> transform_target;
  // A scalar added to the objective; pred is the network output (B, L, d|D).
  std::function<torch::Tensor(const StepContext&, const torch::Tensor& pred)> extra_loss;
  // Probe features (N, F) -> (N, F'), applied to train and test features alike,
  // a block of rows at a time where they are made per batch (the probe's
  // augmented view, raw pixels read on demand): a row's result must depend
  // on that row alone.
  std::function<torch::Tensor(const RunConfig&, const torch::Tensor& features)> probe_features;
  // Cross-field checks; throw InputError(where + ": key '...': what, how to fix").
  std::function<void(const RunConfig&, const std::string& where)> validate;
};

using ScheduleFactory = std::function<Schedule(const NoiseConfig&)>;
using TokenizerFactory = std::function<std::unique_ptr<Tokenizer>(const TokenizerConfig&, int channels)>;

class PluginHost {
 public:
  virtual ~PluginHost() = default;
  virtual void add_key(KeySpec spec) = 0;
  virtual void add_hooks(Hooks hooks) = 0;
  virtual void add_schedule(const std::string& name, ScheduleFactory make) = 0;
  virtual void add_tokenizer(const std::string& name, TokenizerFactory make) = 0;
};

// The value of a plugin key in a run config (its default when unset).
template <class T>
T key_value(const RunConfig& cfg, const std::string& key) {
  return std::get<T>(get(cfg, key));
}

}  // namespace ldae

// What `ldae_plugin` returns. Plain C so the version check happens before
// anything C++ crosses the boundary.
extern "C" {
struct LdaePluginInfo {
  int api_version;          // LDAE_PLUGIN_API_VERSION the plugin was built with
  const char* name;         // e.g. "masking_noise"
  const char* version;      // the plugin's own version, recorded in run.json
  const char* description;  // one line, printed by --list
  void (*register_fn)(ldae::PluginHost& host);
};
}

// Defines the exported entry point: LDAE_PLUGIN("name", "0.1", "what", fn).
#define LDAE_PLUGIN(NAME, VERSION, DESCRIPTION, REGISTER_FN)                          \
  extern "C" __attribute__((visibility("default"))) const LdaePluginInfo* ldae_plugin() { \
    static const LdaePluginInfo info{LDAE_PLUGIN_API_VERSION, NAME, VERSION, DESCRIPTION,  \
                                     REGISTER_FN};                                        \
    return &info;                                                                         \
  }
