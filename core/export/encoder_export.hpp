// The probed encoder of a run, out to the Python world: RUN/encoder.safetensors
// (the backbone's tensors up to the probe's feature point, with what the
// tokenizer needs to map images to tokens) and RUN/encoder.json (what to
// build around them: backbone and sizes, block, t, pooling, class token,
// input resolution, channels and normalisation, tokenizer, run id and
// config). python/ldae/ (ldae.load_encoder, ldae.to_timm) reads them;
// docs/python.md gives the layout.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>

#include "backbones/backbone.hpp"
#include "core/config/config.hpp"
#include "tokenizers/tokenizer.hpp"

namespace ldae {

// What the probe read: the network, where and how.
struct ProbedEncoder {
  Backbone model{nullptr};      // eval mode, trained (EMA / teacher) weights
  BackboneOptions options;      // what it was built from
  int64_t block = 0;            // feature point the probe reads (0..blocks())
  int64_t t = 0;                // the time it is read at
  double gamma = 1, sigma = 0;  // input scale, and noise scale when probe.noisy
  torch::Tensor V;              // image-space objectives: tokens -> input (d, D), else undefined
};

// The parameter and buffer names of `model` that features(., ., block)
// reads: found by one backward pass of a random input (1, L, in_dim) at t
// (every parameter briefly requiring gradients, restored after), so it holds
// for any backbone, plugins' included.
std::vector<std::string> parameters_read(Backbone& model, int64_t block, int64_t tokens, int64_t in_dim, int64_t t);

// Writes DIR/encoder.safetensors and DIR/encoder.json (atomically) and
// returns what run.json records under "encoder": {"weights", "spec",
// "parameters", "bytes"}. Tensor names: "backbone.<its name>",
// "tokenizer.<export_tensors() name>", "input.V". Returns null JSON (and
// writes nothing) when the backbone or tokenizer is a plugin's that the
// Python package cannot rebuild; *why says so. InputError on a full disk.
nlohmann::json export_encoder(const std::string& dir, const RunConfig& cfg, const std::string& run_id,
                              const Tokenizer& tok, ProbedEncoder& enc, std::string* why);

}  // namespace ldae
