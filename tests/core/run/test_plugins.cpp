// Plugin loading: every error path, all-or-nothing registration, keys of a
// new axis (types, ranges, run ids), registry entries and hooks. Plugins are
// process-global, so the tests run in this order in their own executable.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/diffusion/noise.hpp"
#include "core/run/plugins.hpp"
#include "core/run/registry.hpp"
#include "core/config/sweep.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {

fs::path scratch() {
  static const fs::path dir = [] {
    auto d = fs::path(test::temp_dir("plugins"));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// A private copy of the toy plugin (a new file = a fresh dlopen) registered
// in `mode`.
std::string toy_copy(const std::string& mode) {
  auto p = scratch() / ("toy_" + mode + ".so");
  fs::copy_file(TOY_PLUGIN_PATH, p, fs::copy_options::overwrite_existing);
  setenv("LDAE_TOY_PLUGIN_MODE", mode.c_str(), 1);
  return p.string();
}

std::string load_error(const std::string& path) {
  try {
    load_plugin(path, "--plugin");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

Overrides set1(const std::string& key, Value v) { return {{key, Setting{v, Origin{"t.toml", 3}}}}; }

// Run ids computed before any plugin is loaded.
const RunConfig kDefault;
const std::string kDefaultId = run_id(kDefault);

TEST(Plugins, MissingFileSaysWhereAndHow) {
  auto e = load_error("/nonexistent/libx.so");
  EXPECT_NE(e.find("--plugin: plugin file '/nonexistent/libx.so' not found"), std::string::npos) << e;
  EXPECT_NE(e.find("docs/extending.md"), std::string::npos) << e;
}

TEST(Plugins, NotALibrary) {
  auto p = scratch() / "text.so";
  std::ofstream(p) << "not an ELF file\n";
  auto e = load_error(p.string());
  EXPECT_NE(e.find("cannot load plugin"), std::string::npos) << e;
}

TEST(Plugins, MissingEntryPoint) {
  auto e = load_error(NO_ENTRY_PLUGIN_PATH);
  EXPECT_NE(e.find("does not export the C function `ldae_plugin`"), std::string::npos) << e;
  EXPECT_NE(e.find("LDAE_PLUGIN("), std::string::npos) << e;
}

TEST(Plugins, ApiVersionMismatch) {
  auto e = load_error(OLD_API_PLUGIN_PATH);
  EXPECT_NE(e.find(fmt::format("built for plugin API version 0, this harness speaks version {}",
                               LDAE_PLUGIN_API_VERSION)),
            std::string::npos)
      << e;
  EXPECT_TRUE(loaded_plugins().empty());
}

TEST(Plugins, ClashRejectsTheWholePlugin) {
  auto e = load_error(toy_copy("clash_schedule"));
  EXPECT_NE(e.find("adds noise.schedule 'cosine', which exists already"), std::string::npos) << e;
  EXPECT_FALSE(has(config_keys(), "clash.k"));  // its key was not registered either
  e = load_error(toy_copy("clash_section"));
  EXPECT_NE(e.find("key 'train.toy' in the built-in section [train]"), std::string::npos) << e;
  e = load_error(toy_copy("throws"));
  EXPECT_NE(e.find("failed while registering: toy failure"), std::string::npos) << e;
  e = load_error(toy_copy("throws_other"));  // was std::terminate, exit 134
  EXPECT_NE(e.find("not a std::exception"), std::string::npos) << e;
  EXPECT_TRUE(loaded_plugins().empty());
}

TEST(Plugins, LoadsKeysScheduleAndHooks) {
  const auto path = toy_copy("ok");
  const auto p = load_plugin(path, "--plugin");
  EXPECT_EQ(p.name, "toy_ok");
  EXPECT_EQ(load_plugin(path, "again").path, p.path);  // the same file twice: one plugin
  ASSERT_EQ(loaded_plugins().size(), 1u);
  EXPECT_TRUE(has(config_keys(), "toy.shift"));
  EXPECT_TRUE(has(schedule_names(), "toy_constant"));
  NoiseConfig nc;
  nc.schedule = "toy_constant";
  EXPECT_DOUBLE_EQ(make_schedule(nc).sigma[5], 0.6);
  EXPECT_EQ(plugin_hooks().size(), 1u);

  // A plugin key at its default leaves run ids alone, set or unset.
  RunConfig c;
  EXPECT_EQ(run_id(c), kDefaultId);
  apply_overrides(c, set1("toy.shift", 0.0));
  EXPECT_EQ(run_id(c), kDefaultId);
  apply_overrides(c, set1("toy.shift", int64_t(2)));  // an integer is a fine number
  EXPECT_NE(run_id(c), kDefaultId);
  EXPECT_NE(canonical(c).find("toy.shift = 2.0"), std::string::npos);
  EXPECT_NE(to_toml(c).find("[toy]  # plugin toy_ok\nkind = \"a\"\nshift = 2.0"), std::string::npos)
      << to_toml(c);
  EXPECT_EQ(std::get<double>(get(c, "toy.shift")), 2.0);

  // Type, range and choice errors name the file, line and key.
  auto err = [&](const std::string& key, Value v) {
    try {
      RunConfig x;
      apply_overrides(x, set1(key, v));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(err("toy.shift", std::string("big")).find("t.toml:3: key 'toy.shift': expected a number"),
            std::string::npos);
  EXPECT_NE(err("toy.shift", 20.0).find("out of range"), std::string::npos);
  EXPECT_NE(err("toy.kind", std::string("c")).find("known: a, b"), std::string::npos);
  EXPECT_NE(err("toy.shfit", 1.0).find("did you mean 'toy.shift'"), std::string::npos);

  // validate() runs the plugin's check.
  RunConfig bad;
  apply_overrides(bad, set1("toy.shift", 7.0));
  try {
    validate(bad, "t.toml:9: row 1");
    FAIL() << "validate accepted toy.shift = 7";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t.toml:9: row 1: key 'toy.shift': 7 is unlucky"),
              std::string::npos);
  }

  // The probe-features hook.
  RunConfig b;
  apply_overrides(b, set1("toy.kind", std::string("b")));
  EXPECT_EQ(plugin_probe_features(b, torch::ones({4, 3})).size(1), 6);
  EXPECT_EQ(plugin_probe_features(RunConfig{}, torch::ones({4, 3})).size(1), 3);

  // The corrupt hook edits the step's input in place of the host's.
  RunConfig s;
  apply_overrides(s, set1("toy.shift", 1.5));
  StepContext sc{s, torch::zeros({2, 4, 3}), {}, {}, {}, {}, torch::zeros({2, 4, 3}), {}, {}, {}};
  for (const auto& h : plugin_hooks())
    if (h.corrupt) h.corrupt(sc);
  EXPECT_FLOAT_EQ(sc.input.mean().item<float>(), 1.5f);
}

TEST(Plugins, SecondPluginCannotReuseKeysOrName) {
  auto e = load_error(toy_copy("same_key"));
  EXPECT_NE(e.find("key 'toy.shift', already declared by plugin 'toy_ok'"), std::string::npos) << e;
  setenv("LDAE_TOY_PLUGIN_NAME", "toy_ok", 1);
  e = load_error(toy_copy("ok2"));
  unsetenv("LDAE_TOY_PLUGIN_NAME");
  EXPECT_NE(e.find("has the name of the loaded plugin"), std::string::npos) << e;
  EXPECT_EQ(loaded_plugins().size(), 1u);
}

TEST(Plugins, SweepFilesNameTheirPlugins) {
  auto s = parse_sweep_text("plugins = [\"toy_ok\"]\n[sweep]\nname = \"x\"\n[base]\ntoy.shift = 1.0\n[[row]]\nlabel = \"r\"\n",
                            "p.toml");
  ASSERT_EQ(s.plugins.size(), 1u);
  EXPECT_EQ(s.plugins[0].second.line, 1);
  require_plugin("toy_ok", "p.toml", s.plugins[0].second);  // loaded: fine
  EXPECT_EQ(expand(s, "", {}).at(0).cfg.ext.at("toy.shift"), Value(1.0));
  try {
    require_plugin("masking_noise", "p.toml", Origin{"p.toml", 1});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("p.toml:1: this sweep needs the plugin 'masking_noise'"),
              std::string::npos);
  }
  // By name from LDAE_PLUGIN_PATH (lib<name>.so).
  auto dir = scratch() / "path";
  fs::create_directories(dir);
  fs::copy_file(TOY_PLUGIN_PATH, dir / "libtoy_viapath.so", fs::copy_options::overwrite_existing);
  setenv("LDAE_TOY_PLUGIN_MODE", "viapath", 1);  // registers nothing, named toy_viapath
  setenv("LDAE_PLUGIN_PATH", ("/nonexistent:" + dir.string()).c_str(), 1);
  require_plugin("toy_viapath", "p.toml", Origin{"p.toml", 1});
  unsetenv("LDAE_PLUGIN_PATH");
  EXPECT_EQ(loaded_plugins().back().name, "toy_viapath");
  // A key of an axis nobody loaded says how to load it.
  try {
    RunConfig c;
    apply_overrides(c, set1("masking.ratio", 0.5));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("If [masking] is a plugin's axis, load the plugin"),
              std::string::npos)
        << e.what();
  }
}

TEST(Plugins, AHookThrowingSomethingElseIsAnInputErrorNamingThePluginAndHook) {
  // A validate hook that throws an int (not a std::exception): before, std::terminate (exit 134).
  load_plugin(toy_copy("bad_validate"), "--plugin");
  RunConfig c;
  apply_overrides(c, set1("bad.x", 1.0));
  try {
    validate(c, "b.toml:2");
    FAIL() << "the hook's int escaped";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("hook validate threw something that is not a std::exception"),
              std::string::npos) << e.what();
  }
}

}  // namespace
