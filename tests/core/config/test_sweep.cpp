// Table-driven sweep expansion: modes, profiles, seeds, ids and errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/base/filesystem.hpp"
#include "core/config/preflight.hpp"
#include "core/config/sweep.hpp"
#include "methods/dino.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;

namespace {
const char* kSweep = R"(
[sweep]
name = "t"
mode = "cumulative"
seeds = [0, 1]
[base]
tokenizer.name = "patch_pca"
train.epochs = 2
[profile.tiny]
train.epochs = 1
seeds = [5]
[[row]]
label = "baseline"
paper.acc = 65.1
[[row]]
label = "clean"
objective.target = "clean_latent"
[[row]]
label = "anchor"
standalone = true
probe.features = "raw_pixels"
[[row]]
label = "no scaling"
objective.input_scaling = false
)";

std::string error_of(const std::string& text) {
  try {
    auto s = parse_sweep_text(text, "bad.toml");
    expand(s, "", {});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Sweep, CumulativeRowsCarryEarlierKeysButStandaloneOnesDoNot) {
  auto plan = expand(parse_sweep_text(kSweep, "t.toml"), "", {});
  ASSERT_EQ(plan.size(), 8u);  // 4 rows x 2 seeds
  EXPECT_EQ(plan[0].cfg.objective.target, "eps");
  EXPECT_EQ(plan[2].cfg.objective.target, "clean_latent");
  EXPECT_EQ(plan[4].cfg.probe.features, "raw_pixels");
  EXPECT_EQ(plan[4].cfg.objective.target, "eps");          // standalone: base only
  EXPECT_EQ(plan[6].cfg.objective.target, "clean_latent");  // chain skips the anchor
  EXPECT_EQ(plan[6].cfg.probe.features, "encoder");
  EXPECT_FALSE(plan[6].cfg.objective.input_scaling);
  EXPECT_DOUBLE_EQ(plan[0].paper.at("acc"), 65.1);
  // The row each one modifies (tables show the change against it): the
  // first modifies the base, the anchor nothing, the row after the anchor
  // the row before it.
  EXPECT_EQ(plan[0].parent, 0);
  EXPECT_EQ(plan[2].parent, 1);
  EXPECT_EQ(plan[4].parent, 0);
  EXPECT_EQ(plan[6].parent, 2);
}

TEST(Sweep, IndependentRowsModifyBaseOnly) {
  std::string text = kSweep;
  text.replace(text.find("cumulative"), 10, "independent");
  auto plan = expand(parse_sweep_text(text, "t.toml"), "", {});
  EXPECT_EQ(plan[6].cfg.objective.target, "eps");
  EXPECT_FALSE(plan[6].cfg.objective.input_scaling);
  for (const auto& p : plan) EXPECT_EQ(p.parent, 0);  // every row modifies the base
}

TEST(Sweep, ProfileAndCliLayersAndSeeds) {
  Overrides cli{{"train.batch", Setting{int64_t(64), Origin{"--set", 0}}}};
  auto plan = expand(parse_sweep_text(kSweep, "t.toml"), "tiny", cli);
  ASSERT_EQ(plan.size(), 4u);  // the profile's seeds = [5]
  EXPECT_EQ(plan[0].seed, 5);
  EXPECT_EQ(plan[0].cfg.train.epochs, 1);
  EXPECT_EQ(plan[0].cfg.train.batch, 64);
  EXPECT_THROW(expand(parse_sweep_text(kSweep, "t.toml"), "huge", {}), InputError);
}

TEST(Sweep, SameConfigSameIdAndLabelsDoNotChangeIds) {
  auto a = expand(parse_sweep_text(kSweep, "t.toml"), "", {});
  std::string relabelled = kSweep;
  relabelled.replace(relabelled.find("\"baseline\""), 10, "\"PCA base\"");
  relabelled.replace(relabelled.find("65.1"), 4, "99.9");
  auto b = expand(parse_sweep_text(relabelled, "t.toml"), "", {});
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].id, b[i].id);
  EXPECT_NE(a[0].id, a[1].id);  // seeds differ
  EXPECT_NE(a[0].id, a[2].id);  // targets differ
}

