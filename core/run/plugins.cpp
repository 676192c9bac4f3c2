// Loading plugins: dlopen, the version check, and an all-or-nothing commit of
// what the plugin registered (keys, registry entries, hooks).
#include "core/run/plugins.hpp"

#include <dlfcn.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/run/registry.hpp"

namespace ldae {
namespace fs = std::filesystem;
namespace {

std::vector<LoadedPlugin>& loaded() {
  static std::vector<LoadedPlugin> v;
  return v;
}

// A plugin's function, guarded: an exception that is not a std::exception
// (a plugin may throw anything) becomes one naming the plugin and the
// function, instead of std::terminate. std::exceptions (InputError among
// them) pass as they are. `Error` is InputError for checks that run while
// planning (exit 2), std::runtime_error inside a run (the run fails).
template <class Error, class R, class... A>
std::function<R(A...)> guarded(std::function<R(A...)> f, std::string what) {
  if (!f) return f;
  return [f = std::move(f), what = std::move(what)](A... a) -> R {
    try {
      return f(std::forward<A>(a)...);
    } catch (const std::exception&) {
      throw;
    } catch (...) {
      throw Error(what + " threw something that is not a std::exception; fix the plugin");
    }
  };
}

// Every hook and factory of `owner`, guarded.
void guard(Hooks& h, const std::string& owner) {
  const std::string p = "plugin '" + owner + "': hook ";
  h.corrupt = guarded<std::runtime_error>(std::move(h.corrupt), p + "corrupt");
  h.transform_target = guarded<std::runtime_error>(std::move(h.transform_target), p + "transform_target");
  h.extra_loss = guarded<std::runtime_error>(std::move(h.extra_loss), p + "extra_loss");
  h.probe_features = guarded<std::runtime_error>(std::move(h.probe_features), p + "probe_features");
  h.validate = guarded<InputError>(std::move(h.validate), p + "validate");
}

// Collects one plugin's registrations; nothing reaches the harness until
// commit() has checked all of them.
class PendingHost : public PluginHost {
 public:
  explicit PendingHost(std::string owner) : owner_(std::move(owner)) {}
  void add_key(KeySpec spec) override { keys_.push_back(std::move(spec)); }
  void add_hooks(Hooks h) override { hooks_.push_back(std::move(h)); }
  void add_schedule(const std::string& name, ScheduleFactory make) override {
    schedules_.emplace_back(name, std::move(make));
  }
  void add_tokenizer(const std::string& name, TokenizerFactory make) override {
    tokenizers_.emplace_back(name, std::move(make));
  }

  void commit() {
    auto clash = [&](const char* axis, const std::string& name) {
      return InputError(fmt::format("plugin '{}' adds {} '{}', which exists already (built in or "
                                    "from another plugin); rename it in the plugin",
                                    owner_, axis, name));
    };
    // A name clashes with the registry or with an earlier entry of this plugin.
    auto check = [&](const char* axis, const auto& entries, bool (*exists)(const std::string&)) {
      for (size_t i = 0; i < entries.size(); ++i)
        if (exists(entries[i].first) ||
            std::any_of(entries.begin(), entries.begin() + i,
                        [&](const auto& e) { return e.first == entries[i].first; }))
          throw clash(axis, entries[i].first);
    };
    check("noise.schedule", schedules_, has_schedule);
    check("tokenizer.name", tokenizers_, has_tokenizer);
    declare_keys(keys_, owner_);  // checks every key first, then adds them all
    for (auto& [name, make] : schedules_)
      add_plugin_schedule(name, guarded<std::runtime_error>(std::move(make), "plugin '" + owner_ + "': schedule " + name));
    for (auto& [name, make] : tokenizers_)
      add_plugin_tokenizer(name, guarded<std::runtime_error>(std::move(make), "plugin '" + owner_ + "': tokenizer " + name));
    for (auto& h : hooks_) {
      guard(h, owner_);
      if (h.validate) add_validator(h.validate);
      add_plugin_hooks(std::move(h));
    }
  }

