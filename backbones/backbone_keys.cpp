#include "backbones/backbone_keys.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <functional>

#include "backbones/backbone.hpp"
#include "core/data/data.hpp"

namespace ldae {

KeyRows model_keys() {
  return {
      choice(field("model.name", &RunConfig::model, &ModelConfig::name), backbone_names),
      choice(field("model.preset", &RunConfig::model, &ModelConfig::preset), fixed({"tiny", "S", "B", "L", "XL"})),
      field("model.patch", &RunConfig::model, &ModelConfig::patch, 1, 64),
      field("model.depth", &RunConfig::model, &ModelConfig::depth, 0, 1000),
      field("model.width", &RunConfig::model, &ModelConfig::width, 0, 1e5),
      field("model.heads", &RunConfig::model, &ModelConfig::heads, 0, 1000),
      field("model.split", &RunConfig::model, &ModelConfig::split, -1, 1000),
      field("model.t_mlp_ratio", &RunConfig::model, &ModelConfig::t_mlp_ratio, 1e-3, 64),
      field("model.mlp_ratio", &RunConfig::model, &ModelConfig::mlp_ratio, 0.1, 64),
      field("model.class_cond", &RunConfig::model, &ModelConfig::class_cond),
      below(field("model.class_dropout", &RunConfig::model, &ModelConfig::class_dropout, 0, 1), "drops every label, so the model is not class-conditional (use model.class_cond = false)"),
      field("model.cls_token", &RunConfig::model, &ModelConfig::cls_token),
      field("model.time_mlp", &RunConfig::model, &ModelConfig::time_mlp),
      field("model.qkv_bias", &RunConfig::model, &ModelConfig::qkv_bias),
      field("model.conv_out", &RunConfig::model, &ModelConfig::conv_out),
      field("model.attn_resolutions", &RunConfig::model, &ModelConfig::attn_resolutions),
  };
}

void check_model(const RunConfig& c, const Fail& fail) {
  const int side = dataset_image_side(c.data), stride = c.tokenizer.patch;
  if (side % stride != 0)
    fail("tokenizer.patch", fmt::format("images are {0} x {0} (data.pad = {1}, data.resolution = {2}) "
                                        "and do not split into {3} x {3} pixel tokens; change the "
                                        "patch, data.pad or data.resolution",
                                        side, c.data.pad, c.data.resolution, stride));
  if ((side / stride) % c.model.patch != 0)
    fail("model.patch", fmt::format("the {0} x {0} token grid does not split into {1} x {1} groups",
                                    side / stride, c.model.patch));
  if (!c.model.attn_resolutions.empty()) {
    if (c.model.name != "unet")
      return fail("model.attn_resolutions", fmt::format("says where the U-Net attends; {} attends everywhere (use "
                                                        "it with model.backbone = \"unet\")", c.model.name));
    std::vector<int64_t> sides;
    try {
      sides = parse_attn_resolutions(c.model.attn_resolutions);
    } catch (const InputError& e) {
      return fail("model.attn_resolutions", std::string(e.what()).substr(std::string(e.what()).find(": ") + 2));
    }
    // One spelling per setting, so one setting has one run id.
    std::sort(sides.begin(), sides.end(), std::greater<>());
    sides.erase(std::unique(sides.begin(), sides.end()), sides.end());
    std::string canonical;
    for (int64_t s : sides) canonical += (canonical.empty() ? "" : ", ") + std::to_string(s);
    if (canonical != c.model.attn_resolutions)
      return fail("model.attn_resolutions", fmt::format("write \"{}\" as \"{}\" (each side once, largest first, "
                                                        "\", \" between): one spelling per setting keeps one run id",
                                                        c.model.attn_resolutions, canonical));
  }
  // The backbone on this token grid: what it cannot take, its feature points.
  const BackboneOptions bo = backbone_options(c);
  if (auto e = backbone_check(c.model.name, bo); !e.empty())
    fail(e.find("cls_token") != std::string::npos          ? "model.cls_token"
         : e.find("attn_resolutions") != std::string::npos ? "model.attn_resolutions"
         : e.find("heads") != std::string::npos            ? "model.heads"
                                                           : "model.backbone",
         e);
  if (c.model.name != "uvit" && (!c.model.time_mlp || !c.model.qkv_bias || c.model.conv_out))
    fail(!c.model.time_mlp ? "model.time_mlp" : !c.model.qkv_bias ? "model.qkv_bias" : "model.conv_out",
         fmt::format("U-ViT's official options are for model.backbone = \"uvit\"; {} keeps its own (leave "
                     "model.time_mlp, model.qkv_bias and model.conv_out at their defaults)", c.model.name));
  const int64_t points = backbone_blocks(c.model.name, bo);
  if (bo.split < 1 || bo.split > points)
    fail("model.split",
         c.model.split < 0  // not set: the backbone's default block for this depth
             ? fmt::format("{} at model.depth = {} has no block to split at by default (its default gives {}, "
                           "outside [1, {}]); set {}, or a larger model.depth",
                           c.model.name, bo.depth, bo.split, points,
                           points == 1 ? std::string("model.split = 1")
                                       : fmt::format("model.split between 1 and {}", points))
             : fmt::format("split {} must lie in [1, {}] ({}, depth {})", bo.split, points, c.model.name, bo.depth));
}

}  // namespace ldae
