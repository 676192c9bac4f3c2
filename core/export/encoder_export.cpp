#include "core/export/encoder_export.hpp"

#include <fmt/core.h>

#include <filesystem>
#include <set>

#include "core/base/atomic_file.hpp"
#include "core/export/safetensors.hpp"

namespace ldae {
namespace {

// Backbones and tokenizers python/ldae/ rebuilds.
const std::set<std::string> kPythonBackbones = {"dit", "uvit", "unet"};
const std::set<std::string> kPythonTokenizers = {"pixel", "patch_pca", "patch_ae", "patch_vae", "conv_vae"};

nlohmann::json options_json(const BackboneOptions& o) {
  return {{"in_dim", o.in_dim},         {"out_dim", o.out_dim},         {"grid_h", o.grid_h},
          {"grid_w", o.grid_w},         {"patch", o.patch},             {"depth", o.depth},
          {"width", o.width},           {"heads", o.heads},             {"mlp_ratio", o.mlp_ratio},
          {"t_mlp_ratio", o.t_mlp_ratio}, {"t_freq_dim", o.t_freq_dim}, {"num_classes", o.num_classes},
          {"cls_token", o.cls_token},   {"time_mlp", o.time_mlp},       {"qkv_bias", o.qkv_bias},
          {"attn_sides", o.attn_sides}};
}

nlohmann::json spec_json(const RunConfig& cfg, const std::string& run_id, const Tokenizer& tok,
                         const ProbedEncoder& enc) {
  const auto [C, H, W] = tok.image_shape();
  return {
      {"format", "ldae-encoder"},
      {"format_version", 1},
      {"run_id", run_id},
      {"backbone", cfg.model.name},
      {"options", options_json(enc.options)},
      {"block", enc.block},
      {"block_name", enc.model->block_name(enc.block)},
      {"feature_width", enc.model->feature_width(enc.block)},
      {"t", enc.t},
      {"gamma", enc.gamma},
      {"sigma", enc.sigma},
      {"noisy", cfg.probe.noisy},
      {"pool", cfg.probe.pool},
      {"cls_token", enc.model->has_cls_token()},
      {"image_space", enc.V.defined()},
      {"input",
       {{"channels", C},
        {"height", H},
        {"width", W},
        {"normalize", cfg.data.normalize},
        {"range", cfg.data.normalize ? "uint8 / 255 * 2 - 1 in [-1, 1]" : "uint8 / 255 in [0, 1]"}}},
      {"tokenizer",
       {{"name", tok.name()},
        {"patch", tok.patch()},
        {"d", tok.d()},
        {"scale", tok.scale()},
        {"downsample", cfg.tokenizer.downsample},
        {"width", cfg.tokenizer.width}}},
      {"weights", "encoder.safetensors"},
      {"config_toml", to_toml(cfg)},
  };
}

}  // namespace

std::vector<std::string> parameters_read(Backbone& model, int64_t block, int64_t tokens, int64_t in_dim, int64_t t) {
  torch::AutoGradMode grad(true);
  auto params = model->named_parameters();
  std::vector<bool> required;
  for (auto& p : params) {
    required.push_back(p.value().requires_grad());
    p.value().set_requires_grad(true);
    p.value().mutable_grad() = torch::Tensor();
  }
  const auto opts = params.is_empty() ? torch::TensorOptions() : torch::TensorOptions().device(params[0].value().device());
  auto gen = at::detail::createCPUGenerator(0);
  auto x = torch::randn({1, tokens, in_dim}, gen).to(opts.device());
  model->features(x, torch::full({1}, double(t), opts), block).sum().backward();
  std::vector<std::string> out;
  size_t i = 0;
  for (auto& p : params) {
    if (p.value().grad().defined()) out.push_back(p.key());
    p.value().mutable_grad() = torch::Tensor();
    p.value().set_requires_grad(required[i++]);
  }
  for (const auto& b : model->named_buffers()) out.push_back(b.key());
  return out;
}

nlohmann::json export_encoder(const std::string& dir, const RunConfig& cfg, const std::string& run_id,
                              const Tokenizer& tok, ProbedEncoder& enc, std::string* why) {
  const auto tok_tensors = tok.export_tensors();
  if (!kPythonBackbones.count(cfg.model.name) || !kPythonTokenizers.count(tok.name()) || tok_tensors.empty()) {
    if (why)
      *why = fmt::format("encoder not exported: backbone '{}' with tokenizer '{}' (python/ldae rebuilds dit, uvit "
                         "and unet with the built-in tokenizers)", cfg.model.name, tok.name());
    return nlohmann::json();
  }
  const auto& o = enc.options;
  const auto names = parameters_read(enc.model, enc.block, o.grid_h * o.grid_w, o.in_dim, enc.t);
  std::map<std::string, torch::Tensor> all;
  for (const auto& p : enc.model->named_parameters()) all[p.key()] = p.value();
  for (const auto& b : enc.model->named_buffers()) all[b.key()] = b.value();
  NamedTensors tensors;
  int64_t count = 0;
  for (const auto& n : names) {
    tensors.emplace_back("backbone." + n, all.at(n).to(torch::kFloat32));
    count += all.at(n).numel();
  }
  for (const auto& [n, t] : tok_tensors) tensors.emplace_back("tokenizer." + n, t.to(torch::kFloat32));
  if (enc.V.defined()) tensors.emplace_back("input.V", enc.V.to(torch::kFloat32));
  auto spec = spec_json(cfg, run_id, tok, enc);
  // The weights first, then the description naming their size: a reader
  // (python/ldae) that finds the two from different exports says so.
  write_safetensors(dir + "/encoder.safetensors", tensors,
                    {{"format", "ldae-encoder"}, {"run_id", run_id}, {"spec", "encoder.json"}});
  spec["weights_bytes"] = std::filesystem::file_size(dir + "/encoder.safetensors");
  write_text_atomically(dir + "/encoder.json", spec.dump(2) + "\n");
  return {{"weights", "encoder.safetensors"},
          {"spec", "encoder.json"},
          {"parameters", count},
          {"bytes", std::filesystem::file_size(dir + "/encoder.safetensors")}};
}

}  // namespace ldae
