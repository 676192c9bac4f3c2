// The key machinery: one KeyRow per config key says its type, where its value
// lives in a RunConfig, what it admits and how it enters a run's identity.
// Each component owns its rows and checks, beside its code (data.* in
// core/data/data_keys.cpp, tokenizer.* in tokenizers/tokenizer_keys.cpp,
// noise.* and objective.* in core/diffusion/diffusion_keys.cpp, model.* in
// backbones/backbone_keys.cpp, method.* and each method's section in
// methods/, train.* in core/train/train_keys.cpp, probe.* and eval.* in
// probes/probe_keys.cpp); core/run/keys.cpp assembles them, and validate()
// (core/run/validate.cpp) calls their checks.
//
// Identity: a run id hashes canonical(cfg), whose line order comes from the
// frozen list in core/config/key_order.cpp, never from where a row is
// declared. Keys added after that list was frozen enter the id only when
// away from their defaults, sorted by key, so old sweep files keep their ids.
#pragma once
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/config/config.hpp"

namespace ldae {

enum class Kind { Bool, Int, Real, Text };

struct KeyRow {
  std::string key;  // "section.name"
  Kind kind = Kind::Text;
  std::function<Value(const RunConfig&)> get;
  std::function<void(RunConfig&, const Value&)> set;
  double lo = -1e300, hi = 1e300;                      // numeric range [lo, hi]
  bool hi_open = false;       // [lo, hi): the endpoint switches off what the key is for ...
  std::string hi_means;       // ... and this says what it would do (for the error)
  std::function<std::vector<std::string>()> choices;  // admitted strings (text keys)
  // Part of the run id. False for what does not change a run's result
  // (data location, threads, logging and checkpoint cadence, ...).
  bool in_id = true;
  // Part of the trained-model cache key (core/run/pretrain.cpp). False for
  // keys read only after pre-training (the probes, fine-tuning, FID).
  bool trains = true;
};
using KeyRows = std::vector<KeyRow>;

// A component's cross-field check reports through fail(key, what), which
// throws InputError naming the sweep row, the key and the problem.
using Fail = std::function<void(const std::string& key, const std::string& what)>;

namespace keys_detail {
template <class T>
KeyRow typed_row(std::string key, std::function<const T&(const RunConfig&)> read,
                 std::function<T&(RunConfig&)> write, double lo, double hi) {
  KeyRow r;
  r.key = std::move(key);
  r.lo = lo;
  r.hi = hi;
  if constexpr (std::is_same_v<T, bool>) {
    r.kind = Kind::Bool;
    r.get = [read](const RunConfig& c) { return Value(read(c)); };
    r.set = [write](RunConfig& c, const Value& v) { write(c) = std::get<bool>(v); };
  } else if constexpr (std::is_integral_v<T>) {
    r.kind = Kind::Int;
    r.get = [read](const RunConfig& c) { return Value(int64_t(read(c))); };
    r.set = [write](RunConfig& c, const Value& v) { write(c) = T(std::get<int64_t>(v)); };
  } else if constexpr (std::is_floating_point_v<T>) {
    r.kind = Kind::Real;
    r.get = [read](const RunConfig& c) { return Value(double(read(c))); };
    r.set = [write](RunConfig& c, const Value& v) { write(c) = std::get<double>(v); };
  } else {
    r.kind = Kind::Text;
    r.get = [read](const RunConfig& c) { return Value(read(c)); };
    r.set = [write](RunConfig& c, const Value& v) { write(c) = std::get<std::string>(v); };
  }
  return r;
}
}  // namespace keys_detail

// A key of one of RunConfig's own sections: field("train.epochs",
// &RunConfig::train, &TrainConfig::epochs, 0, 1e6).
template <class S, class T>
KeyRow field(std::string key, S RunConfig::*sec, T S::*mem, double lo = -1e300, double hi = 1e300) {
  return keys_detail::typed_row<T>(
      std::move(key), [=](const RunConfig& c) -> const T& { return (c.*sec).*mem; },
      [=](RunConfig& c) -> T& { return (c.*sec).*mem; }, lo, hi);
}

// A key of a component's own section S (stored in RunConfig::sections; S has
// `static constexpr const char* kSection`): section_field(
// "mae.mask_ratio", &MaeConfig::mask_ratio, 0, 0.99).
template <class S, class T>
KeyRow section_field(std::string key, T S::*mem, double lo = -1e300, double hi = 1e300) {
  return keys_detail::typed_row<T>(
      std::move(key), [=](const RunConfig& c) -> const T& { return c.sections.get<S>().*mem; },
      [=](RunConfig& c) -> T& { return c.sections.mut<S>().*mem; }, lo, hi);
}

// A text row admitting only names(): a registry's names or a fixed list.
inline KeyRow choice(KeyRow r, std::function<std::vector<std::string>()> names) {
  r.choices = std::move(names);
  return r;
}
inline std::function<std::vector<std::string>()> fixed(std::vector<std::string> v) {
  return [v] { return v; };
}
// Left out of the run id (see KeyRow::in_id); such a key never trains either.
inline KeyRow not_in_id(KeyRow r) {
  r.in_id = false;
  return r;
}
// A decay, momentum or probability whose upper endpoint switches off what
// the key is for (train.ema = 1: the average never moves): the range becomes
// [lo, hi), and `means` says what the endpoint would do, in the error.
inline KeyRow below(KeyRow r, std::string means) {
  r.hi_open = true;
  r.hi_means = std::move(means);
  return r;
}
// Read only after pre-training: out of the trained-model key (KeyRow::trains).
inline KeyRow after_training(KeyRow r) {
  r.trains = false;
  return r;
}

// Every built-in component's rows, assembled by core/run/keys.cpp from the
// components' own functions (the one place the config layer reaches above
// itself: by declaration, resolved when the library links).
const KeyRows& builtin_keys();

// Every row: built in, added at run time, then plugins' (for --list, docs).
std::vector<const KeyRow*> key_rows();

// Adds rows at run time (a component registered after start-up, e.g. a
// method added by a test or a plugin; `owner` names it in errors). The same
// checks as declare_keys: all or nothing, own section, no clashes.
void add_key_rows(const KeyRows& rows, const std::string& owner);

// The frozen order of canonical() (core/config/key_order.cpp): each key
// recorded in an id before this list was frozen, and whether it enters the
// id always (false) or only away from its default (true). Never reorder,
// never remove; a key not listed is appended after them, sorted, when away
// from its default.
struct FrozenKey {
  const char* key;
  bool only_away_from_default;
};
const std::vector<FrozenKey>& frozen_key_order();

}  // namespace ldae