TEST(Sweep, GridIsTheProductOfAxes) {
  auto plan = expand(parse_sweep_text(R"(
[sweep]
name = "g"
mode = "grid"
[grid]
tokenizer.d = [4, 8, 16]
tokenizer.name = ["pixel", "patch_pca"]
)", "g.toml"), "", {});
  ASSERT_EQ(plan.size(), 6u);
  EXPECT_EQ(plan[5].cfg.tokenizer.d, 16);
  EXPECT_EQ(plan[5].cfg.tokenizer.name, "patch_pca");
  EXPECT_NE(plan[5].label.find("tokenizer.d=16"), std::string::npos);
}

TEST(Sweep, GridPaperListsProfileGridsAndRowProfileKeys) {
  const char* text = R"(
[sweep]
name = "t2"
mode = "grid"
[base]
tokenizer.patch = 4
[grid]
tokenizer.d = [2, 4, 8]
[profile.big]
train.epochs = 3
grid.tokenizer.d = [4, 8, 16]
[[row]]
label = "pca"
train.batch = 64
profile.big.train.batch = 32
paper.acc = [50.0, nan, 60.0]
paper.uncertain = true
)";
  auto s = parse_sweep_text(text, "t2.toml");
  auto plan = expand(s, "", {});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].cfg.tokenizer.d, 2);
  EXPECT_EQ(plan[0].cfg.train.batch, 64);
  EXPECT_DOUBLE_EQ(plan[0].paper.at("acc"), 50.0);
  EXPECT_EQ(plan[1].paper.count("acc"), 0u);  // nan = the paper has no number
  EXPECT_DOUBLE_EQ(plan[2].paper.at("acc"), 60.0);
  EXPECT_DOUBLE_EQ(plan[2].paper.at("uncertain"), 1.0);
  auto big = expand(s, "big", {});
  ASSERT_EQ(big.size(), 3u);
  EXPECT_EQ(big[2].cfg.tokenizer.d, 16);  // the profile's grid
  EXPECT_EQ(big[2].cfg.train.batch, 32);  // the row's key under that profile
  EXPECT_EQ(big[2].cfg.train.epochs, 3);
}

TEST(Sweep, MethodAndFineTuningKeysAtTheirDefaultsKeepOldRunIds) {
  // The method axis and the fine-tuning keys (issue 16) leave the identity
  // of every run recorded before them alone: denoise is the default and no
  // method.*, mae.*, moco.*, dino.* or eval.finetune_* line enters canonical().
  RunConfig a;
  for (const char* k : {"method.", "mae.", "moco.", "dino.", "finetune"})
    EXPECT_EQ(canonical(a).find(k), std::string::npos) << k;
  const std::string before = run_id(a);
  RunConfig b = a;
  b.method.name = "mae";
  EXPECT_NE(run_id(b), before);
  b = a;
  b.eval.finetune_epochs = 3;
  EXPECT_NE(run_id(b), before);
  b = a;
  b.sections.mut<DinoConfig>().out_dim = 1024;  // a baseline's key set on a denoise row is still part of its identity
  EXPECT_NE(run_id(b), before);
}

TEST(Sweep, NewKeysAtTheirDefaultsKeepOldRunIds) {
  // Keys added after the first results (eval.*, tokenizer.steps, ...) stay
  // out of the identity while at their defaults, and enter it when set.
  RunConfig a;
  const std::string before = run_id(a);
  EXPECT_EQ(canonical(a).find("eval."), std::string::npos);
  EXPECT_EQ(canonical(a).find("tokenizer.steps"), std::string::npos);
  a.eval.fid_samples = 100;
  EXPECT_NE(run_id(a), before);
  EXPECT_NE(canonical(a).find("eval.fid_samples = 100"), std::string::npos);
}

