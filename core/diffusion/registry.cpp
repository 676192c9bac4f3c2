// The registries of the diffusion axes (STYLE.md rule 3): noise schedules
// and prediction targets, literal maps keyed by the exact strings of sweep
// files, and the samplers' names. Adding a schedule = its function in
// noise.cpp + one line here. Plugin schedules live beside the literal map.
#include <functional>
#include <map>

#include "core/base/errors.hpp"
#include "core/diffusion/noise.hpp"
#include "core/diffusion/objective.hpp"
#include "core/diffusion/sampler.hpp"

namespace ldae {
namespace {

const std::map<std::string, Schedule (*)(const NoiseConfig&)>& schedules() {
  static const std::map<std::string, Schedule (*)(const NoiseConfig&)> m = {
      {"ddpm_linear", ddpm_linear}, {"linear_gamma2", linear_gamma2},
      {"linear_sigma", linear_sigma}, {"single_sigma", single_sigma},
      {"cosine", cosine}, {"edm_lognormal", edm_lognormal},
      {"linear_interp", linear_interp}, {"gvp", gvp},
  };
  return m;
}

std::map<std::string, std::function<Schedule(const NoiseConfig&)>>& plugin_schedules() {
  static std::map<std::string, std::function<Schedule(const NoiseConfig&)>> m;
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

}  // namespace

std::vector<std::string> schedule_names() {
  std::vector<std::string> out;
  for (const auto& kv : schedules()) out.push_back(kv.first);
  for (const auto& kv : plugin_schedules()) out.push_back(kv.first);
  return out;
}

Schedule make_schedule(const NoiseConfig& c) {
  auto it = schedules().find(c.schedule);
  if (it != schedules().end()) return it->second(c);
  auto p = plugin_schedules().find(c.schedule);
  if (p != plugin_schedules().end()) return p->second(c);
  throw InputError("unknown noise.schedule '" + c.schedule + "' (a plugin's schedule needs --plugin)");
}

bool has_schedule(const std::string& name) {
  return schedules().count(name) || plugin_schedules().count(name);
}

void add_plugin_schedule(const std::string& name, std::function<Schedule(const NoiseConfig&)> make) {
  plugin_schedules()[name] = std::move(make);
}

std::vector<std::string> target_names() {
  std::vector<std::string> out;
  for (const auto& kv : targets()) out.push_back(kv.first);
  return out;
}

Target parse_target(const std::string& name) {
  auto it = targets().find(name);
  if (it == targets().end()) throw InputError("unknown objective.target '" + name + "'");
  return it->second;
}

std::vector<std::string> sampler_names() { return {"ddim", "ddpm"}; }

}  // namespace ldae
