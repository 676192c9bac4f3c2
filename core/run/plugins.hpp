// The host side of plugins (the API plugins see is core/plugin/api.hpp):
// loading shared libraries and checking them. The hooks they registered are
// core/plugin/hooks.hpp's, where the run's steps call them.
#pragma once
#include <string>
#include <vector>

#include "core/base/errors.hpp"
#include "core/plugin/hooks.hpp"

namespace ldae {

struct LoadedPlugin {
  std::string name, version, description, path;
};

// Load the plugin at `path` (`where` says who asked: "--plugin",
// "sweep.toml:3"). Loading the same file twice is a no-op. Throws InputError
// (exit 2) for a missing file, a file that is not a loadable library, a
// missing `ldae_plugin` symbol, an API version mismatch, or a name, key or
// registry entry that exists already; a rejected plugin registers nothing.
LoadedPlugin load_plugin(const std::string& path, const std::string& where);

// A sweep file's `plugins = [...]` entry: a path (relative to the sweep file)
// to a .so, or a plugin name that --plugin loaded already or that lies in a
// directory of $LDAE_PLUGIN_PATH as lib<name>.so or <name>.so.
void require_plugin(const std::string& entry, const std::string& sweep_path, const Origin& where);

const std::vector<LoadedPlugin>& loaded_plugins();

}  // namespace ldae