struct BadCase {
  const char* text;
  const char* expect;
};
class SweepErrors : public ::testing::TestWithParam<BadCase> {};

TEST(Sweep, AProfileExtendsAnotherWithItsSeedsGridAndRowKeys) {
  const char* text = R"(
[sweep]
name = "t3"
mode = "grid"
[base]
tokenizer.patch = 4
train.epochs = 9
[grid]
tokenizer.d = [2, 4]
[profile.paper]
train.epochs = 3
train.batch = 32
seeds = [7]
grid.tokenizer.d = [8]
[profile.paper_l]
extends = "paper"
train.batch = 16
[[row]]
label = "pca"
profile.paper.train.warmup_epochs = 2
profile.paper.train.base_lr = 0.5
profile.paper_l.train.base_lr = 0.25
paper.acc = 66.6
profile.paper_l.paper.acc = 75.0
)";
  auto s = parse_sweep_text(text, "t3.toml");
  EXPECT_EQ(profile_chain(s, "paper_l"), (std::vector<std::string>{"paper", "paper_l"}));
  auto plan = expand(s, "paper_l", {});
  ASSERT_EQ(plan.size(), 1u);  // paper's grid and seeds
  EXPECT_EQ(plan[0].seed, 7);
  EXPECT_EQ(plan[0].cfg.tokenizer.d, 8);
  EXPECT_EQ(plan[0].cfg.train.epochs, 3);         // from paper
  EXPECT_EQ(plan[0].cfg.train.batch, 16);         // its own beats paper's 32
  EXPECT_EQ(plan[0].cfg.train.warmup_epochs, 2);  // the row's profile.paper key
  EXPECT_DOUBLE_EQ(plan[0].cfg.train.base_lr, 0.25);
  EXPECT_DOUBLE_EQ(plan[0].paper.at("acc"), 75.0);  // the paper's number for that profile
  // paper itself is untouched by what extends it.
  auto base = expand(s, "paper", {});
  EXPECT_EQ(base[0].cfg.train.batch, 32);
  EXPECT_DOUBLE_EQ(base[0].cfg.train.base_lr, 0.5);
  EXPECT_DOUBLE_EQ(base[0].paper.at("acc"), 66.6);
}

// A cross-key error in a value given on the command line says so, rather
// than leaving the reader to look for it at the row's line in the file.
TEST(Sweep, AnErrorInASetValueSaysItCameFromTheCommandLine) {
  Overrides cli{{"train.grad_clip_mode", Setting{std::string("per_param"), Origin{"--set", 0}}}};
  try {
    expand(parse_sweep_text(kSweep, "t.toml"), "", cli);
    FAIL() << "per_param without grad_clip was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'train.grad_clip_mode' (given by --set): says how to clip"),
              std::string::npos) << e.what();
  }
}

TEST(Sweep, ExtendingAnUnknownProfileOrALoopIsAnError) {
  EXPECT_NE(error_of("[sweep]\nname = \"t\"\n[profile.a]\nextends = \"paperr\"\n[[row]]\nlabel = \"x\"\n")
                .find("bad.toml:4: key 'profile.a.extends': no profile 'paperr' in this file to extend (profiles: none)"),
            std::string::npos);
  const std::string loop =
      "[sweep]\nname = \"t\"\n[profile.a]\nextends = \"b\"\n[profile.b]\nextends = \"a\"\n[[row]]\nlabel = \"x\"\n";
  EXPECT_NE(error_of(loop).find("in a loop (a -> b -> a)"), std::string::npos) << error_of(loop);
  EXPECT_NE(error_of("[sweep]\nname = \"t\"\n[profile.a]\nextends = 3\n[[row]]\nlabel = \"x\"\n")
                .find("expected the name of another profile"),
            std::string::npos);
}

