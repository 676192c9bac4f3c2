// A test plugin whose behaviour the test picks with LDAE_TOY_PLUGIN_MODE, read
// when the host calls register (each test loads its own copy of the file):
//   ok              axis [toy]: toy.shift (number), a schedule, every hook
//   clash_schedule  a key, then schedule "cosine" (built in)
//   clash_section   key "train.toy" (a built-in section)
//   same_key        key "toy.shift" again (after `ok` was loaded)
//   throws          register throws
//   throws_other    register throws an int (not a std::exception)
//   bad_validate    key bad.x; its validate hook throws an int when bad.x != 0
#include <cstdlib>
#include <stdexcept>

// The previous layout's paths: their forwarding headers stay tested.
#include "core/errors.hpp"
#include "core/plugin.hpp"

namespace {
using namespace ldae;

void register_toy(PluginHost& host) {
  const char* env = std::getenv("LDAE_TOY_PLUGIN_MODE");
  const std::string mode = env ? env : "ok";
  if (mode == "ok") {
    host.add_key({"toy.shift", 0.0, "added to the network input", -10.0, 10.0});
    host.add_key({"toy.kind", std::string("a"), "a string key", -1e300, 1e300, {"a", "b"}});
    host.add_schedule("toy_constant", [](const NoiseConfig& c) {
      return Schedule{"toy_constant", c.T, std::vector<double>(c.T + 1, 0.8),
                      std::vector<double>(c.T + 1, 0.6)};
    });
    Hooks h;
    h.corrupt = [](StepContext& s) { s.input = s.input + key_value<double>(s.cfg, "toy.shift"); };
    h.probe_features = [](const RunConfig& c, const torch::Tensor& f) {
      return key_value<std::string>(c, "toy.kind") == "b" ? torch::cat({f, f}, 1) : f;
    };
    h.validate = [](const RunConfig& c, const std::string& where) {
      if (key_value<double>(c, "toy.shift") == 7.0)
        throw InputError(where + ": key 'toy.shift': 7 is unlucky");
    };
    host.add_hooks(h);
  } else if (mode == "clash_schedule") {
    host.add_key({"clash.k", int64_t(1), "never registered"});
    host.add_schedule("cosine", [](const NoiseConfig& c) { return cosine(c); });
  } else if (mode == "clash_section") {
    host.add_key({"train.toy", 1.0, "in a built-in section"});
  } else if (mode == "same_key") {
    host.add_key({"toy.shift", 1.0, "declared twice"});
  } else if (mode == "throws") {
    throw std::runtime_error("toy failure");
  } else if (mode == "throws_other") {
    throw 42;  // not a std::exception
  } else if (mode == "bad_validate") {
    host.add_key({"bad.x", 0.0, "set it to make the validate hook throw an int"});
    Hooks h;
    h.validate = [](const RunConfig& c, const std::string&) {
      if (key_value<double>(c, "bad.x") != 0) throw 42;
    };
    host.add_hooks(h);
  }
}

}  // namespace

// Written out rather than with LDAE_PLUGIN: the name carries the mode, so
// copies loaded side by side do not clash by name. LDAE_TOY_PLUGIN_NAME
// overrides it (the name-clash test).
extern "C" __attribute__((visibility("default"))) const LdaePluginInfo* ldae_plugin() {
  static const std::string name = [] {
    const char* n = std::getenv("LDAE_TOY_PLUGIN_NAME");
    const char* m = std::getenv("LDAE_TOY_PLUGIN_MODE");
    return n ? std::string(n) : "toy_" + std::string(m ? m : "ok");
  }();
  static const LdaePluginInfo info{LDAE_PLUGIN_API_VERSION, name.c_str(), "0.0.1", "test plugin",
                                   register_toy};
  return &info;
}