 private:
  std::string owner_;
  std::vector<KeySpec> keys_;
  std::vector<Hooks> hooks_;
  std::vector<std::pair<std::string, ScheduleFactory>> schedules_;
  std::vector<std::pair<std::string, TokenizerFactory>> tokenizers_;
};

}  // namespace

LoadedPlugin load_plugin(const std::string& path_in, const std::string& where) {
  const std::string how =
      "Build it (see docs/extending.md) and pass its path, e.g. "
      "--plugin build-plugin/libmasking_noise.so";
  if (!fs::exists(path_in))
    throw InputError(fmt::format("{}: plugin file '{}' not found. {}", where, path_in, how));
  const std::string path = fs::canonical(path_in).string();
  for (const auto& p : loaded())
    if (p.path == path) return p;

  // RTLD_NOW: an unresolved symbol fails here, with its name, not mid-run.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    throw InputError(fmt::format("{}: cannot load plugin '{}': {}. Is it a shared library built "
                                 "against this harness's installed headers?",
                                 where, path_in, dlerror()));
  using Entry = const LdaePluginInfo* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, "ldae_plugin"));
  if (!entry) {
    dlclose(handle);
    throw InputError(fmt::format("{}: '{}' does not export the C function `ldae_plugin`; define "
                                 "it with LDAE_PLUGIN(name, version, description, register_fn) "
                                 "from core/plugin.hpp",
                                 where, path_in));
  }
  const LdaePluginInfo* info = entry();
  if (!info || info->api_version != LDAE_PLUGIN_API_VERSION) {
    const int v = info ? info->api_version : -1;
    dlclose(handle);
    throw InputError(fmt::format("{}: plugin '{}' was built for plugin API version {}, this "
                                 "harness speaks version {}; rebuild the plugin against the "
                                 "installed ldae package",
                                 where, path_in, v, LDAE_PLUGIN_API_VERSION));
  }
  const std::string name = info->name ? info->name : "";
  if (name.empty() || !info->register_fn) {
    dlclose(handle);
    throw InputError(fmt::format("{}: plugin '{}' gives no name or no register function", where,
                                 path_in));
  }
  for (const auto& p : loaded())
    if (p.name == name) {
      dlclose(handle);
      throw InputError(fmt::format("{}: plugin '{}' ({}) has the name of the loaded plugin {}; "
                                   "load only one of them",
                                   where, name, path_in, p.path));
    }
  PendingHost host(name);
  try {
    info->register_fn(host);
    host.commit();
  } catch (const InputError& e) {
    // The handle stays open: the plugin's code may be referenced by
    // exception objects still unwinding. Nothing was registered.
    throw InputError(fmt::format("{}: {}", where, e.what()));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: plugin '{}' failed while registering: {}", where, name,
                                 e.what()));
  } catch (...) {
    throw InputError(fmt::format("{}: plugin '{}' failed while registering: it threw something that is not a "
                                 "std::exception; fix the plugin", where, name));
  }
  loaded().push_back(LoadedPlugin{name, info->version ? info->version : "",
                                  info->description ? info->description : "", path});
  return loaded().back();
}

void require_plugin(const std::string& entry, const std::string& sweep_path, const Origin& where) {
  const bool is_path = entry.find('/') != std::string::npos ||
                       (entry.size() > 3 && entry.compare(entry.size() - 3, 3, ".so") == 0);
  if (is_path) {
    fs::path p(entry);
    if (p.is_relative()) p = fs::path(sweep_path).parent_path() / p;
    load_plugin(p.string(), where.str());
    return;
  }
  for (const auto& p : loaded())
    if (p.name == entry) return;
  std::string searched;
  if (const char* env = std::getenv("LDAE_PLUGIN_PATH")) {
    std::string dirs = env;
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      const std::string dir = dirs.substr(start, end - start);
      for (const auto& file : {"lib" + entry + ".so", entry + ".so"}) {
        if (!dir.empty() && fs::exists(fs::path(dir) / file)) {
          const LoadedPlugin lp = load_plugin((fs::path(dir) / file).string(), where.str());
          if (lp.name != entry)
            throw InputError(fmt::format("{}: {} names itself '{}', not '{}'", where.str(),
                                         lp.path, lp.name, entry));
          return;
        }
      }
      searched += (searched.empty() ? "" : ", ") + dir;
      start = end + 1;
    }
  }
  throw InputError(fmt::format(
      "{}: this sweep needs the plugin '{}', which is not loaded. Pass --plugin "
      "path/to/lib{}.so (see docs/extending.md) or put its directory in "
      "LDAE_PLUGIN_PATH{}",
      where.str(), entry, entry, searched.empty() ? "" : " (searched: " + searched + ")"));
}

const std::vector<LoadedPlugin>& loaded_plugins() { return loaded(); }

}  // namespace ldae