TEST(Sweep, PaperListLengthAndUnknownRowProfileAreErrors) {
  EXPECT_NE(error_of(R"(
[sweep]
name = "t"
mode = "grid"
[grid]
tokenizer.d = [2, 4]
[[row]]
label = "x"
paper.acc = [1.0, 2.0, 3.0]
)").find("paper.acc has 3 values for 2 grid points"), std::string::npos);
  EXPECT_NE(error_of(R"(
[sweep]
name = "t"
[[row]]
label = "x"
profile.tinyy.train.epochs = 1
)").find("profile.tinyy"), std::string::npos);
}
TEST_P(SweepErrors, NameFileLineAndKey) {
  auto e = error_of(GetParam().text);
  EXPECT_NE(e.find(GetParam().expect), std::string::npos) << e;
}
INSTANTIATE_TEST_SUITE_P(
    Cases, SweepErrors,
    ::testing::Values(
        BadCase{"[sweep]\nname = \"x\"\n[base]\ntrain.epoch = 3\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:4: key 'train.epoch': unknown key; did you mean 'train.epochs'"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ntrain.batch = \"big\"\n",
                "bad.toml:5: key 'train.batch': expected an integer"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ntrain.batch = = 3\n",
                "bad.toml:5:"},
        BadCase{"[sweep]\nname = \"x\"\n[bsae]\n", "bad.toml:3: key 'bsae'"},
        BadCase{"[sweep]\nname = \"x\"\nmode = \"cumulativ\"\n[[row]]\nlabel = \"a\"\n",
                "unknown mode"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\ntrain.epochs = 1\n", "needs a label"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ntokenizer.d = 99\n",
                "bad.toml:3: row 1 'a': key 'tokenizer.d'"},
        // Issue 14 item 11: seeds and grid values listed twice; a `seed` key
        // anywhere in the file (it would be overwritten by the seeds).
        BadCase{"[sweep]\nname = \"x\"\nseeds = [0,\n 0]\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:4: key 'sweep.seeds': seed 0 is listed twice"},
        BadCase{"[sweep]\nname = \"x\"\n[profile.tiny]\nseeds = [1, 2, 1]\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:4: key 'profile.tiny.seeds': seed 1 is listed twice"},
        BadCase{"[sweep]\nname = \"x\"\nmode = \"grid\"\n[grid]\ntokenizer.d = [2, 4,\n 2]\n",
                "bad.toml:6: key 'tokenizer.d': grid value 2 is listed twice (line 5 too)"},
        BadCase{"[sweep]\nname = \"x\"\n[base]\nseed = 5\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:4: key 'seed': seeds are set by `seeds = [0, 1, 2]`"},
        BadCase{"[sweep]\nname = \"x\"\n[profile.tiny]\nseed = 5\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:4: key 'seed'"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nseed = 5\n",
                "bad.toml:5: key 'seed'"},
        BadCase{"[sweep]\nname = \"x\"\n[profile.tiny]\n[[row]]\nlabel = \"a\"\nprofile.tiny.seed = 5\n",
                "bad.toml:6: key 'seed'"},
        BadCase{"[sweep]\nname = \"x\"\nmode = \"grid\"\n[grid]\nseed = [1, 2]\n",
                "bad.toml:5: key 'seed'"},
        BadCase{"[sweep]\nname = \"x\"\nmode = \"grid\"\n[grid]\ntokenizer.d = [2, 2]\n",
                "bad.toml:5: key 'tokenizer.d': grid value 2 is listed twice; each"},
        // Names become file names under the results root: nothing outside it.
        BadCase{"[sweep]\nname = \"../../evil\"\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:2: key 'sweep.name': \"../../evil\" names files under the results root"},
        BadCase{"[sweep]\nname = \"a/b\"\n[[row]]\nlabel = \"a\"\n", "bad.toml:2: key 'sweep.name'"},
        BadCase{"[sweep]\nname = \"x\"\n[profile.\"t/../y\"]\n[[row]]\nlabel = \"a\"\n",
                "bad.toml:3: key 'profile'"},
        // Backbones (issue 15 item 1): names, class tokens, feature points.
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"unett\"\n",
                "bad.toml:5: key 'model.backbone': unknown value \"unett\" (did you mean \"unet\"?)"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbon = \"unet\"\n",
                "did you mean 'model.backbone'"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nprobe.pool = \"cls\"\n",
                "row 1 'a': key 'probe.pool': \"cls\" reads the class token: set model.cls_token = true"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\neval.finetune_pool = \"cls\"\n",
                "row 1 'a': key 'eval.finetune_pool': \"cls\" fine-tunes on the class token: set model.cls_token = true"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\neval.finetune_pool = \"max\"\n",
                "bad.toml:5: key 'eval.finetune_pool': unknown value \"max\""},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"unet\"\nmodel.cls_token = true\n",
                "key 'model.cls_token': model.cls_token is for the transformer backbones"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"uvit\"\nprobe.block = 10\n",
                "key 'probe.block': block 10 is past the last feature point, 9, of uvit (depth 8; points 0..9)"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"unet\"\nprobe.block = 19\n",
                "block 19 is past the last feature point, 18, of unet"},
        // Representation alignment (issue 15 item 3).
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nobjective.align_weight = 0.5\n",
                "key 'objective.align_target': \"ema\" aligns with the model's own EMA: set train.ema"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nobjective.align_weight = 0.5\nobjective.align_target = \"classifier\"\nobjective.align_block = 9\n",
                "key 'objective.align_block': block 9 is not one of the feature points 1..8 of dit"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nobjective.align_weight = 0.5\nobjective.align_target = \"classifier\"\ndata.augment = \"rrc_flip\"\n",
                "a network target reads the un-augmented image"},
        // the method axis (issue 16)
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"simclr\"\n",
                "bad.toml:5: key 'method.name': unknown value \"simclr\""},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"mae\"\nmodel.backbone = \"unet\"\n",
                "row 1 'a': key 'model.backbone': MAE's encoder drops the masked tokens"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"dino\"\nprobe.noisy = true\n",
                "key 'probe.noisy': method.name = \"dino\" trains on clean images"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"moco_v3\"\nmodel.class_cond = true\n",
                "key 'model.class_cond': method.name = \"moco_v3\" is label-free"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"mae\"\nobjective.align_weight = 0.5\ntrain.ema = 0.9\n",
                "key 'objective.align_weight': representation alignment belongs to the denoising method"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nprobe.pool = \"cls_mean\"\n",
                "key 'probe.pool': \"cls_mean\" reads the class token: set model.cls_token = true"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"mae\"\nobjective.learn_sigma = true\n",
                "key 'objective.learn_sigma': the learned variance belongs to the denoising method"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nobjective.target = \"clean_latent\"\nobjective.learn_sigma = true\n",
                "key 'objective.learn_sigma': DiT's learned variance goes with its eps prediction: objective.target = \"clean_latent\" must be \"eps\" (or set objective.learn_sigma = false)"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nnoise.schedule = \"linear_sigma\"\nobjective.learn_sigma = true\n",
                "key 'objective.learn_sigma': noise.schedule 'linear_sigma' is not variance preserving (gamma_t^2 + sigma_t^2 = 3 at t = 1000, not 1)"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmae.mask_ratio = 1.5\n",
                "bad.toml:5: key 'mae.mask_ratio'"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"moco_v3\"\ntrain.batch = 1\n",
                "key 'train.batch': MoCo v3 contrasts each image with the others of its batch"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ncompare = 0\n",
                "bad.toml:5: key 'compare': 0 is not a [[row]] number (rows count from 1)"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ncompare = 4294967298\n",
                "bad.toml:5: key 'compare': 4294967298 is not a [[row]] number"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmethod.name = \"mae\"\nmae.mask_ratio = 0.0\n",
                "key 'mae.mask_ratio': 0 of the 64 tokens masks 0 of them; MAE needs at least one masked and one visible token"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ncompare = 1\n",
                "bad.toml:5: key 'compare': 1 is not another [[row]]"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\n[[row]]\nlabel = \"b\"\ncompare = 7\n",
                "bad.toml:7: key 'compare': 7 is not another [[row]] of this sweep"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ncompare = \"a\"\n",
                "bad.toml:5: key 'compare': expected the number of another [[row]]"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ntrain.grad_clip_mode = \"per_param\"\n",
                "key 'train.grad_clip_mode': says how to clip, but train.grad_clip = 0"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ntrain.grad_clip_mode = \"local\"\n",
                "bad.toml:5: key 'train.grad_clip_mode'"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.attn_resolutions = \"16\"\n",
                "key 'model.attn_resolutions': says where the U-Net attends; dit attends everywhere"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"unet\"\nmodel.attn_resolutions = \"16;8\"\n",
                "key 'model.attn_resolutions': \"16;8\" is not a list of feature-map sides"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"unet\"\nmodel.attn_resolutions = \"3\"\n",
                "key 'model.attn_resolutions': model.attn_resolutions names side 3"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\nmodel.backbone = \"unet\"\nmodel.attn_resolutions = \"4,8\"\n",
                "write \"4,8\" as \"8, 4\" (each side once, largest first"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\npaper.accc = 5.0\n",
                "bad.toml:5: key 'paper.accc': unknown paper number"},
        BadCase{"[sweep]\nname = \"x\"\n[profile.p]\n[[row]]\nlabel = \"a\"\nprofile.p.paper.acc = \"high\"\n",
                "bad.toml:6: key 'profile.p.paper.acc': expected a number"},
        BadCase{"[sweep]\nname = \"x\"\n[[row]]\nlabel = \"a\"\ntokenizer.name = 3.5\n",
                "key 'tokenizer.name': expected a string, got 3.5; quote it: tokenizer.name = \"...\""},
        BadCase{"[sweep]\nname = \"x\"\n[profile.a]\nextends = \"a\"\n[[row]]\nlabel = \"x\"\n",
                "bad.toml:4: key 'profile.a.extends': a profile cannot extend itself"}));

