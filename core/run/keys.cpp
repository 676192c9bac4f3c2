// Every built-in component's key rows, in the order --list, config.toml and
// errors show them (not the order of run ids: core/config/key_order.cpp).
// Each component owns its rows, beside its code; a new component adds one
// line here, or none when its rows come through its registry (methods).
#include "backbones/backbone_keys.hpp"
#include "core/config/keys.hpp"
#include "core/data/data_keys.hpp"
#include "core/diffusion/diffusion_keys.hpp"
#include "core/train/train_keys.hpp"
#include "methods/method.hpp"
#include "probes/probe_keys.hpp"
#include "tokenizers/tokenizer_keys.hpp"

namespace ldae {

const KeyRows& builtin_keys() {
  static const KeyRows rows = [] {
    KeyRows all;
    for (KeyRows part : {data_keys(), tokenizer_keys(), noise_keys(), objective_keys(), model_keys(),
                         train_keys(), probe_keys(), eval_keys(), method_keys()})
      for (auto& r : part) all.push_back(std::move(r));
    return all;
  }();
  return rows;
}

}  // namespace ldae
