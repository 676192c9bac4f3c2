// The key table behind RunConfig: the components' rows (core/config/keys.hpp)
// and the plugins', looked up by key; applying overrides with their checks;
// the canonical text and run id in the frozen key order.
#include "core/config/config.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <deque>
#include <functional>
#include <set>
#include <unordered_map>
#include <mutex>
#include <sstream>

#include "core/base/utf8.hpp"
#include "core/config/keys.hpp"

namespace ldae {
namespace {

// Rows added at run time (add_key_rows: components; declare_keys: plugins),
// with their owners. A deque keeps row pointers stable.
struct AddedRow {
  KeyRow row;
  std::string owner;
  bool plugin = false;  // a plugin's key (KeySpec), stored in RunConfig::ext
  KeySpec spec;
};
std::deque<AddedRow>& added_rows() {
  static std::deque<AddedRow> v;
  return v;
}

// Built-in and run-time component rows (not plugins'), in declaration order.
std::vector<const KeyRow*> component_rows() {
  std::vector<const KeyRow*> out;
  for (const auto& r : builtin_keys()) out.push_back(&r);
  for (const auto& a : added_rows())
    if (!a.plugin) out.push_back(&a.row);
  return out;
}

// Every row by key, the identity's rows in their order and their defaults,
// computed once and again only when rows are added (plugins, components
// added at run time): canonical() runs once per planned run, and a grid of
// 200,000 points spent most of its planning looking keys up.
struct RowIndex {
  size_t added = size_t(-1);  // added_rows().size() when built
  std::unordered_map<std::string, const KeyRow*> by_key;
  struct IdRow {
    const KeyRow* row;
    bool only_away_from_default;
    Value default_value;
  };
  std::vector<IdRow> frozen;  // the frozen list's rows, in its order
  std::vector<IdRow> later;   // rows in the id added since, sorted by key (away from default only)
};

const RowIndex& row_index() {
  static std::mutex mu;
  static RowIndex ix;
  std::lock_guard<std::mutex> lock(mu);
  if (ix.added == added_rows().size()) return ix;
  static const RunConfig defaults;
  RowIndex fresh;
  fresh.added = added_rows().size();
  for (const auto& r : builtin_keys()) fresh.by_key.emplace(r.key, &r);
  for (const auto& a : added_rows()) fresh.by_key.emplace(a.row.key, &a.row);
  std::set<std::string> frozen;
  for (const auto& fk : frozen_key_order()) {
    frozen.insert(fk.key);
    const KeyRow* r = fresh.by_key.at(fk.key);  // a frozen key is never removed
    fresh.frozen.push_back({r, fk.only_away_from_default, r->get(defaults)});
  }
  for (const KeyRow* r : component_rows())
    if (r->in_id && !frozen.count(r->key)) fresh.later.push_back({r, true, r->get(defaults)});
  std::sort(fresh.later.begin(), fresh.later.end(),
            [](const RowIndex::IdRow& a, const RowIndex::IdRow& b) { return a.row->key < b.row->key; });
  ix = std::move(fresh);
  return ix;
}

const KeyRow* find_row(const std::string& key) {
  // model.backbone is the documented spelling of the backbone key; run ids
  // keep the first one, model.name, so every recorded id stays valid.
  const auto& by_key = row_index().by_key;
  auto it = by_key.find(key == "model.backbone" ? std::string("model.name") : key);
  return it == by_key.end() ? nullptr : it->second;
}

Kind kind_of(const Value& v) {
  if (std::holds_alternative<bool>(v)) return Kind::Bool;
  if (std::holds_alternative<int64_t>(v)) return Kind::Int;
  if (std::holds_alternative<double>(v)) return Kind::Real;
  return Kind::Text;
}

// A plugin's key: its value lives in RunConfig::ext while away from its
// default, so a config that leaves it alone is the config it was before.
KeyRow plugin_row(const KeySpec& k) {
  KeyRow r;
  r.key = k.key;
  r.kind = kind_of(k.default_value);
  const Value def = k.default_value;
  const std::string key = k.key;
  r.get = [def, key](const RunConfig& c) {
    auto it = c.ext.find(key);
    return it == c.ext.end() ? def : it->second;
  };
  r.set = [def, key](RunConfig& c, const Value& v) {
    if (v == def) c.ext.erase(key);
    else c.ext[key] = v;
  };
  r.lo = k.lo;
  r.hi = k.hi;
  if (!k.choices.empty()) r.choices = [c = k.choices] { return c; };
  return r;
}

// Checks a batch of new keys before any is added: "section.name", not
// "seed", unique, in a section of its own (so config.toml stays valid TOML).
void check_new_keys(const std::vector<std::string>& keys, const std::string& owner, const char* what) {
  std::vector<std::string> seen;
  for (const auto& key : keys) {
    auto dot = key.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == key.size())
      throw InputError(fmt::format("{} '{}' declares key '{}', which is not of the form "
                                   "section.name (e.g. masking.ratio)", what, owner, key));
    if (key == "seed" || std::find(seen.begin(), seen.end(), key) != seen.end())
      throw InputError(fmt::format("{} '{}' declares key '{}' twice or over a built-in name",
                                   what, owner, key));
    for (const KeyRow* r : component_rows())
      if (r->key.compare(0, dot + 1, key, 0, dot + 1) == 0)
        throw InputError(fmt::format("{} '{}' declares key '{}' in the built-in section "
                                     "[{}]; a new axis needs its own section (e.g. {}.{})",
                                     what, owner, key, key.substr(0, dot), owner, key.substr(dot + 1)));
    for (const auto& a : added_rows())
      if (a.row.key == key)
        throw InputError(fmt::format("{} '{}' declares key '{}', already declared by {} '{}'; "
                                     "load only one of them", what, owner, key,
                                     a.plugin ? "plugin" : "component", a.owner));
    seen.push_back(key);
  }
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Bool: return "a boolean (true/false)";
    case Kind::Int: return "an integer";
    case Kind::Real: return "a number";
    case Kind::Text: return "a string";
  }
  return "?";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Edits between two words, a swap of neighbours counting as one (optimal
// string alignment): "patch_pac" is 1 from "patch_pca", as a typist sees it.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(3, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    // Compare whole keys and, for dotted keys, the part after the section.
    size_t d = edit_distance(word, c);
    auto dot = c.find('.');
    if (dot != std::string::npos && word.find('.') == std::string::npos)
      d = std::min(d, edit_distance(word, c.substr(dot + 1)));
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

void declare_keys(const std::vector<KeySpec>& keys, const std::string& owner) {
  std::vector<std::string> names;
  for (const auto& k : keys) {
    names.push_back(k.key);
    if (!k.choices.empty() && !std::holds_alternative<std::string>(k.default_value))
      throw InputError(fmt::format("plugin '{}' key '{}': choices need a string default", owner, k.key));
  }
  check_new_keys(names, owner, "plugin");
  for (const auto& k : keys) added_rows().push_back(AddedRow{plugin_row(k), owner, true, k});
}

void add_key_rows(const KeyRows& rows, const std::string& owner) {
  std::vector<std::string> names;
  for (const auto& r : rows) names.push_back(r.key);
  check_new_keys(names, owner, "component");
  for (const auto& r : rows) added_rows().push_back(AddedRow{r, owner, false, {}});
}

std::vector<std::pair<KeySpec, std::string>> declared_keys() {
  std::vector<std::pair<KeySpec, std::string>> out;
  for (const auto& a : added_rows())
    if (a.plugin) out.emplace_back(a.spec, a.owner);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first.key < b.first.key; });
  return out;
}