// A network file a run would read is checked before any run, naming the
// key and how to make one; "classifier", "ema" and unused keys pass.
TEST(Preflight, MissingNetworkFilesAreNamedBeforeAnyRun) {
  RunConfig c;
  EXPECT_NO_THROW(check_network_files(c, "f.toml: row 1 'a'"));
  c.objective.align_weight = 0.5;
  EXPECT_NO_THROW(check_network_files(c, "w"));  // ema
  c.objective.align_target = "nets/dino.pt";
  try {
    check_network_files(c, "f.toml: row 1 'a'");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("f.toml: row 1 'a': key 'objective.align_target': \"nets/dino.pt\" is not there"),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tools/target_net.py random_cnn nets/dino.pt"), std::string::npos);
  }
  c.objective.align_weight = 0;
  c.eval.fid_samples = 10;
  c.eval.fid_net = "nets/inception.pt";
  EXPECT_THROW(check_network_files(c, "w"), InputError);
  c.eval.fid_net = "classifier";
  c.tokenizer.perceptual_weight = 1;
  c.tokenizer.perceptual_net = "nets/vgg.pt";
  EXPECT_THROW(check_network_files(c, "w"), InputError);
}

// model.backbone is model.name by another spelling: the same field, the same
// run id; a run id of the default backbone does not change with new keys.
TEST(Sweep, BackboneKeyIsModelName) {
  RunConfig a, b;
  apply_overrides(a, Overrides{{"model.backbone", Setting{std::string("uvit"), Origin{"x", 1}}}});
  apply_overrides(b, Overrides{{"model.name", Setting{std::string("uvit"), Origin{"x", 1}}}});
  EXPECT_EQ(a.model.name, "uvit");
  EXPECT_EQ(run_id(a), run_id(b));
  RunConfig d;
  EXPECT_EQ(canonical(d).find("cls_token"), std::string::npos);
  EXPECT_EQ(canonical(d).find("probe.pool"), std::string::npos);
  d.model.cls_token = true;
  EXPECT_NE(canonical(d).find("model.cls_token = true"), std::string::npos);
}

