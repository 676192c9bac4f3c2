// validate() (declared in core/config/config.hpp): each component's own
// cross-field checks, in the order a run meets them (data, tokenizer,
// objective, backbone, alignment, method, trainer, probes), then the checks
// plugins added. The first failure throws InputError naming the sweep row
// and the key.
#include "backbones/backbone_keys.hpp"
#include "core/base/errors.hpp"
#include "core/data/data_keys.hpp"
#include "core/diffusion/diffusion_keys.hpp"
#include "core/train/train_keys.hpp"
#include "methods/method.hpp"
#include "probes/probe_keys.hpp"
#include "tokenizers/tokenizer_keys.hpp"

namespace ldae {

void validate(const RunConfig& c, const std::string& where, const Overrides* cli) {
  const Fail fail = [&](const std::string& key, const std::string& what) {
    const bool from_cli = cli && cli->count(key);
    throw InputError(where + ": key '" + key + "'" + (from_cli ? " (given by --set)" : "") + ": " + what);
  };
  check_data(c, fail);
  check_tokenizer(c, fail);
  check_objective(c, fail);
  check_model(c, fail);
  check_alignment(c, fail);
  check_method(c, fail);
  check_train(c, fail);
  check_probe(c, fail);
  run_added_validators(c, where);
}

}  // namespace ldae