std::string value_shown(const Value& v) {
  return std::holds_alternative<double>(v) ? fmt::format("{}", std::get<double>(v)) : value_str(v);
}

// "; write it without quotes" for a quoted "true" or "3" where a boolean or
// a number is expected ("" otherwise: a bare word is not a quoting slip).
static std::string quoted_hint(Kind kind, const Value& v) {
  const auto* st = std::get_if<std::string>(&v);
  if (!st || st->empty()) return "";
  char* end = nullptr;
  const bool number = (std::strtod(st->c_str(), &end), end == st->c_str() + st->size());
  const bool fits = kind == Kind::Bool ? (*st == "true" || *st == "false") : number;
  return fits ? "; a string: write it without quotes" : "";
}

std::string value_str(const Value& v) {
  if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) {
    std::string s = fmt::format("{:.17g}", *d);
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  std::string out = "\"";
  for (char c : std::get<std::string>(v)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

int64_t seed_of(const Setting& s) {
  const auto* n = std::get_if<int64_t>(&s.value);
  if (!n) throw config_error(s.origin, "seed", "expected an integer seed, e.g. --set seed=5");
  if (*n < 0) throw config_error(s.origin, "seed", "seeds are 0 or more, e.g. --set seed=5");
  return *n;
}

void apply_overrides(RunConfig& cfg, const Overrides& layer) {
  for (const auto& [key, s] : layer) {
    if (key == "seed") {
      cfg.seed = seed_of(s);
      continue;
    }
    const KeyRow* f = find_row(key);
    if (!f) {
      auto known = config_keys();
      known.push_back("model.backbone");
      // A key without a section is most likely a [[row]]'s own field misspelt.
      if (key.find('.') == std::string::npos) known.insert(known.end(), {"label", "standalone", "compare"});
      std::string hint = closest(key, known);
      const std::string section = key.substr(0, key.find('.'));
      // A section some key already has (built in, or a loaded plugin's): a typo, not a plugin to load.
      bool builtin_section = false;
      for (const KeyRow* r : component_rows()) builtin_section |= r->key.rfind(section + ".", 0) == 0;
      for (const auto& k : known) builtin_section |= k.rfind(section + ".", 0) == 0;
      throw config_error(s.origin, key,
                         "unknown key" + (hint.empty() ? std::string(".")
                                                       : "; did you mean '" + hint + "'?") +
                             (builtin_section || key.find('.') == std::string::npos
                                  ? ""
                                  : " If [" + section + "] is a plugin's axis, load the plugin "
                                    "(--plugin path.so or plugins = [...] in the sweep file).") +
                             " Run `run_sweep --list` for every key and its default.");
    }
    Value v = s.value;
    if (f->kind == Kind::Real && std::holds_alternative<int64_t>(v))
      v = double(std::get<int64_t>(v));  // 3 is a fine number
    if (f->kind == Kind::Text && std::holds_alternative<int64_t>(v))
      v = std::to_string(std::get<int64_t>(v));  // --set model.attn_resolutions=16: its text
    bool ok = (f->kind == Kind::Bool && std::holds_alternative<bool>(v)) ||
              (f->kind == Kind::Int && std::holds_alternative<int64_t>(v)) ||
              (f->kind == Kind::Real && std::holds_alternative<double>(v)) ||
              (f->kind == Kind::Text && std::holds_alternative<std::string>(v));
    if (!ok)
      throw config_error(s.origin, key,
                         fmt::format("expected {}, got {}{}", kind_name(f->kind), value_shown(v),
                                     f->kind != Kind::Text ? quoted_hint(f->kind, v)
                                     : s.origin.file == "--set"
                                         ? fmt::format("; quote it: --set '{}=\"...\"'", key)
                                         : fmt::format("; quote it: {} = \"...\"", key)));
    if (f->kind == Kind::Text) require_utf8(std::get<std::string>(v), s.origin.str() + ": key '" + key + "'");
    if (f->kind == Kind::Int || f->kind == Kind::Real) {
      double x = f->kind == Kind::Int ? double(std::get<int64_t>(v)) : std::get<double>(v);
      if (!(x >= f->lo && (f->hi_open ? x < f->hi : x <= f->hi)))
        throw config_error(s.origin, key,
                           fmt::format("value {} is out of range [{:g}, {:g}{}{}", value_shown(v), f->lo, f->hi,
                                       f->hi_open ? ")" : "]",
                                       f->hi_open && x == f->hi ? fmt::format(": at {:g} it {}", f->hi, f->hi_means)
                                                                : ""));
    }
    if (f->choices) {
      auto names = f->choices();
      const auto& name = std::get<std::string>(v);
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        std::string hint = closest(name, names);
        throw config_error(s.origin, key,
                           fmt::format("unknown value \"{}\"{}; known: {}", name,
                                       hint.empty() ? "" : " (did you mean \"" + hint + "\"?)",
                                       join(names)));
      }
    }
    f->set(cfg, v);
  }
}

ModelShape model_shape(const ModelConfig& m) {
  // DiT presets (Peebles & Xie, Table 1): (depth, width, heads); tiny for CPU.
  static const std::map<std::string, ModelShape> presets = {
      {"tiny", {8, 128, 4}}, {"S", {12, 384, 6}},     {"B", {12, 768, 12}},
      {"L", {24, 1024, 16}}, {"XL", {28, 1152, 16}},
  };
  ModelShape s = presets.at(m.preset);
  if (m.depth > 0) s.depth = m.depth;
  if (m.width > 0) s.width = m.width;
  if (m.heads > 0) s.heads = m.heads;
  return s;
}

std::vector<std::function<void(const RunConfig&, const std::string&)>>& validators() {
  static std::vector<std::function<void(const RunConfig&, const std::string&)>> v;
  return v;
}

void add_validator(std::function<void(const RunConfig&, const std::string&)> check) {
  validators().push_back(std::move(check));
}

void run_added_validators(const RunConfig& cfg, const std::string& where) {
  for (const auto& check : validators()) check(cfg, where);
}

std::vector<const KeyRow*> key_rows() {
  std::vector<const KeyRow*> out = component_rows();
  for (const auto& a : added_rows())
    if (a.plugin) out.push_back(&a.row);
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const KeyRow* r : component_rows()) keys.push_back(r->key);
  for (const auto& [spec, owner] : declared_keys()) keys.push_back(spec.key);
  keys.push_back("seed");
  return keys;
}