// --set seed=N runs every row with that seed alone; not an integer: error.
TEST(Sweep, SetSeedReplacesTheSweepSeeds) {
  auto s = parse_sweep_text(kSweep, "s.toml");
  Overrides cli;
  cli.insert(parse_set("seed=5"));
  auto plan = expand(s, "", cli);
  ASSERT_EQ(plan.size(), 4u);  // 4 rows x 1 seed (the file lists [0, 1])
  for (const auto& p : plan) EXPECT_EQ(p.seed, 5);
  EXPECT_EQ(plan[0].cfg.seed, 5);
  EXPECT_NE(plan[0].id, expand(s, "", {})[0].id);
  Overrides bad;
  bad.insert(parse_set("seed=five"));
  EXPECT_THROW(expand(s, "", bad), InputError);
}

// Issue 14 item 14: a bare name is looked up on LDAE_SWEEP_PATH, then in
// the installed and source experiments/; ".toml" may be left off; a miss
// names every folder searched.
TEST(Sweep, BareNamesAreFoundOnTheSearchPath) {
  namespace fs = std::filesystem;
  const auto dir = fs::path(test::temp_dir("sweep-path"));
  fs::create_directories(dir);
  std::ofstream(dir / "mine.toml") << kSweep;
  ::setenv("LDAE_SWEEP_PATH", ("/nonexistent:" + dir.string()).c_str(), 1);
  EXPECT_EQ(find_sweep_file("mine.toml"), (dir / "mine.toml").string());
  EXPECT_EQ(find_sweep_file("mine"), (dir / "mine.toml").string());
  EXPECT_EQ(sweep_search_path().at(0), "/nonexistent");
  // The project's own sweeps without any path.
  EXPECT_EQ(find_sweep_file("ablation_table1.toml"), std::string(LDAE_SOURCE_DIR) + "/experiments/ablation_table1.toml");
  EXPECT_EQ(parse_sweep(find_sweep_file("quickstart")).name, "quickstart");
  try {
    find_sweep_file("no_such_sweep.toml");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/experiments"), std::string::npos) << e.what();
  }
  EXPECT_THROW(find_sweep_file("sub/no_such_sweep.toml"), InputError);
  ::unsetenv("LDAE_SWEEP_PATH");
  remove_tree(dir);
}

