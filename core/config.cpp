// Field table behind RunConfig: one row per key says its type, where it lives,
// which values it admits and whether it belongs to the run's identity.
#include "core/config.hpp"

#include "backbones/backbone.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <sstream>

#include "core/registry.hpp"

namespace ldae {
namespace {

enum class Kind { Bool, Int, Real, Text };

struct Field {
  std::string key;  // "section.name"
  Kind kind;
  std::function<Value(const RunConfig&)> get;
  std::function<void(RunConfig&, const Value&)> set;
  double lo = -1e300, hi = 1e300;                       // numeric range
  std::function<std::vector<std::string>()> choices;   // for text fields
  bool semantic = true;                                 // part of the run id
  // Keys added after the first results were recorded: left out of the run id
  // while at their default, so old sweep files keep their run ids.
  bool since_v2 = false;
};

template <class S, class T>
Field field(std::string key, S RunConfig::*sec, T S::*mem, double lo = -1e300,
            double hi = 1e300) {
  Field f;
  f.key = std::move(key);
  if constexpr (std::is_same_v<T, bool>) {
    f.kind = Kind::Bool;
    f.get = [=](const RunConfig& c) { return Value((c.*sec).*mem); };
    f.set = [=](RunConfig& c, const Value& v) { (c.*sec).*mem = std::get<bool>(v); };
  } else if constexpr (std::is_integral_v<T>) {
    f.kind = Kind::Int;
    f.get = [=](const RunConfig& c) { return Value(int64_t((c.*sec).*mem)); };
    f.set = [=](RunConfig& c, const Value& v) { (c.*sec).*mem = T(std::get<int64_t>(v)); };
  } else if constexpr (std::is_floating_point_v<T>) {
    f.kind = Kind::Real;
    f.get = [=](const RunConfig& c) { return Value(double((c.*sec).*mem)); };
    f.set = [=](RunConfig& c, const Value& v) { (c.*sec).*mem = std::get<double>(v); };
  } else {
    f.kind = Kind::Text;
    f.get = [=](const RunConfig& c) { return Value((c.*sec).*mem); };
    f.set = [=](RunConfig& c, const Value& v) { (c.*sec).*mem = std::get<std::string>(v); };
  }
  f.lo = lo;
  f.hi = hi;
  return f;
}

template <class S, class T>
Field choice(std::string key, S RunConfig::*sec, T S::*mem,
             std::function<std::vector<std::string>()> names) {
  Field f = field(std::move(key), sec, mem);
  f.choices = std::move(names);
  return f;
}

// Marks a key added after the first results were recorded (see since_v2).
Field v2(Field f) {
  f.since_v2 = true;
  return f;
}

std::function<std::vector<std::string>()> fixed(std::vector<std::string> v) {
  return [v] { return v; };
}

const std::vector<Field>& fields() {
  using R = RunConfig;
  static const std::vector<Field> table = [] {
    std::vector<Field> t = {
        choice("data.name", &R::data, &DataConfig::name, dataset_names),
        field("data.path", &R::data, &DataConfig::path),
        v2(field("data.fingerprint", &R::data, &DataConfig::fingerprint)),
        field("data.pad", &R::data, &DataConfig::pad, 0, 64),
        field("data.subset", &R::data, &DataConfig::subset, 0, 1e9),
        choice("data.subset_mode", &R::data, &DataConfig::subset_mode, fixed({"first", "random"})),
        field("data.test_subset", &R::data, &DataConfig::test_subset, 0, 1e9),
        field("data.normalize", &R::data, &DataConfig::normalize),
        field("data.synthetic_classes", &R::data, &DataConfig::synthetic_classes, 2, 1000),
        field("data.synthetic_size", &R::data, &DataConfig::synthetic_size, 4, 512),
        field("data.synthetic_train", &R::data, &DataConfig::synthetic_train, 1, 1e7),
        field("data.synthetic_test", &R::data, &DataConfig::synthetic_test, 1, 1e7),
        v2(field("data.resolution", &R::data, &DataConfig::resolution, 0, 4096)),
        v2(choice("data.augment", &R::data, &DataConfig::augment, fixed({"center", "rrc_flip"}))),
        v2(field("data.skip_bad", &R::data, &DataConfig::skip_bad)),
        choice("tokenizer.name", &R::tokenizer, &TokenizerConfig::name, tokenizer_names),
        field("tokenizer.patch", &R::tokenizer, &TokenizerConfig::patch, 1, 256),
        field("tokenizer.d", &R::tokenizer, &TokenizerConfig::d, 1, 1e6),
        field("tokenizer.fit_patches", &R::tokenizer, &TokenizerConfig::fit_patches, 16, 1e8),
        field("tokenizer.scale", &R::tokenizer, &TokenizerConfig::scale),
        v2(field("tokenizer.steps", &R::tokenizer, &TokenizerConfig::steps, 0, 1e8)),
        v2(field("tokenizer.batch", &R::tokenizer, &TokenizerConfig::batch, 1, 1e6)),
        v2(field("tokenizer.lr", &R::tokenizer, &TokenizerConfig::lr, 0, 10)),
        v2(field("tokenizer.kl_weight", &R::tokenizer, &TokenizerConfig::kl_weight, 0, 1e3)),
        v2(field("tokenizer.downsample", &R::tokenizer, &TokenizerConfig::downsample, 1, 64)),
        v2(field("tokenizer.width", &R::tokenizer, &TokenizerConfig::width, 1, 4096)),
        v2(field("tokenizer.perceptual_weight", &R::tokenizer, &TokenizerConfig::perceptual_weight, 0, 1e3)),
        v2(field("tokenizer.perceptual_net", &R::tokenizer, &TokenizerConfig::perceptual_net)),
        v2(field("tokenizer.adv_weight", &R::tokenizer, &TokenizerConfig::adv_weight, 0, 1e3)),
        v2(field("tokenizer.adv_start", &R::tokenizer, &TokenizerConfig::adv_start, 0, 1e9)),
        v2(field("tokenizer.per_seed", &R::tokenizer, &TokenizerConfig::per_seed)),
        choice("noise.schedule", &R::noise, &NoiseConfig::schedule, schedule_names),
        field("noise.T", &R::noise, &NoiseConfig::T, 1, 1e6),
        field("noise.sigma", &R::noise, &NoiseConfig::sigma, 0, 1e3),
        field("noise.sigma_max", &R::noise, &NoiseConfig::sigma_max, 0, 1e3),
        v2(field("noise.p_mean", &R::noise, &NoiseConfig::p_mean, -20, 20)),
        v2(field("noise.p_std", &R::noise, &NoiseConfig::p_std, 1e-3, 20)),
        choice("objective.target", &R::objective, &ObjectiveConfig::target, target_names),
        choice("objective.space", &R::objective, &ObjectiveConfig::space, fixed({"latent", "image"})),
        field("objective.input_scaling", &R::objective, &ObjectiveConfig::input_scaling),
        field("objective.beyond_weight", &R::objective, &ObjectiveConfig::beyond_weight, 0, 1e3),
        v2(field("objective.align_weight", &R::objective, &ObjectiveConfig::align_weight, 0, 1e3)),
        v2(field("objective.align_block", &R::objective, &ObjectiveConfig::align_block, -1, 1000)),
        v2(field("objective.align_target", &R::objective, &ObjectiveConfig::align_target)),
        choice("model.name", &R::model, &ModelConfig::name, backbone_names),
        choice("model.preset", &R::model, &ModelConfig::preset, fixed({"tiny", "S", "B", "L", "XL"})),
        field("model.patch", &R::model, &ModelConfig::patch, 1, 64),
        field("model.depth", &R::model, &ModelConfig::depth, 0, 1000),
        field("model.width", &R::model, &ModelConfig::width, 0, 1e5),
        field("model.heads", &R::model, &ModelConfig::heads, 0, 1000),
        field("model.split", &R::model, &ModelConfig::split, -1, 1000),
        field("model.t_mlp_ratio", &R::model, &ModelConfig::t_mlp_ratio, 1e-3, 64),
        field("model.mlp_ratio", &R::model, &ModelConfig::mlp_ratio, 0.1, 64),
        field("model.class_cond", &R::model, &ModelConfig::class_cond),
        field("model.class_dropout", &R::model, &ModelConfig::class_dropout, 0, 1),
        v2(field("model.cls_token", &R::model, &ModelConfig::cls_token)),
        field("train.epochs", &R::train, &TrainConfig::epochs, 0, 1e6),
        field("train.batch", &R::train, &TrainConfig::batch, 1, 1e7),
        field("train.base_lr", &R::train, &TrainConfig::base_lr, 0, 10),
        field("train.warmup_epochs", &R::train, &TrainConfig::warmup_epochs, 0, 1e6),
        field("train.weight_decay", &R::train, &TrainConfig::weight_decay, 0, 10),
        field("train.beta2", &R::train, &TrainConfig::beta2, 0, 1),
        field("train.ema", &R::train, &TrainConfig::ema, 0, 1),
        field("train.grad_clip", &R::train, &TrainConfig::grad_clip, 0, 1e6),
        field("train.bf16", &R::train, &TrainConfig::bf16),
        choice("train.device", &R::train, &TrainConfig::device, fixed({"cpu", "cuda", "auto"})),
        field("train.threads", &R::train, &TrainConfig::threads, 0, 4096),
        field("train.checkpoint_every", &R::train, &TrainConfig::checkpoint_every, 1, 1e9),
        field("train.log_every", &R::train, &TrainConfig::log_every, 1, 1e9),
        field("train.bucket_mb", &R::train, &TrainConfig::bucket_mb, 1e-6, 1e6),
        v2(field("train.fused_adamw", &R::train, &TrainConfig::fused_adamw)),
        v2(field("train.cuda_graph", &R::train, &TrainConfig::cuda_graph)),
        choice("probe.name", &R::probe, &ProbeConfig::name, probe_names),
        choice("probe.features", &R::probe, &ProbeConfig::features, fixed({"encoder", "raw_pixels", "untrained_encoder"})),
        field("probe.block", &R::probe, &ProbeConfig::block, -1, 1000),
        field("probe.t", &R::probe, &ProbeConfig::t, 0, 1e6),
        field("probe.noisy", &R::probe, &ProbeConfig::noisy),
        field("probe.epochs", &R::probe, &ProbeConfig::epochs, 1, 1e5),
        field("probe.batch", &R::probe, &ProbeConfig::batch, 1, 1e7),
        choice("probe.optimizer", &R::probe, &ProbeConfig::optimizer, fixed({"sgd", "adamw"})),
        field("probe.base_lr", &R::probe, &ProbeConfig::base_lr, 0, 100),
        field("probe.weight_decay", &R::probe, &ProbeConfig::weight_decay, 0, 10),
        v2(choice("probe.pool", &R::probe, &ProbeConfig::pool, fixed({"mean", "cls"}))),
        v2(field("probe.knn_k", &R::probe, &ProbeConfig::knn_k, 0, 1e6)),
        v2(field("probe.knn_t", &R::probe, &ProbeConfig::knn_t, 1e-4, 100)),
        v2(field("eval.fid_samples", &R::eval, &EvalConfig::fid_samples, 0, 1e7)),
        v2(choice("eval.sampler", &R::eval, &EvalConfig::sampler, sampler_names)),
        v2(field("eval.sample_steps", &R::eval, &EvalConfig::sample_steps, 1, 1e6)),
        v2(field("eval.fid_net", &R::eval, &EvalConfig::fid_net)),
        v2(field("eval.classifier_epochs", &R::eval, &EvalConfig::classifier_epochs, 1, 1e4)),
        v2(field("eval.finetune_epochs", &R::eval, &EvalConfig::finetune_epochs, 0, 1e5)),
        v2(field("eval.finetune_batch", &R::eval, &EvalConfig::finetune_batch, 1, 1e6)),
        v2(field("eval.finetune_lr", &R::eval, &EvalConfig::finetune_lr, 0, 10)),
        v2(field("eval.finetune_layer_decay", &R::eval, &EvalConfig::finetune_layer_decay, 1e-3, 1)),
        v2(field("eval.finetune_weight_decay", &R::eval, &EvalConfig::finetune_weight_decay, 0, 10)),
        v2(field("eval.finetune_warmup_epochs", &R::eval, &EvalConfig::finetune_warmup_epochs, 0, 1e5)),
        v2(field("eval.finetune_label_smoothing", &R::eval, &EvalConfig::finetune_label_smoothing, 0, 0.99)),
        v2(field("eval.finetune_mixup", &R::eval, &EvalConfig::finetune_mixup, 0, 100)),
        v2(field("eval.finetune_cutmix", &R::eval, &EvalConfig::finetune_cutmix, 0, 100)),
        v2(choice("method.name", &R::method, &MethodConfig::name, method_names)),
        v2(field("mae.mask_ratio", &R::mae, &MaeConfig::mask_ratio, 0, 0.99)),
        v2(field("mae.decoder_depth", &R::mae, &MaeConfig::decoder_depth, 1, 100)),
        v2(field("mae.decoder_width", &R::mae, &MaeConfig::decoder_width, 8, 1e5)),
        v2(field("mae.norm_pix", &R::mae, &MaeConfig::norm_pix)),
        v2(field("moco.m", &R::moco, &MocoConfig::m, 0, 1)),
        v2(field("moco.t", &R::moco, &MocoConfig::t, 1e-4, 100)),
        v2(field("moco.dim", &R::moco, &MocoConfig::dim, 1, 1e6)),
        v2(field("moco.mlp_dim", &R::moco, &MocoConfig::mlp_dim, 1, 1e6)),
        v2(field("moco.freeze_patch_embed", &R::moco, &MocoConfig::freeze_patch_embed)),
        v2(field("dino.local_crops", &R::dino, &DinoConfig::local_crops, 0, 64)),
        v2(field("dino.out_dim", &R::dino, &DinoConfig::out_dim, 2, 1e7)),
        v2(field("dino.hidden", &R::dino, &DinoConfig::hidden, 1, 1e6)),
        v2(field("dino.bottleneck", &R::dino, &DinoConfig::bottleneck, 1, 1e6)),
        v2(field("dino.m", &R::dino, &DinoConfig::m, 0, 1)),
        v2(field("dino.teacher_temp", &R::dino, &DinoConfig::teacher_temp, 1e-4, 100)),
        v2(field("dino.warmup_teacher_temp", &R::dino, &DinoConfig::warmup_teacher_temp, 1e-4, 100)),
        v2(field("dino.warmup_teacher_temp_epochs", &R::dino, &DinoConfig::warmup_teacher_temp_epochs, 0, 1e5)),
        v2(field("dino.student_temp", &R::dino, &DinoConfig::student_temp, 1e-4, 100)),
        v2(field("dino.center_m", &R::dino, &DinoConfig::center_m, 0, 1)),
    };
    // Data location, threads, logging cadence and whether the step is
    // replayed as a CUDA graph (the same kernels on the same data) do not
    // change what a run computes, so they stay out of its identity.
    for (auto& f : t)
      if (f.key == "data.path" || f.key == "train.threads" ||
          f.key == "train.checkpoint_every" || f.key == "train.log_every" ||
          f.key == "train.bucket_mb" || f.key == "train.cuda_graph")
        f.semantic = false;
    return t;
  }();
  return table;
}

// Keys declared by plugins, kept sorted by key so a run id never depends on
// the order plugins were loaded in. A deque keeps Field pointers stable.
struct PluginField {
  Field field;
  KeySpec spec;
  std::string owner;
};
std::deque<PluginField>& plugin_fields() {
  static std::deque<PluginField> v;
  return v;
}

const Field* find_field(const std::string& key) {
  // model.backbone is the documented spelling of the backbone key; run ids
  // keep the first one, model.name, so every recorded id stays valid.
  if (key == "model.backbone") return find_field("model.name");
  for (const auto& f : fields())
    if (f.key == key) return &f;
  for (const auto& p : plugin_fields())
    if (p.field.key == key) return &p.field;
  return nullptr;
}

Kind kind_of(const Value& v) {
  if (std::holds_alternative<bool>(v)) return Kind::Bool;
  if (std::holds_alternative<int64_t>(v)) return Kind::Int;
  if (std::holds_alternative<double>(v)) return Kind::Real;
  return Kind::Text;
}

Field plugin_field(const KeySpec& k) {
  Field f;
  f.key = k.key;
  f.kind = kind_of(k.default_value);
  const Value def = k.default_value;
  const std::string key = k.key;
  f.get = [def, key](const RunConfig& c) {
    auto it = c.ext.find(key);
    return it == c.ext.end() ? def : it->second;
  };
  f.set = [def, key](RunConfig& c, const Value& v) {
    if (v == def) c.ext.erase(key);
    else c.ext[key] = v;
  };
  f.lo = k.lo;
  f.hi = k.hi;
  if (!k.choices.empty()) f.choices = [c = k.choices] { return c; };
  f.since_v2 = true;  // at its default a plugin key leaves the run id alone
  return f;
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

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
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
  std::vector<std::string> seen;
  for (const auto& k : keys) {
    auto dot = k.key.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == k.key.size())
      throw InputError(fmt::format("plugin '{}' declares key '{}', which is not of the form "
                                   "section.name (e.g. masking.ratio)", owner, k.key));
    if (k.key == "seed" || std::find(seen.begin(), seen.end(), k.key) != seen.end())
      throw InputError(fmt::format("plugin '{}' declares key '{}' twice or over a built-in name",
                                   owner, k.key));
    // A new axis lives in its own section, so config.toml stays valid TOML.
    for (const auto& f : fields())
      if (f.key.compare(0, dot + 1, k.key, 0, dot + 1) == 0)
        throw InputError(fmt::format("plugin '{}' declares key '{}' in the built-in section "
                                     "[{}]; a plugin axis needs its own section (e.g. {}.{})",
                                     owner, k.key, k.key.substr(0, dot), owner,
                                     k.key.substr(dot + 1)));
    for (const auto& p : plugin_fields())
      if (p.field.key == k.key)
        throw InputError(fmt::format("plugin '{}' declares key '{}', already declared by plugin "
                                     "'{}'; load only one of them", owner, k.key, p.owner));
    if (!k.choices.empty() && !std::holds_alternative<std::string>(k.default_value))
      throw InputError(fmt::format("plugin '{}' key '{}': choices need a string default", owner, k.key));
    seen.push_back(k.key);
  }
  auto& v = plugin_fields();
  for (const auto& k : keys) v.push_back(PluginField{plugin_field(k), k, owner});
  std::sort(v.begin(), v.end(), [](const PluginField& a, const PluginField& b) {
    return a.field.key < b.field.key;
  });
}

std::vector<std::pair<KeySpec, std::string>> declared_keys() {
  std::vector<std::pair<KeySpec, std::string>> out;
  for (const auto& p : plugin_fields()) out.emplace_back(p.spec, p.owner);
  return out;
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

void apply_overrides(RunConfig& cfg, const Overrides& layer) {
  for (const auto& [key, s] : layer) {
    if (key == "seed") {
      if (!std::holds_alternative<int64_t>(s.value))
        throw config_error(s.origin, key, "expected an integer seed");
      cfg.seed = std::get<int64_t>(s.value);
      continue;
    }
    const Field* f = find_field(key);
    if (!f) {
      auto known = config_keys();
      known.push_back("model.backbone");
      std::string hint = closest(key, known);
      const std::string section = key.substr(0, key.find('.'));
      bool builtin_section = false;
      for (const auto& f : fields()) builtin_section |= f.key.rfind(section + ".", 0) == 0;
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
    bool ok = (f->kind == Kind::Bool && std::holds_alternative<bool>(v)) ||
              (f->kind == Kind::Int && std::holds_alternative<int64_t>(v)) ||
              (f->kind == Kind::Real && std::holds_alternative<double>(v)) ||
              (f->kind == Kind::Text && std::holds_alternative<std::string>(v));
    if (!ok)
      throw config_error(s.origin, key,
                         fmt::format("expected {}, got {}", kind_name(f->kind), value_str(v)));
    if (f->kind == Kind::Int || f->kind == Kind::Real) {
      double x = f->kind == Kind::Int ? double(std::get<int64_t>(v)) : std::get<double>(v);
      if (!(x >= f->lo && x <= f->hi))
        throw config_error(s.origin, key,
                           fmt::format("value {} is out of range [{:g}, {:g}]", value_str(v),
                                       f->lo, f->hi));
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

// The pre-training method's cross-field checks (methods/): what a baseline
// cannot take. `fail(key, what)` throws.
static void validate_method(const RunConfig& c, const std::function<void(const std::string&, const std::string&)>& fail) {
  if (c.method.name == "denoise") return;
  const std::string m = "method.name = \"" + c.method.name + "\"";
  if (c.objective.align_weight > 0)
    fail("objective.align_weight", "representation alignment belongs to the denoising method; " + m +
                                       " trains without it (set objective.align_weight = 0)");
  if (c.eval.fid_samples > 0)
    fail("eval.fid_samples", m + " does not generate: FID needs method.name = \"denoise\"");
  if (c.model.class_cond)
    fail("model.class_cond", m + " is label-free: set model.class_cond = false");
  if (c.probe.noisy)
    fail("probe.noisy", m + " trains on clean images and is read at t = 0: set probe.noisy = false");
  if (c.data.augment != "center")
    fail("data.augment", m + " draws its own views (methods/): keep data.augment = \"center\"");
  if (c.method.name == "moco_v3" && c.train.batch < 2)
    fail("train.batch", "MoCo v3 contrasts each image with the others of its batch (and its heads use "
                        "BatchNorm): it needs train.batch >= 2");
  if (c.method.name == "mae" && c.model.name == "unet")
    fail("model.backbone", "MAE's encoder drops the masked tokens, which a convolutional U-Net cannot: "
                           "use model.backbone = \"dit\" or \"uvit\"");
}

void validate(const RunConfig& c, const std::string& where) {
  auto fail = [&](const std::string& key, const std::string& what) {
    throw InputError(where + ": key '" + key + "': " + what);
  };
  const bool linear_tok = c.tokenizer.name == "pixel" || c.tokenizer.name == "patch_pca";
  const bool image_target =
      c.objective.target == "clean_image" || c.objective.target == "original_image";
  if ((image_target || c.objective.space == "image") && !linear_tok)
    fail(image_target ? "objective.target" : "objective.space",
         "image-space inputs and targets use the inverse of a linear tokenizer; "
         "tokenizer '" + c.tokenizer.name + "' has none. Use pixel or patch_pca.");
  const int C = dataset_channels(c.data.name), p = c.tokenizer.patch;
  if (c.tokenizer.name == "patch_pca" || c.tokenizer.name == "patch_ae" ||
      c.tokenizer.name == "patch_vae") {
    const int D = p * p * C;
    if (c.tokenizer.d > D)
      fail("tokenizer.d", fmt::format("d = {} exceeds the patch dimension D = {} "
                                      "(patch {} x {} x {} channels)",
                                      c.tokenizer.d, D, p, p, C));
  }
  if (c.tokenizer.name == "conv_vae") {
    const int f = c.tokenizer.downsample;
    if (f & (f - 1))
      fail("tokenizer.downsample", fmt::format("{} is not a power of two (1, 2, 4, 8, ...)", f));
    if (p % f != 0)
      fail("tokenizer.patch", fmt::format("a conv_vae token is {} pixels wide, which must be a "
                                          "multiple of tokenizer.downsample = {}",
                                          p, f));
    const int q = p / f;
    if (c.tokenizer.d % (q * q) != 0)
      fail("tokenizer.d", fmt::format("conv_vae tokens group {0} x {0} latent pixels of c "
                                      "channels, so d = {1} must be a multiple of {2}",
                                      q, c.tokenizer.d, q * q));
  }
  if (c.tokenizer.perceptual_weight > 0 || c.tokenizer.adv_weight > 0) {
    if (c.tokenizer.name != "conv_vae")
      fail(c.tokenizer.perceptual_weight > 0 ? "tokenizer.perceptual_weight" : "tokenizer.adv_weight",
           "perceptual and adversarial losses belong to conv_vae (the VQGAN-style tokenizer)");
  }
  if (c.eval.fid_samples == 1)
    fail("eval.fid_samples", "FID fits a Gaussian (mean and covariance) to the samples: it needs at "
                             "least 2; use eval.fid_samples >= 2 (0 turns generation off)");
  if (c.objective.target == "velocity") {
    // SiT: v = d gamma/ds z0 + d sigma/ds eps needs the schedule's derivatives
    // and the interpolant itself as input (z_s = gamma_s z0 + sigma_s eps).
    if (c.noise.schedule != "linear_interp" && c.noise.schedule != "gvp")
      fail("objective.target", "the velocity target needs an interpolant with known derivatives: "
                               "noise.schedule = \"linear_interp\" or \"gvp\", not \"" + c.noise.schedule + "\"");
    if (c.objective.space != "latent" || !c.objective.input_scaling)
      fail("objective.target", "the velocity target is defined for the latent interpolant: "
                               "objective.space = \"latent\" with objective.input_scaling = true");
  }
  if (c.eval.fid_samples > 0) {
    if (c.objective.space != "latent" || !c.objective.input_scaling ||
        (c.objective.target != "eps" && c.objective.target != "clean_latent" &&
         c.objective.target != "velocity"))
      fail("eval.fid_samples", "generation needs a latent-space model with input scaling that "
                               "predicts eps, clean_latent (Table 1 settings) or velocity (SiT)");
    if (c.objective.target != "velocity" && c.noise.schedule != "ddpm_linear" &&
        c.noise.schedule != "linear_gamma2" && c.noise.schedule != "cosine" &&
        c.noise.schedule != "edm_lognormal")
      fail("eval.fid_samples", "the samplers need a variance-preserving schedule (ddpm_linear, "
                               "linear_gamma2, cosine or edm_lognormal), not '" + c.noise.schedule + "'");
    if (c.eval.sample_steps > c.noise.T)
      fail("eval.sample_steps", fmt::format("{} steps exceed noise.T = {}", c.eval.sample_steps,
                                            c.noise.T));
  }
  if (c.data.name == "image_folder" && (c.data.resolution <= 0 || c.data.pad != 0))
    fail(c.data.resolution <= 0 ? "data.resolution" : "data.pad",
         "image_folder images are resized and centre-cropped to data.resolution (e.g. 256), "
         "which must be set, with data.pad = 0");
  const int side = dataset_image_side(c.data), stride = c.tokenizer.patch;
  if (side % stride != 0)
    fail("tokenizer.patch", fmt::format("images are {0} x {0} (data.pad = {1}, data.resolution = {2}) "
                                        "and do not split into {3} x {3} pixel tokens; change the "
                                        "patch, data.pad or data.resolution",
                                        side, c.data.pad, c.data.resolution, stride));
  if ((side / stride) % c.model.patch != 0)
    fail("model.patch", fmt::format("the {0} x {0} token grid does not split into {1} x {1} groups",
                                    side / stride, c.model.patch));
  // The backbone on this token grid: what it cannot take, its feature points.
  const BackboneOptions bo = backbone_options(c, side / stride, side / stride);
  if (auto e = backbone_check(c.model.name, bo); !e.empty())
    fail(e.find("cls_token") != std::string::npos ? "model.cls_token"
         : e.find("heads") != std::string::npos   ? "model.heads"
                                                  : "model.backbone",
         e);
  const int64_t points = backbone_blocks(c.model.name, bo);
  if (c.method.name == "mae") {  // MAE must mask at least one of the L backbone tokens and keep one
    const int64_t L = (side / stride / c.model.patch) * (side / stride / c.model.patch);
    const int64_t kept = std::llround((1.0 - c.mae.mask_ratio) * double(L));
    if (kept >= L || kept < 1)
      fail("mae.mask_ratio", fmt::format("{} of the {} tokens masks {} of them; MAE needs at least one masked and "
                                         "one visible token: use a ratio from {:.3g} to {:.3g}", c.mae.mask_ratio, L,
                                         L - kept, 1.0 / double(L), 1.0 - 1.0 / double(L)));
  }
  if (bo.split < 1 || bo.split > points)
    fail("model.split", fmt::format("split {} must lie in [1, {}] ({}, depth {})", bo.split, points,
                                    c.model.name, bo.depth));
  if (c.probe.block > points)
    fail("probe.block", fmt::format("block {} exceeds the {} feature points of {} (depth {}); "
                                    "run_sweep --list names them", c.probe.block, points,
                                    c.model.name, bo.depth));
  if (c.objective.align_weight > 0) {
    const int64_t ab = c.objective.align_block >= 0 ? c.objective.align_block : bo.split;
    if (ab < 1 || ab > points)
      fail("objective.align_block", fmt::format("block {} is not one of the feature points 1..{} of {} "
                                                "(-1 = the probe's default, {})", ab, points, c.model.name, bo.split));
    const std::string& target = c.objective.align_target;
    if (target == "ema" && c.train.ema <= 0)
      fail("objective.align_target", "\"ema\" aligns with the model's own EMA: set train.ema (e.g. 0.999) "
                                     "or align with \"classifier\" or a TorchScript .pt");
    if (target != "ema" && c.data.augment != "center")
      fail("objective.align_target", "a network target reads the un-augmented image: use data.augment = "
                                     "\"center\" or align with \"ema\"");
  }
  validate_method(c, fail);
  if (c.train.cuda_graph && !c.train.fused_adamw)
    fail("train.cuda_graph", "a replayed step updates the weights inside the graph, which needs the "
                             "capturable optimizer: set train.fused_adamw = true as well");
  if (c.probe.pool == "cls" && !c.model.cls_token)
    fail("probe.pool", "\"cls\" pools the class token: set model.cls_token = true (dit, uvit) "
                       "or keep probe.pool = \"mean\"");
  if (c.probe.t > c.noise.T)
    fail("probe.t", fmt::format("t = {} exceeds noise.T = {}", c.probe.t, c.noise.T));
  const int train_images = c.data.name == "synthetic" ? c.data.synthetic_train : c.data.subset;
  if (train_images > 0 && c.probe.knn_k > train_images)
    fail("probe.knn_k", fmt::format("k = {} neighbours exceeds the {} training images; lower it "
                                    "(0 turns the kNN probe off)", c.probe.knn_k, train_images));
  for (const auto& check : validators()) check(c, where);
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& f : fields()) keys.push_back(f.key);
  for (const auto& p : plugin_fields()) keys.push_back(p.field.key);
  keys.push_back("seed");
  return keys;
}

Value get(const RunConfig& cfg, const std::string& key) {
  if (key == "seed") return Value(int64_t(cfg.seed));
  const Field* f = find_field(key);
  if (!f) throw std::out_of_range("unknown config key " + key);
  return f->get(cfg);
}

std::string canonical(const RunConfig& cfg) {
  static const RunConfig defaults;
  std::string out;
  for (const auto& f : fields()) {
    if (!f.semantic) continue;
    const Value v = f.get(cfg);
    if (f.since_v2 && v == f.get(defaults)) continue;
    out += f.key + " = " + value_str(v) + "\n";
  }
  // Plugin keys away from their defaults, sorted by key. A key set in the
  // config but not declared (its plugin not loaded) still counts.
  for (const auto& [key, v] : cfg.ext) out += key + " = " + value_str(v) + "\n";
  return out;
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
  for (const auto& f : fields()) {
    auto dot = f.key.find('.');
    std::string sec = f.key.substr(0, dot);
    if (sec != section) out += "\n[" + sec + "]\n", section = sec;
    out += f.key.substr(dot + 1) + " = " + value_str(f.get(cfg)) + "\n";
  }
  for (const auto& p : plugin_fields()) {  // plugin axes, every key with its value
    auto dot = p.field.key.find('.');
    std::string sec = p.field.key.substr(0, dot);
    if (sec != section) out += "\n[" + sec + "]  # plugin " + p.owner + "\n", section = sec;
    out += p.field.key.substr(dot + 1) + " = " + value_str(p.field.get(cfg)) + "\n";
  }
  return out;
}

std::pair<std::string, Setting> parse_set(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set '" + arg + "': expected key=value, e.g. --set train.epochs=3");
  std::string key = arg.substr(0, eq), text = arg.substr(eq + 1);
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
