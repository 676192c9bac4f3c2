// The method registry (STYLE.md rule 3): one literal map keyed by the exact
// method.name of sweep files. Adding a method = its file (its config section,
// keys, check and MethodEntry) + one line here + its tests (the
// MethodConformance suite in tests/methods). Methods added at run time
// (add_method) live beside the literal map, never inside it.
#include <fmt/core.h>

#include <map>

#include "core/base/errors.hpp"
#include "methods/dino.hpp"
#include "methods/mae.hpp"
#include "methods/moco_v3.hpp"

namespace ldae {
namespace {

// "denoise" builds no method object: the trainer runs its DenoiseStep
// (methods/denoise.hpp); its keys are noise.* and objective.*.
MethodEntry denoise_method() {
  MethodEntry e;
  e.summary = "the paper's denoising objective (noise.*, objective.*)";
  e.make = [](const RunConfig&, MethodContext) { return Method(nullptr); };
  return e;
}

const std::map<std::string, MethodEntry>& methods() {
  static const std::map<std::string, MethodEntry> m = {
      {"denoise", denoise_method()},
      {"mae", mae_method()},
      {"moco_v3", moco_v3_method()},
      {"dino", dino_method()},
  };
  return m;
}

std::map<std::string, MethodEntry>& added_methods() {
  static std::map<std::string, MethodEntry> m;
  return m;
}

}  // namespace

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const auto& kv : methods()) out.push_back(kv.first);
  for (const auto& kv : added_methods()) out.push_back(kv.first);
  return out;
}

const MethodEntry& method_entry(const std::string& name) {
  if (auto it = methods().find(name); it != methods().end()) return it->second;
  if (auto it = added_methods().find(name); it != added_methods().end()) return it->second;
  std::string known;
  for (const auto& n : method_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("unknown method.name '" + name + "'; known: " + known);
}

void add_method(const std::string& name, MethodEntry entry) {
  for (const auto& n : method_names())
    if (n == name) throw InputError("method '" + name + "' exists already; choose another name");
  if (entry.keys) add_key_rows(entry.keys(), name);  // all or nothing; throws on a clash
  added_methods()[name] = std::move(entry);
}

Method make_method(const RunConfig& cfg, MethodContext ctx) {
  return method_entry(cfg.method.name).make(cfg, std::move(ctx));
}

KeyRows method_keys() {
  KeyRows rows = {
      choice(field("method.name", &RunConfig::method, &MethodConfig::name), method_names),
  };
  for (const auto& [name, entry] : methods())
    if (entry.keys)
      for (auto& r : entry.keys()) rows.push_back(std::move(r));
  return rows;
}

void check_method(const RunConfig& c, const Fail& fail) {
  const MethodEntry& entry = method_entry(c.method.name);
  if (c.method.name != "denoise") {
    const std::string m = "method.name = \"" + c.method.name + "\"";
    if (c.objective.align_weight > 0)
      fail("objective.align_weight", "representation alignment belongs to the denoising method; " + m +
                                         " trains without it (set objective.align_weight = 0)");
    if (c.objective.learn_sigma)
      fail("objective.learn_sigma", "the learned variance belongs to the denoising method; " + m +
                                        " has no reverse process (set objective.learn_sigma = false)");
    if (c.eval.fid_samples > 0)
      fail("eval.fid_samples", m + " does not generate: FID needs method.name = \"denoise\"");
    if (c.model.class_cond)
      fail("model.class_cond", m + " is label-free: set model.class_cond = false");
    if (c.probe.noisy)
      fail("probe.noisy", m + " trains on clean images and is read at t = 0: set probe.noisy = false");
    if (c.data.augment != "center")
      fail("data.augment", m + " draws its own views (methods/): keep data.augment = \"center\"");
  }
  if (entry.check) entry.check(c, fail);
}

}  // namespace ldae