TEST(Sweep, OneKeyInTwoSpellingsIsAnErrorNamingBothLines) {
  // TOML keeps a quoted "train.epochs" apart from the dotted train.epochs;
  // both set one config key, so one table holding both sets it twice.
  const std::string text =
      "[sweep]\nname = \"twice\"\n[base]\ntrain.epochs = 2\n\"train.epochs\" = 7\n[[row]]\nlabel = \"a\"\n";
  try {
    parse_sweep_text(text, "twice.toml");
    FAIL() << "the second spelling was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("twice.toml:"), std::string::npos) << what;
    EXPECT_NE(what.find("train.epochs"), std::string::npos) << what;
    EXPECT_NE(what.find("also at line"), std::string::npos) << what;
  }
}

TEST(Preflight, FineTuningWhoseWarmUpCoversItAllIsWarnedBeforeAnythingRuns) {
  // eval.finetune_epochs = 1 with the default warm-up of 1 epoch: the lr
  // never leaves the warm-up (fine-tuning read 14-17% beside a 60-65% probe).
  RunConfig c;
  c.train.epochs = 100;
  c.eval.finetune_epochs = 1;
  auto w = check_against_data(c, DataSize{10000, 1000}, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("fine-tuning's warm-up (eval.finetune_warmup_epochs = 1 = 78 steps) covers all of its 78"),
            std::string::npos) << w[0];
  c.eval.finetune_epochs = 3;  // 234 steps, 78 of them warm-up: fine
  EXPECT_TRUE(check_against_data(c, DataSize{10000, 1000}, "s.toml: row 1 'a'").empty());
  c.eval.finetune_epochs = 1.5, c.eval.finetune_warmup_epochs = 0.1;  // 117 steps: too few
  w = check_against_data(c, DataSize{10000, 1000}, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("fine-tuning is only 117 optimizer steps"), std::string::npos) << w[0];
}

