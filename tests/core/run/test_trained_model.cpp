// Where a run's trained model is kept (core/run/pretrain.cpp,
// trained_model_path): rows that train the same model share its file.
#include <gtest/gtest.h>

#include "backbones/backbone.hpp"
#include "core/config/config.hpp"
#include "core/run/run_stages.hpp"

using namespace ldae;

namespace {
int64_t split_default(const RunConfig& c) { return backbone_options(c).split; }
}  // namespace

TEST(TrainedModel, ABaselineMethodAtTheSplitWrittenOutSharesTheDefaultsModel) {
  // MAE's encoder ends at probe.block; -1 resolves to the backbone's split,
  // so probe.block = split trains the same model (it trained twice before).
  RunConfig c;
  c.method.name = "mae";
  const int64_t split = backbone_options(c).split;
  RunConfig at_split = c, elsewhere = c;
  at_split.probe.block = int(split);
  elsewhere.probe.block = int(split) + 1;
  EXPECT_EQ(trained_model_path(c, "r"), trained_model_path(at_split, "r"));
  EXPECT_NE(trained_model_path(c, "r"), trained_model_path(elsewhere, "r"));
  EXPECT_NE(canonical(c), canonical(at_split));  // still two runs: the key as written stays in the id
  // The same block through model.split, alone or with probe.block.
  RunConfig by_split = c, both = c;
  by_split.model.split = int(split_default(c));
  both.model.split = int(split) + 1, both.probe.block = int(split);
  EXPECT_EQ(trained_model_path(c, "r"), trained_model_path(by_split, "r"));
  EXPECT_EQ(trained_model_path(c, "r"), trained_model_path(both, "r"));
  RunConfig deeper = c;  // Table 4's baselines: the split moved to the last block trains another encoder
  deeper.model.split = int(split) + 1;
  EXPECT_NE(trained_model_path(c, "r"), trained_model_path(deeper, "r"));
  // The denoising method reads no probe key while training: one model for every block.
  c.method.name = at_split.method.name = elsewhere.method.name = "denoise";
  EXPECT_EQ(trained_model_path(c, "r"), trained_model_path(elsewhere, "r"));
}