Value get(const RunConfig& cfg, const std::string& key) {
  if (key == "seed") return Value(int64_t(cfg.seed));
  const KeyRow* r = find_row(key);
  if (!r) throw std::out_of_range("unknown config key " + key);
  return r->get(cfg);
}

namespace {

// The identity lines of cfg: the frozen keys in their order, then every
// later key (built in, added or a plugin's) away from its default, sorted by
// key. A plugin key set in the config but not declared (its plugin not
// loaded) still counts. `keep` filters rows (training_text: rows that train).
std::string identity_text(const RunConfig& cfg, const std::function<bool(const KeyRow&)>& keep) {
  const RowIndex& ix = row_index();
  std::string out;
  for (const auto& f : ix.frozen) {
    if (!keep(*f.row)) continue;
    const Value v = f.row->get(cfg);
    if (f.only_away_from_default && v == f.default_value) continue;
    out += f.row->key + " = " + value_str(v) + "\n";
  }
  std::vector<std::pair<std::string, std::string>> later;  // usually none
  for (const auto& f : ix.later)
    if (keep(*f.row))
      if (const Value v = f.row->get(cfg); v != f.default_value) later.emplace_back(f.row->key, value_str(v));
  for (const auto& [key, v] : cfg.ext) {
    const KeyRow* r = find_row(key);
    if (!r || keep(*r)) later.emplace_back(key, value_str(v));
  }
  std::sort(later.begin(), later.end());
  for (const auto& [key, v] : later) out += key + " = " + v + "\n";
  return out;
}

}  // namespace