// The same kind in the other training loops: the linear probe, a learned
// tokenizer's fitting and the harness's classifier, each warned in the plan.
TEST(Preflight, EveryTrainingLoopTooShortToLearnIsWarned) {
  RunConfig c;
  c.train.epochs = 100;
  const DataSize n{10000, 1000};
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());  // the defaults: fine
  c.probe.epochs = 2;  // 2 x 39 = 78 steps
  auto w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("the linear probe is only 78 optimizer steps (probe.epochs = 2"), std::string::npos) << w[0];
  c.probe.epochs = 30;
  c.tokenizer.name = "patch_vae", c.tokenizer.steps = 50;
  w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("the patch_vae tokenizer is fitted in only 50 steps"), std::string::npos) << w[0];
  c.tokenizer.name = "patch_pca";
  c.eval.fid_samples = 500, c.eval.classifier_epochs = 1;  // 78 steps of 128 images
  w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("the harness's classifier (its features for FID, a perceptual loss or REPA's target) trains "
                      "only 78 steps"), std::string::npos) << w[0];
  c.eval.fid_net = "net.pt";  // a network of the user's: no classifier trains
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());
  // A raw-pixel row fits no tokenizer and trains no classifier: neither is
  // warned however short (its linear probe still is).
  c.probe.features = "raw_pixels";
  c.eval.fid_net = "classifier", c.tokenizer.name = "patch_vae";
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());
  c.probe.epochs = 2;
  w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("the linear probe is only 78 optimizer steps"), std::string::npos) << w[0];
}

TEST(Preflight, FusedKernelsOnABackboneWithoutThemIsWarned) {
  // train.fused_kernels enters the id but only the DiT has fused kernels.
  RunConfig c;
  c.train.epochs = 100;
  c.train.fused_kernels = true;
  const DataSize n{10000, 1000};
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());  // dit: it takes effect
  c.model.name = "uvit";
  auto w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("s.toml: row 1 'a': train.fused_kernels = true has fused kernels for the dit backbone only; "
                      "uvit runs LibTorch's ops"), std::string::npos) << w[0];
  c.train.fused_kernels = false;
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());
}

TEST(Preflight, ALearnedVarianceThatDdimSamplingIgnoresIsWarned) {
  RunConfig c;
  c.train.epochs = 100;
  c.objective.learn_sigma = true;
  c.eval.fid_samples = 100, c.eval.sampler = "ddpm";
  const DataSize n{10000, 1000};
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());
  c.eval.sampler = "ddim";
  auto w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("s.toml: row 1 'a': objective.learn_sigma = true learns a variance that eval.sampler = \"ddim\" "
                      "does not use"), std::string::npos) << w[0];
  c.eval.fid_samples = 0;  // no generation: the VLB still trains, nothing to warn
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());
}

TEST(Preflight, APoolOnRawPixelsIsWarned) {
  RunConfig c;
  c.probe.features = "raw_pixels";
  c.model.cls_token = true, c.probe.pool = "cls_mean";
  const DataSize n{10000, 1000};
  auto w = check_against_data(c, n, "s.toml: row 1 'a'");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("probe.pool = \"cls_mean\" has no effect on raw pixels"), std::string::npos) << w[0];
  c.probe.pool = "mean";
  EXPECT_TRUE(check_against_data(c, n, "s.toml: row 1 'a'").empty());
}
