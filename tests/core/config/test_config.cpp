#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "core/config/config.hpp"
#include "core/base/utf8.hpp"
#include "core/config/keys.hpp"
#include "methods/mae.hpp"
#include "core/run/run.hpp"  // tokenizer_path
#include "core/run/run_stages.hpp"  // data_cache_text, section_text

using namespace ldae;

namespace {
Overrides one(const std::string& key, Value v, int line = 7) {
  return {{key, Setting{v, Origin{"exp.toml", line}}}};
}
std::string error_of(const Overrides& o) {
  RunConfig c;
  try {
    apply_overrides(c, o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, AppliesTypedValues) {
  RunConfig c;
  apply_overrides(c, one("train.epochs", int64_t(3)));
  apply_overrides(c, one("train.base_lr", int64_t(1)));  // an integer is a fine number
  apply_overrides(c, one("tokenizer.name", std::string("pixel")));
  EXPECT_EQ(c.train.epochs, 3);
  EXPECT_DOUBLE_EQ(c.train.base_lr, 1.0);
  EXPECT_EQ(c.tokenizer.name, "pixel");
}

TEST(Config, UnknownKeySuggestsTheClosest) {
  auto e = error_of(one("train.epoch", int64_t(3), 12));
  EXPECT_NE(e.find("exp.toml:12"), std::string::npos) << e;
  EXPECT_NE(e.find("train.epoch'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'train.epochs'"), std::string::npos) << e;
}

TEST(Config, SuggestionsCountASwapOfNeighboursAsOneEdit) {
  EXPECT_EQ(closest("patch_pac", {"patch_ae", "patch_pca", "pixel"}), "patch_pca");
  EXPECT_EQ(closest("lable", {"data.name", "label"}), "label");
  // A [[row]]'s own field misspelt is suggested as that field.
  auto e = error_of(one("lable", std::string("l-DAE")));
  EXPECT_NE(e.find("did you mean 'label'"), std::string::npos) << e;
}

TEST(Config, ANegativeSeedIsRefused) {
  auto e = error_of(one("seed", int64_t(-1), 7));
  EXPECT_NE(e.find("seeds are 0 or more"), std::string::npos) << e;
}

TEST(Config, WrongTypeNamesFileLineAndKey) {
  auto e = error_of(one("train.epochs", std::string("five"), 4));
  EXPECT_NE(e.find("exp.toml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("train.epochs"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;
}

TEST(Config, AQuotedBooleanOrNumberIsNamedAsAString) {
  // "true" in quotes reads as the right value; the message says it is a string.
  auto e = error_of(one("train.fused_kernels", std::string("true")));
  EXPECT_NE(e.find("got \"true\"; a string: write it without quotes"), std::string::npos) << e;
  e = error_of(one("train.epochs", std::string("3")));
  EXPECT_NE(e.find("a string: write it without quotes"), std::string::npos) << e;
  e = error_of(one("train.fused_kernels", std::string("maybe")));  // a bare word: no quoting slip
  EXPECT_EQ(e.find("without quotes"), std::string::npos) << e;
}

TEST(Config, UnknownChoiceListsKnownNames) {
  auto e = error_of(one("tokenizer.name", std::string("patch_pcaa")));
  EXPECT_NE(e.find("did you mean \"patch_pca\""), std::string::npos) << e;
  EXPECT_NE(e.find("pixel"), std::string::npos) << e;
}

TEST(Config, OutOfRange) {
  auto e = error_of(one("train.batch", int64_t(0)));
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  // A real is shown as typed (its shortest form), not as the 17 digits ids hash.
  e = error_of(one("moco.hue", 0.7));
  EXPECT_NE(e.find("value 0.7 is out of range"), std::string::npos) << e;
}

TEST(Config, RunIdIgnoresThreadsButNotSemantics) {
  RunConfig a, b;
  b.train.threads = 7;
  b.train.log_every = 3;
  EXPECT_EQ(run_id(a), run_id(b));
  b.objective.target = "original_image";
  EXPECT_NE(run_id(a), run_id(b));
  RunConfig s = a;
  s.seed = 1;
  EXPECT_NE(run_id(a), run_id(s));
}

TEST(Config, ParseSetUsesTomlSyntax) {
  auto [k, s] = parse_set("train.epochs=4");
  EXPECT_EQ(k, "train.epochs");
  EXPECT_EQ(std::get<int64_t>(s.value), 4);
  EXPECT_EQ(std::get<std::string>(parse_set("tokenizer.name=pixel").second.value), "pixel");
  EXPECT_EQ(std::get<bool>(parse_set("train.bf16=true").second.value), true);
  EXPECT_THROW(parse_set("nonsense"), InputError);
}

TEST(Config, ParseSetTakesSpacesAroundTheEqualsSignAsATomlFileDoes) {
  auto [k, s] = parse_set("train.fused_kernels = true");
  EXPECT_EQ(k, "train.fused_kernels");
  EXPECT_EQ(std::get<bool>(s.value), true);
  EXPECT_EQ(std::get<std::string>(parse_set(" tokenizer.name =  pixel ").second.value), "pixel");
  EXPECT_EQ(parse_set("train.epochs =4").first, "train.epochs");
  EXPECT_THROW(parse_set("  = 3"), InputError);
}

TEST(Config, ImageTargetNeedsLinearTokenizerAndDFitsPatch) {
  RunConfig c;
  c.tokenizer.d = 17;  // patch 4 -> D = 16
  EXPECT_THROW(validate(c, "row 1"), InputError);
  c.tokenizer.d = 16;
  EXPECT_NO_THROW(validate(c, "row 1"));
}

TEST(Config, PatchesMustTileTheImage) {
  RunConfig c;
  c.tokenizer.d = 4;
  c.tokenizer.patch = 3;  // 32 x 32 images (pad 2)
  EXPECT_THROW(validate(c, "row 1"), InputError);
  c.tokenizer.patch = 4;
  c.model.patch = 3;      // 8 x 8 token grid
  EXPECT_THROW(validate(c, "row 1"), InputError);
  c.model.patch = 2;
  EXPECT_NO_THROW(validate(c, "row 1"));
  c.data.pad = 0;         // 28 x 28 -> 7 x 7 tokens: not in 2 x 2 groups
  EXPECT_THROW(validate(c, "row 1"), InputError);
}

// validate()'s InputError message for c ("" when it passes).
std::string validate_error(const RunConfig& c) {
  try {
    validate(c, "row 1");
  } catch (const InputError& err) {
    return err.what();
  }
  return "";
}

// An image_folder key: refused elsewhere by name (set(c) on fashion_mnist);
// out of run ids at its default (unset(b)), in them away from it (set(b)).
void check_image_folder_key(const std::string& key, const std::function<void(RunConfig&)>& set,
                            const std::function<void(RunConfig&)>& unset) {
  RunConfig c;
  set(c);
  const std::string e = validate_error(c);
  EXPECT_NE(e.find(key), std::string::npos) << e;
  EXPECT_NE(e.find("image_folder"), std::string::npos) << e;
  RunConfig a, b;
  a.data.name = b.data.name = "image_folder";
  a.data.pad = b.data.pad = 0;
  a.data.resolution = b.data.resolution = 32;
  const std::string id = run_id(a);
  unset(b);
  EXPECT_EQ(run_id(b), id) << key;
  set(b);
  EXPECT_NE(run_id(b), id) << key;
  EXPECT_EQ(validate_error(b), "") << key;
}

// data.whole_images: out of run ids at false, in them at true.
TEST(Config, WholeImagesIsAnImageFolderKey) {
  check_image_folder_key(
      "data.whole_images", [](RunConfig& c) { c.data.whole_images = true; },
      [](RunConfig& c) { c.data.whole_images = false; });
}

// data.resize: out of run ids at "bilinear", in them at "dit" (its choices
// are checked as the sweep is read, as every text key's); "dit" refuses
// data.jpeg_draft.
TEST(Config, ResizeIsAnImageFolderKey) {
  check_image_folder_key(
      "data.resize", [](RunConfig& c) { c.data.resize = "dit"; }, [](RunConfig& c) { c.data.resize = "bilinear"; });
  RunConfig b;
  b.data.name = "image_folder";
  b.data.pad = 0;
  b.data.resolution = 32;
  b.data.resize = "dit";
  // DiT decodes every JPEG whole: a reduced DCT scale would not be its pixels.
  b.data.jpeg_draft = true;
  const std::string e = validate_error(b);
  EXPECT_NE(e.find("data.jpeg_draft"), std::string::npos) << e;
  EXPECT_NE(e.find("DiT"), std::string::npos) << e;
}

TEST(Config, ResolvedTomlRoundTripsEveryKey) {
  RunConfig c;
  std::string t = to_toml(c);
  for (const auto& k : config_keys())
    if (k != "seed") EXPECT_NE(t.find(k.substr(k.find('.') + 1) + " = "), std::string::npos) << k;
}

TEST(Config, KnnProbeKeys) {
  // At their defaults the kNN keys leave run ids alone (runs recorded before
  // them keep their ids); another k is another run.
  RunConfig a, b;
  b.probe.knn_k = 20, b.probe.knn_t = 0.07;
  EXPECT_EQ(run_id(a), run_id(b));
  b.probe.knn_k = 10;
  EXPECT_NE(run_id(a), run_id(b));
  // More neighbours than training images: caught before anything runs.
  RunConfig c;
  c.data.subset = 16;
  std::string e;
  try {
    validate(c, "row 2");
  } catch (const InputError& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("probe.knn_k"), std::string::npos) << e;
  EXPECT_NE(e.find("16 training images"), std::string::npos) << e;
  c.probe.knn_k = 0;  // off
  EXPECT_NO_THROW(validate(c, "row 2"));
}

TEST(Config, TokenizerPerSeed) {
  // Off (the default): every seed of a row shares one fitted tokenizer, and
  // the key stays out of run ids and the tokenizer's cache name, so runs and
  // tokenizer files recorded before it keep theirs.
  RunConfig a, b;
  b.seed = 1;
  EXPECT_EQ(canonical(a).find("per_seed"), std::string::npos);
  EXPECT_EQ(tokenizer_path(a, "R", false), tokenizer_path(b, "R", false));
  // On: seed s has its own tokenizer file (fitted from s), and its runs
  // are other runs than the shared-tokenizer ones.
  RunConfig a1 = a, b1 = b;
  a1.tokenizer.per_seed = b1.tokenizer.per_seed = true;
  EXPECT_NE(tokenizer_path(a1, "R", false), tokenizer_path(b1, "R", false));
  EXPECT_NE(tokenizer_path(a1, "R", false), tokenizer_path(a, "R", false));
  EXPECT_NE(run_id(a1), run_id(a));
  EXPECT_EQ(tokenizer_path(a1, "R", false).rfind("R/tokenizers/patch_pca-", 0), 0u);
  // The perceptual network is part of a tokenizer that trains through one.
  EXPECT_NE(tokenizer_path(a, "R", true), tokenizer_path(a, "R", false));
}

TEST(Config, CacheNamesIgnoreDataAugment) {
  // data.augment crops training batches after loading: the tokenizer's fit,
  // the harness classifier and FID's reference statistics read the images
  // as prepared, so rows differing only in it share those files. A default
  // row's names stay what they were (kept caches are found).
  RunConfig a, crop;
  crop.data.augment = "rrc_flip";
  EXPECT_EQ(tokenizer_path(a, "R", false), "R/tokenizers/patch_pca-05687f7e157fdfc1.h5");
  EXPECT_EQ(tokenizer_path(crop, "R", false), tokenizer_path(a, "R", false));
  EXPECT_EQ(data_cache_text(crop), data_cache_text(a));
  EXPECT_EQ(data_cache_text(a), section_text(a, {"data."}));
  EXPECT_NE(run_id(crop), run_id(a));
  // Keys that change the images those files read still count.
  RunConfig other = a, raw = a;
  other.data.resolution = 48;
  raw.data.normalize = false;
  EXPECT_NE(data_cache_text(other), data_cache_text(a));
  EXPECT_NE(data_cache_text(raw), data_cache_text(a));
  EXPECT_NE(tokenizer_path(raw, "R", false), tokenizer_path(a, "R", false));
}

TEST(Config, GpuStepKeys) {
  // train.fused_adamw is another update (float rounding): in the run id when
  // on, absent at its default. train.cuda_graph replays the same kernels, so
  // it never is; it needs the capturable optimizer.
  RunConfig a, b;
  b.train.cuda_graph = true;
  EXPECT_EQ(run_id(a), run_id(b));
  b.train.fused_adamw = true;
  EXPECT_NE(run_id(a), run_id(b));
  RunConfig c;
  c.train.cuda_graph = true;
  try {
    validate(c, "sweep.toml:3");
    FAIL() << "train.cuda_graph without train.fused_adamw was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'train.cuda_graph'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("train.fused_adamw = true"), std::string::npos) << e.what();
  }
  c.train.fused_adamw = true;
  EXPECT_NO_THROW(validate(c, "sweep.toml:3"));
}

TEST(Config, WeightDecayRecipeKeys) {
  // DINO's cosine and MAE's exclusions: out of the id at their defaults;
  // a negative end other than -1 (off) and a schedule under a replayed
  // graph (which fixes the decay it was recorded with) are refused, naming the key.
  RunConfig a, b;
  b.train.weight_decay_end = 0.4;
  EXPECT_NE(run_id(a), run_id(b));
  RunConfig c;
  c.train.wd_exclude_1d = true;
  EXPECT_NE(run_id(a), run_id(c));
  auto refused = [](const RunConfig& cfg, const std::string& key) {
    try {
      validate(cfg, "sweep.toml:3");
    } catch (const InputError& e) {
      return std::string(e.what()).find("'" + key + "'") != std::string::npos;
    }
    return false;
  };
  RunConfig neg;
  neg.train.weight_decay_end = -0.5;
  EXPECT_TRUE(refused(neg, "train.weight_decay_end"));
  b.train.fused_adamw = true, b.train.cuda_graph = true;
  EXPECT_TRUE(refused(b, "train.cuda_graph"));
  b.train.cuda_graph = false;
  EXPECT_FALSE(refused(b, "train.weight_decay_end"));
}

// ---- identity: the frozen key order (core/config/key_order.cpp) ---------------

TEST(RunIdentity, EveryFrozenKeyIsARowThatEntersTheId) {
  std::set<std::string> seen;
  for (const auto& fk : frozen_key_order()) {
    EXPECT_TRUE(seen.insert(fk.key).second) << fk.key << " is listed twice";
    const auto keys = config_keys();
    EXPECT_NE(std::find(keys.begin(), keys.end(), fk.key), keys.end()) << fk.key << " has no row";
  }
  // Keys outside the id are not listed (they would enter it).
  for (const KeyRow* r : key_rows())
    if (!r->in_id) EXPECT_EQ(seen.count(r->key), 0u) << r->key;
}

TEST(RunIdentity, CanonicalFollowsTheFrozenOrderNotTheTables) {
  // Every key away from its default, so every frozen line is written: the
  // lines come out in the frozen list's order, whatever order the
  // components declare their rows in.
  RunConfig c;
  c.data.fingerprint = "f", c.data.resolution = 32, c.data.augment = "rrc_flip", c.data.skip_bad = true;
  c.probe.pool = "cls", c.probe.knn_k = 5, c.method.name = "mae", c.eval.fid_samples = 8;
  std::vector<std::string> order;
  std::istringstream in(canonical(c));
  for (std::string line; std::getline(in, line);) order.push_back(line.substr(0, line.find(" = ")));
  std::vector<std::string> want;
  for (const auto& fk : frozen_key_order())
    if (std::find(order.begin(), order.end(), fk.key) != order.end()) want.push_back(fk.key);
  EXPECT_EQ(order, want);
  EXPECT_EQ(order.front(), "data.name");
}

TEST(RunIdentity, TheTrainedModelKeyLeavesOutWhatIsReadAfterPreTraining) {
  // The trained-model cache key is canonical() without probe.* and eval.*
  // (but eval.classifier_epochs: a run may align with that classifier), so
  // runs that differ only in their probes share one trained model.
  RunConfig a;
  a.probe.epochs = 3, a.eval.finetune_epochs = 2, a.eval.fid_samples = 16, a.train.epochs = 7;
  std::string want;
  std::istringstream in(canonical(a));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("probe.", 0) != 0 && line.rfind("eval.", 0) != 0) want += line + "\n";
  EXPECT_EQ(training_text(a), want);
  RunConfig b = a;
  b.probe.block = 2, b.probe.t = 0, b.eval.finetune_lr = 0.5;
  EXPECT_NE(run_id(a), run_id(b));
  EXPECT_EQ(training_text(a), training_text(b));
  b.eval.classifier_epochs = 9;
  EXPECT_NE(training_text(a), training_text(b));
  b = a;
  b.sections.mut<MaeConfig>().mask_ratio = 0.5;  // a method's own section trains
  EXPECT_NE(training_text(a), training_text(b));
}

TEST(RunIdentity, ABaselineMethodsModelDependsOnTheProbesBlockAndPool) {
  // MoCo v3, MAE, DINO (and plugin methods) train the encoder up to
  // probe.block and pool it as probe.pool: rows differing there train apart.
  // l-DAE's denoising reads neither while training: its rows share a model.
  RunConfig a;
  a.model.cls_token = true;
  for (const char* method : {"moco_v3", "mae", "dino"}) {
    a.method.name = method;
    RunConfig b = a, c = a;
    b.probe.block = 2, c.probe.pool = "cls";
    EXPECT_NE(training_text(a), training_text(b)) << method;
    EXPECT_NE(training_text(a), training_text(c)) << method;
    EXPECT_NE(training_text(b), training_text(c)) << method;
    // At their defaults nothing is added: the models kept before keep their files.
    EXPECT_EQ(training_text(a).find("method reads"), std::string::npos) << method;
    // DINO's cls_mean is a readout: training reads the class token, so it
    // shares the cls row's model (and not its run id).
    RunConfig d = a;
    d.probe.pool = "cls_mean";
    EXPECT_EQ(training_text(c), training_text(d)) << method;
    EXPECT_NE(canonical(c), canonical(d)) << method;
  }
  a.method.name = "denoise";
  RunConfig b = a;
  b.probe.block = 2, b.probe.pool = "cls";
  EXPECT_EQ(training_text(a), training_text(b));
}

TEST(Config, EndpointsThatSwitchAKeyOffAreRefusedSayingWhy) {
  // train.ema = 1 would keep the average at the initial weights, which the
  // probe then reads; the range is [0, 1) and the error says what 1 means.
  RunConfig c;
  for (const char* key : {"train.ema", "train.beta2", "model.class_dropout", "moco.m", "dino.m", "dino.center_m"}) {
    try {
      apply_overrides(c, {{key, Setting{1.0, Origin{"s.toml", 4}}}});
      FAIL() << key << " = 1 was accepted";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("[0, 1)"), std::string::npos) << what;
      EXPECT_NE(what.find(": at 1 it "), std::string::npos) << what;
      EXPECT_NE(what.find("s.toml:4"), std::string::npos) << what;
    }
    apply_overrides(c, {{key, Setting{0.999, Origin{"s.toml", 5}}}});  // just below stays valid
  }
}

TEST(Config, AValueThatIsNotUtf8IsRefusedNamingTheKeyAndByte) {
  // A Latin-1 folder name (e-acute = 0xE9) given with --set: records are
  // JSON and TOML, UTF-8 only; it was exit 3 from the JSON writer with a run
  // folder half made.
  RunConfig c;
  try {
    apply_overrides(c, {{"data.path", Setting{std::string("/data/caf\xE9"), Origin{"--set data.path", 0}}}});
    FAIL() << "a Latin-1 path was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--set data.path: key 'data.path'"), std::string::npos) << what;
    EXPECT_NE(what.find("byte 0xE9 at offset 9"), std::string::npos) << what;
  }
  // The whole name is shown, its bad bytes escaped (it was cut at the first).
  EXPECT_EQ(escaped_utf8("/data/caf\xE9-\xE8t\xC3\xA9.toml"), "/data/caf\\xE9-\\xE8t\xC3\xA9.toml");
  // UTF-8 (the same name as UTF-8: C3 A9) is fine.
  apply_overrides(c, {{"data.path", Setting{std::string("/data/caf\xC3\xA9"), Origin{"--set data.path", 0}}}});
  EXPECT_EQ(c.data.path, "/data/caf\xC3\xA9");
  EXPECT_EQ(first_bad_utf8("\xC0\xAF"), 0u);        // an overlong '/'
  EXPECT_EQ(first_bad_utf8("ok\xED\xA0\x80"), 2u);  // a surrogate
  EXPECT_EQ(first_bad_utf8("\xF0\x9F\x98\x80"), std::string::npos);
}