std::string canonical(const RunConfig& cfg) {
  return identity_text(cfg, [](const KeyRow& r) { return r.in_id; });
}

std::string training_text(const RunConfig& cfg) {
  std::string text = identity_text(cfg, [](const KeyRow& r) { return r.in_id && r.trains; });
  // A baseline method (methods/, plugins) trains the encoder up to the
  // probe's feature point and reads it as the probe pools (MethodContext's
  // block and pool): for it those two probe keys train. Added only away
  // from their defaults, so the models kept before stay where they are.
  if (cfg.method.name != "denoise") {
    static const RunConfig defaults;
    if (cfg.probe.block != defaults.probe.block) text += fmt::format("method reads probe.block = {}\n", cfg.probe.block);
    if (cfg.probe.training_pool() != defaults.probe.pool)
      text += fmt::format("method reads probe.pool = \"{}\"\n", cfg.probe.training_pool());
  }
  return text;
}

std::string fnv1a_hex(const std::string& text) {
  // FNV-1a 64: stable across platforms and compilers, unlike std::hash.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

std::string run_id(const RunConfig& cfg) {
  return fnv1a_hex(canonical(cfg) + "seed = " + std::to_string(cfg.seed) + "\n");
}

std::string to_toml(const RunConfig& cfg) {
  std::string out = fmt::format("# resolved run config (ldae)\nseed = {}\n", cfg.seed);
  std::string section;
  auto emit = [&](const KeyRow& r, const std::string& note) {
    auto dot = r.key.find('.');
    std::string sec = r.key.substr(0, dot);
    if (sec != section) out += "\n[" + sec + "]" + note + "\n", section = sec;
    out += r.key.substr(dot + 1) + " = " + value_str(r.get(cfg)) + "\n";
  };
  for (const KeyRow* r : component_rows()) emit(*r, "");
  std::vector<const AddedRow*> plugins;  // plugin axes, every key with its value, by key
  for (const auto& a : added_rows())
    if (a.plugin) plugins.push_back(&a);
  std::sort(plugins.begin(), plugins.end(), [](auto* a, auto* b) { return a->row.key < b->row.key; });
  for (const AddedRow* a : plugins) emit(a->row, "  # plugin " + a->owner);
  return out;
}

Overrides parse_sets(const std::vector<std::string>& args) {
  Overrides out;
  for (const auto& a : args) {
    auto [key, setting] = parse_set(a);
    out[key] = std::move(setting);
  }
  return out;
}

std::pair<std::string, Setting> parse_set(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set '" + arg + "': expected key=value, e.g. --set train.epochs=3");
  // "key = value" (spaces as a TOML file writes them) is key=value.
  auto trim = [](std::string t) {
    const auto b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  std::string key = trim(arg.substr(0, eq)), text = trim(arg.substr(eq + 1));
  if (key.empty()) throw InputError("--set '" + arg + "': expected key=value, e.g. --set train.epochs=3");
  Setting s{std::string(text), Origin{"--set " + key, 0}};
  try {
    auto t = toml::parse("v = " + text);
    const auto* n = t.get("v");
    if (auto b = n->as_boolean()) s.value = b->get();
    else if (auto i = n->as_integer()) s.value = int64_t(i->get());
    else if (auto d = n->as_floating_point()) s.value = d->get();
    else if (auto st = n->as_string()) s.value = st->get();
  } catch (const toml::parse_error&) {
    // a bare word such as patch_pca: keep it as a string
  }
  return {key, s};
}

}  // namespace ldae
