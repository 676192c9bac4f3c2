// An interrupted-then-resumed run ends with the same weights as an
// uninterrupted one (CPU); non-finite losses fail the run.
#include <ATen/SDPBackend.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAStream.h>
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/filesystem.hpp"
#include "backbones/dit.hpp"
#include "core/train/graph_step.hpp"
#include "core/train/trainer.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/train/tiny_training.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
RunConfig tiny_cfg() { return tiny_training_config(); }
TrainData tiny_data() { return tiny_training_data(); }
Backbone tiny_model(const RunConfig& c) {
  BackboneOptions o;
  o.in_dim = 3, o.out_dim = 8, o.grid_h = 4, o.grid_w = 4;
  o.depth = c.model.depth, o.width = c.model.width, o.heads = c.model.heads;
  torch::manual_seed(11);
  return make_backbone("dit", o);
}
// Two runs' loss curves: as many points, each within rel * |a| + abs.
void expect_curves_near(const TrainResult& a, const TrainResult& b, double rel, double abs) {
  ASSERT_EQ(a.loss_curve.size(), b.loss_curve.size());
  for (size_t k = 0; k < a.loss_curve.size(); ++k)
    EXPECT_NEAR(a.loss_curve[k][1], b.loss_curve[k][1], rel * std::abs(a.loss_curve[k][1]) + abs) << "step " << k + 1;
}
}  // namespace

class TrainerResume : public ::testing::TestWithParam<bool> {};  // train.fused_adamw off, on

TEST_P(TrainerResume, ResumedRunEqualsUninterruptedRun) {
  torch::set_num_threads(1);
  auto cfg = tiny_cfg();
  cfg.train.fused_adamw = GetParam();
  auto data = tiny_data();
  Trainer straight(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  auto full = straight.train(data, "", nullptr, {});
  ASSERT_EQ(full.status, TrainResult::Done);
  EXPECT_EQ(full.steps, 12);  // 3 epochs x 64 / 16

  auto ckpt = test::temp_dir("ckpt") + "/last.pt";
  remove_tree(fs::path(ckpt).parent_path());
  {
    Trainer first(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
    auto part = first.train(data, ckpt, nullptr, {}, /*max_steps=*/5);
    ASSERT_EQ(part.status, TrainResult::Stopped);
    EXPECT_EQ(part.steps, 5);
  }
  // A fresh process would build a fresh model; the checkpoint restores it.
  RunConfig cfg2 = cfg;
  Trainer second(cfg2, tiny_model(cfg2), make_schedule(cfg.noise), torch::kCPU);
  auto rest = second.train(data, ckpt, nullptr, {});
  ASSERT_EQ(rest.status, TrainResult::Done);
  EXPECT_EQ(rest.steps, 12);
  auto a = straight.model()->parameters(), b = second.model()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  straight.use_ema();
  second.use_ema();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "EMA " << i;
  remove_tree(fs::path(ckpt).parent_path());
}
INSTANTIATE_TEST_SUITE_P(FusedOffOn, TrainerResume, ::testing::Bool());

TEST(Trainer, FusedAdamWTrainsAsTheFrontendsAdamW) {
  // Same run, either optimizer: the same losses to float rounding.
  torch::set_num_threads(1);
  auto cfg = tiny_cfg();
  cfg.train.log_every = 4;
  auto data = tiny_data();
  Trainer plain(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  auto a = plain.train(data, "", nullptr, {});
  cfg.train.fused_adamw = true;
  Trainer fused(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  auto b = fused.train(data, "", nullptr, {});
  ASSERT_EQ(a.loss_curve.size(), 3u);
  ASSERT_EQ(b.loss_curve.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(a.loss_curve[k][1], b.loss_curve[k][1], 1e-4 * a.loss_curve[k][1]) << k;
}

TEST(Trainer, CudaGraphWithoutAGpuTrainsEagerlyAndSaysWhy) {
  // The graph-off path: a run asking for train.cuda_graph where none can be
  // recorded trains exactly as without it, and says so once.
  torch::set_num_threads(1);
  auto cfg = tiny_cfg();
  cfg.train.fused_adamw = true;
  auto data = tiny_data();
  Trainer eager(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  eager.train(data, "", nullptr, {});
  cfg.train.cuda_graph = true;
  Trainer asked(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  std::vector<std::string> said;
  asked.train(data, "", nullptr, [&](const std::string& l) { said.push_back(l); });
  int graph_lines = 0;
  for (const auto& l : said)
    if (l.find("train.cuda_graph") != std::string::npos) {
      ++graph_lines;
      EXPECT_NE(l.find("training eagerly: it needs train.device = \"cuda\""), std::string::npos) << l;
    }
  EXPECT_EQ(graph_lines, 1);
  auto a = eager.model()->parameters(), b = asked.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

TEST(Trainer, KeepingARecordingWhereNoneIsMadeTrainsAsWithout) {
  // Trainer::keep_recorded_step where no graph can be recorded (the CPU):
  // two calls train exactly as the same two calls without it.
  torch::set_num_threads(1);
  auto cfg = tiny_cfg();
  cfg.train.fused_adamw = true;
  auto data = tiny_data();
  Trainer plain(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  cfg.train.cuda_graph = true;
  Trainer kept(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  kept.keep_recorded_step(true);
  for (int call = 0; call < 2; ++call) {
    auto a = plain.train(data, "", nullptr, {}, 5), b = kept.train(data, "", nullptr, {}, 5);
    ASSERT_EQ(b.status, TrainResult::Stopped) << b.error;
    EXPECT_EQ(a.steps, b.steps);
  }
  auto a = plain.model()->parameters(), b = kept.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

TEST(Trainer, CudaGraphNamesWhatPreventsRecording) {
  GraphStepInputs in;
  EXPECT_NE(graph_unsupported(in).find("cuda"), std::string::npos);
  in.cuda = true;
  EXPECT_NE(graph_unsupported(in).find("streamed or augmented"), std::string::npos);
  in.resident_data = true;
  EXPECT_EQ(graph_unsupported(in), "");
  in.data_parallel = true;
  EXPECT_NE(graph_unsupported(in).find("data-parallel"), std::string::npos);
  in.data_parallel = false, in.alignment = true;
  EXPECT_NE(graph_unsupported(in).find("alignment"), std::string::npos);
  in.alignment = false, in.baseline_method = true;
  EXPECT_NE(graph_unsupported(in).find("baseline"), std::string::npos);
}

namespace {
// Trains `cfg` for 3 steps from `ckpt`, which cannot be used: the log says
// why (`why`), the file is moved to <ckpt>.unusable, and the model, its
// EMA and AdamW's state end as a run's that never had the file (a load that
// failed part-way, or at the digest after reading everything, is undone).
void expect_trained_afresh(const RunConfig& cfg, const TrainData& data, const std::string& ckpt,
                           const std::string& why) {
  std::vector<std::string> said;
  Trainer t(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  const auto r = t.train(data, ckpt, nullptr, [&](const std::string& l) { said.push_back(l); }, 3);
  ASSERT_EQ(r.status, TrainResult::Stopped) << r.error;
  EXPECT_EQ(r.steps, 3);
  const std::string want = "checkpoint " + ckpt + " not used (" + why;
  const bool told = std::any_of(said.begin(), said.end(), [&](const std::string& l) {
    return l.find(want) == 0 && l.find("): moved to " + ckpt + ".unusable; training starts afresh at step 0") !=
                                    std::string::npos;
  });
  std::string all;
  for (const auto& l : said) all += l + "\n";
  EXPECT_TRUE(told) << "no log line starting '" << want << "' in:\n" << all;
  EXPECT_TRUE(fs::exists(ckpt + ".unusable"));
  Trainer fresh(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  fresh.train(data, "", nullptr, {}, 3);
  auto a = t.model()->parameters(), b = fresh.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  t.use_ema(), fresh.use_ema();
  a = t.model()->parameters(), b = fresh.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "EMA of parameter " << i;
  fs::remove(ckpt + ".unusable");
}
}  // namespace

// A checkpoint of another config, or of another seed (canonical() leaves
// the seed out; the checkpoint keeps it), is not resumed: set aside, the
// run trains afresh.
TEST(Trainer, ACheckpointOfAnotherConfigOrSeedIsSetAsideAndTrainingStartsAfresh) {
  auto cfg = tiny_cfg();
  cfg.train.ema = 0.9;
  auto data = tiny_data();
  auto ckpt = test::temp_dir("ckpt2") + "/last.pt";
  remove_tree(fs::path(ckpt).parent_path());
  Trainer a(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  a.train(data, ckpt, nullptr, {}, 2);
  fs::copy_file(ckpt, ckpt + ".seed0");
  auto other = cfg;
  other.train.base_lr = 5e-4;
  expect_trained_afresh(other, data, ckpt, "checkpoint of another config");
  fs::copy_file(ckpt + ".seed0", ckpt, fs::copy_options::overwrite_existing);
  auto seeded = cfg;
  seeded.seed = 1;
  expect_trained_afresh(seeded, data, ckpt, "checkpoint of seed 0, this run's is 1");
  remove_tree(fs::path(ckpt).parent_path());
}

// Flipped bits inside a checkpoint's tensor: LibTorch's zip reader checks
// no CRC, so only the digest the checkpoint keeps of its tensors finds them
// (after every tensor was read into the trainer: all of it is undone).
TEST(Trainer, ACheckpointWithFlippedBitsIsSetAsideAndTrainingStartsAfresh) {
  auto cfg = tiny_cfg();
  cfg.train.ema = 0.9;
  auto data = tiny_data();
  auto ckpt = test::temp_dir("ckpt-flip") + "/last.pt";
  remove_tree(fs::path(ckpt).parent_path());
  Trainer a(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  a.train(data, ckpt, nullptr, {}, 2);
  {  // an intact checkpoint resumes (its digest matches what was read)
    std::vector<std::string> said;
    Trainer b(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
    b.train(data, ckpt, nullptr, [&](const std::string& l) { said.push_back(l); }, 2);
    EXPECT_TRUE(std::any_of(said.begin(), said.end(),
                            [&](const std::string& l) { return l == "resumed from " + ckpt + " at step 2"; }));
  }
  uint64_t offset = 0, largest = 0;
  {
    caffe2::serialize::PyTorchStreamReader reader(ckpt);
    for (const auto& name : reader.getAllRecords())
      if (name.find("data/") != std::string::npos && reader.getRecordSize(name) > largest)
        largest = reader.getRecordSize(name), offset = reader.getRecordOffset(name);
  }
  ASSERT_GT(largest, 64u);
  {
    std::fstream f(ckpt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(offset + largest / 2));
    const char flipped[4] = {'\x5a', '\x5a', '\x5a', '\x5a'};
    f.write(flipped, 4);
  }
  const std::string damaged = "checkpoint damaged (its tensors differ from those it was written with)";
  expect_trained_afresh(cfg, data, ckpt, damaged);
  // The step it resumes at is in the digest too: the last 8-byte record
  // holding 2 is the trainer's step (written after the optimizer's counts).
  fs::remove(ckpt);
  Trainer d(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  d.train(data, ckpt, nullptr, {}, 2);
  std::string step_record;
  {
    caffe2::serialize::PyTorchStreamReader reader(ckpt);
    size_t best = 0;
    for (const auto& name : reader.getAllRecords()) {
      if (name.find("data/") == std::string::npos || reader.getRecordSize(name) != 8) continue;
      auto [ptr, n] = reader.getRecord(name);
      int64_t v = 0;
      std::memcpy(&v, ptr.get(), 8);
      const size_t index = std::stoul(name.substr(name.rfind('/') + 1));
      if (v == 2 && index >= best) best = index, step_record = name, offset = reader.getRecordOffset(name);
    }
  }
  ASSERT_FALSE(step_record.empty());
  {
    std::fstream f(ckpt, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(offset));
    const int64_t three = 3;
    f.write(reinterpret_cast<const char*>(&three), 8);
  }
  expect_trained_afresh(cfg, data, ckpt, damaged);
  // Not an archive at all, and a folder left where it is set aside: replaced.
  std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << std::string(3000, 'x');
  fs::create_directories(ckpt + ".unusable/inside");
  expect_trained_afresh(cfg, data, ckpt, "");
  remove_tree(fs::path(ckpt).parent_path());
}

TEST(Trainer, NonFiniteLossFailsWithStepAndValue) {
  auto cfg = tiny_cfg();
  cfg.train.base_lr = 1e30;  // diverges at once
  cfg.train.warmup_epochs = 0;
  auto data = tiny_data();
  // The loss is read at sync points (every log_every steps): the error names
  // the steps since the last one, or the step itself when that is every step.
  for (int every : {50, 1}) {
    cfg.train.log_every = every;
    Trainer t(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
    auto r = t.train(data, "", nullptr, {});
    ASSERT_EQ(r.status, TrainResult::Failed);
    EXPECT_NE(r.error.find("non-finite loss"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(every == 1 ? "at step 2 " : "in steps 1.."), std::string::npos) << r.error;
    EXPECT_TRUE(r.loss_curve.empty() || std::isfinite(r.loss_curve.back()[1]));
  }
}

TEST(Trainer, GradientClippingMatchesLibTorchWithoutReadingTheNorm) {
  for (double max_norm : {0.05, 1e6}) {  // clipped, and left alone
    torch::manual_seed(7);
    torch::nn::Linear a(5, 3), b(5, 3);
    b->weight.set_data(a->weight.detach().clone());
    b->bias.set_data(a->bias.detach().clone());
    auto x = torch::randn({4, 5});
    a->forward(x).pow(2).sum().backward();
    b->forward(x).pow(2).sum().backward();
    torch::nn::utils::clip_grad_norm_(a->parameters(), max_norm);
    clip_grad_norm(b->parameters(), max_norm);
    for (size_t k = 0; k < 2; ++k)
      EXPECT_TRUE(torch::allclose(a->parameters()[k].grad(), b->parameters()[k].grad(), 1e-6, 1e-8));
  }
}

// DINO's utils.clip_gradients: each gradient on its own, hand values.
TEST(Trainer, PerParameterClippingScalesEachGradientByItsOwnNorm) {
  auto w = torch::zeros({2, 2}, torch::requires_grad()), b = torch::zeros({2}, torch::requires_grad());
  w.mutable_grad() = torch::tensor({{3.0f, 0.0f}, {0.0f, 4.0f}});  // norm 5: clipped to 1
  b.mutable_grad() = torch::tensor({0.3f, 0.4f});                 // norm 0.5: left alone
  clip_grad_per_param({w, b}, 1.0);
  const double s = 1.0 / (5.0 + 1e-6);
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({{3.0f, 0.0f}, {0.0f, 4.0f}}) * s, 1e-6, 1e-7));
  EXPECT_TRUE(torch::equal(b.grad(), torch::tensor({0.3f, 0.4f})));
  // The global norm would have scaled both: sqrt(25 + 0.25) > 1.
  auto w2 = w.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
  w2.mutable_grad() = torch::tensor({{3.0f, 0.0f}, {0.0f, 4.0f}});
  b2.mutable_grad() = torch::tensor({0.3f, 0.4f});
  clip_grad_norm({w2, b2}, 1.0);
  EXPECT_LT(b2.grad().norm().item<double>(), 0.1);
}

// MAE's and DINO's weight-decay recipe: no decay on parameters of one
// dimension (timm's add_weight_decay, DINO's get_params_groups) and DINO's
// cosine from weight_decay to weight_decay_end.
TEST(Trainer, WeightDecayExcludesVectorsAndFollowsDinosCosine) {
  torch::set_num_threads(1);
  auto cfg = tiny_cfg();
  cfg.train.weight_decay = 0.04;
  Trainer plain(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  ASSERT_EQ(plain.optimizer().param_groups().size(), 1u);
  EXPECT_DOUBLE_EQ(plain.weight_decay_at(7, 12), 0.04);  // constant without weight_decay_end
  cfg.train.wd_exclude_1d = true;
  cfg.train.weight_decay_end = 0.4;
  Trainer split(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  const auto& groups = split.optimizer().param_groups();
  ASSERT_EQ(groups.size(), 2u);
  size_t n = 0;
  for (const auto& p : groups[0].params()) {
    EXPECT_GE(p.dim(), 2);
    ++n;
  }
  for (const auto& p : groups[1].params()) {
    EXPECT_LE(p.dim(), 1);
    ++n;
  }
  EXPECT_EQ(n, tiny_model(cfg)->parameters().size());
  EXPECT_DOUBLE_EQ(split.weight_decay_at(0, 100), 0.04);
  EXPECT_NEAR(split.weight_decay_at(50, 100), 0.22, 1e-15);  // half-way: the mean
  EXPECT_NEAR(split.weight_decay_at(100, 100), 0.4, 1e-15);
  ASSERT_EQ(split.train(tiny_data(), "", nullptr, {}).status, TrainResult::Done);
  auto wd = [&](size_t g) {
    return static_cast<const torch::optim::AdamWOptions&>(groups[g].options()).weight_decay();
  };
  EXPECT_DOUBLE_EQ(wd(0), split.weight_decay_at(11, 12));  // the last of 12 steps' value
  EXPECT_EQ(wd(1), 0.0);                                     // vectors never decay
}

TEST(Trainer, WarmupThenHalfCycleCosine) {
  auto cfg = tiny_cfg();
  Trainer t(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  const double peak = 1e-3 * 16 / 256.0;
  EXPECT_NEAR(t.lr_at(0, 12, 4), peak / 4, 1e-12);
  EXPECT_NEAR(t.lr_at(3, 12, 4), peak, 1e-12);
  EXPECT_NEAR(t.lr_at(4, 12, 4), peak, 1e-12);                // cosine starts at peak
  EXPECT_NEAR(t.lr_at(8, 12, 4), peak * 0.5, 1e-12);          // halfway
  // A floor (DINO's min_lr): the cosine runs from the peak to it.
  cfg.train.min_lr = 1e-5;
  Trainer f(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCPU);
  EXPECT_NEAR(f.lr_at(3, 12, 4), peak, 1e-12);                // warm-up unchanged
  EXPECT_NEAR(f.lr_at(8, 12, 4), 1e-5 + (peak - 1e-5) * 0.5, 1e-12);
  EXPECT_NEAR(f.lr_at(12, 12, 4), 1e-5, 1e-12);               // the end of the half cycle
}

// On a GPU machine (tools/gpu_session.sh runs this suite there): the CUDA
// path agrees with the CPU and trains, in fp32 and bf16, and resumes. Skipped
// where no GPU is visible (CI, the development VM).
TEST(TrainerOnGpu, MatchesTheCpuTrainsAndResumes) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto cfg = tiny_cfg();
  auto data = tiny_data();
  // One forward pass, fp32 products (no TF32 here), CPU vs GPU.
  Backbone cpu_model = tiny_model(cfg), gpu_model = tiny_model(cfg);
  gpu_model->to(torch::kCUDA);
  auto t = torch::full({4}, 100.0f);
  auto x = data.z0.slice(0, 0, 4);
  auto y_cpu = cpu_model->forward(x, t, {});
  auto y_gpu = gpu_model->forward(x.cuda(), t.cuda(), {}).cpu();
  EXPECT_TRUE(torch::allclose(y_cpu, y_gpu, 1e-4, 1e-5)) << (y_cpu - y_gpu).abs().max().item<float>();
  for (bool bf16 : {false, true}) {
    cfg.train.bf16 = bf16;
    Trainer straight(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
    auto full = straight.train(data, "", nullptr, {});
    ASSERT_EQ(full.status, TrainResult::Done) << full.error;
    auto ckpt = test::temp_dir("gpu-ckpt") + "/last.pt";
    remove_tree(fs::path(ckpt).parent_path());
    {
      Trainer first(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
      ASSERT_EQ(first.train(data, ckpt, nullptr, {}, /*max_steps=*/5).status, TrainResult::Stopped);
    }
    Trainer second(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
    ASSERT_EQ(second.train(data, ckpt, nullptr, {}).status, TrainResult::Done);
    auto a = straight.model()->parameters(), b = second.model()->parameters();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(a[i].is_cuda());
      // GPU kernels may reduce in another order after a restart: equal to
      // float rounding, not bit for bit.
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-4, 1e-6)) << "bf16 " << bf16 << " parameter " << i;
    }
    remove_tree(fs::path(ckpt).parent_path());
  }
}

// On a GPU machine: the step recorded as a CUDA graph and replayed trains as
// the eager step does (bf16: loss curves equal within bf16 tolerance), says
// it recorded, and a resumed graphed run equals an uninterrupted one.
TEST(TrainerOnGpu, CudaGraphReplaysTheEagerStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto cfg = tiny_cfg();
  cfg.train.fused_adamw = true, cfg.train.bf16 = true, cfg.train.log_every = 1;
  cfg.train.epochs = 6;  // 24 steps: 3 eager, then 21 replays
  auto data = tiny_data();
  Trainer eager(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
  auto e = eager.train(data, "", nullptr, {});
  ASSERT_EQ(e.status, TrainResult::Done) << e.error;
  cfg.train.cuda_graph = true;
  Trainer graphed(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
  std::string said;
  auto g = graphed.train(data, "", nullptr, [&](const std::string& l) { said += l + "\n"; });
  ASSERT_EQ(g.status, TrainResult::Done) << g.error;
  EXPECT_NE(said.find("train.cuda_graph: step recorded at step 3"), std::string::npos) << said;
  expect_curves_near(e, g, 2e-2, 1e-4);
  auto a = eager.model()->parameters(), b = graphed.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::allclose(a[i], b[i], 2e-2, 2e-3)) << "parameter " << i;
  // Resume: 10 graphed steps, a checkpoint, then the rest graphed again.
  auto ckpt = test::temp_dir("graph-ckpt") + "/last.pt";
  remove_tree(fs::path(ckpt).parent_path());
  {
    Trainer first(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
    ASSERT_EQ(first.train(data, ckpt, nullptr, {}, /*max_steps=*/10).status, TrainResult::Stopped);
  }
  Trainer second(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
  ASSERT_EQ(second.train(data, ckpt, nullptr, {}).status, TrainResult::Done);
  auto c = second.model()->parameters();
  for (size_t i = 0; i < b.size(); ++i)
    EXPECT_TRUE(torch::allclose(b[i], c[i], 1e-4, 1e-6)) << "resumed parameter " << i;
  remove_tree(fs::path(ckpt).parent_path());
}

// On a GPU machine (issue 30, item 1): with keep_recorded_step, the second
// call replays the first call's recording from its first step (no eager
// steps, no new recording) and trains as the same two eager calls; between
// calls the caller's stream is current; without keep a call records anew.
TEST(TrainerOnGpu, AKeptRecordingReplaysTheNextCallFromItsFirstStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto cfg = tiny_cfg();
  cfg.train.fused_adamw = true, cfg.train.log_every = 1;
  auto data = tiny_data();
  Trainer eager(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
  cfg.train.cuda_graph = true;
  Trainer graphed(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
  graphed.keep_recorded_step(true);
  std::vector<std::string> said;
  const auto note = [&](const std::string& l) {
    if (l.find("train.cuda_graph") != std::string::npos) said.push_back(l);
  };
  for (int call = 0; call < 2; ++call) {
    said.clear();
    auto e = eager.train(data, "", nullptr, {}, 6), g = graphed.train(data, "", nullptr, note, 6);
    ASSERT_EQ(g.status, TrainResult::Stopped) << g.error;
    ASSERT_EQ(said.size(), 1u);
    EXPECT_EQ(said[0], call == 0 ? "train.cuda_graph: step recorded at step 3; replaying it" : kReplayingAKeptRecording);
    expect_curves_near(e, g, 1e-4, 1e-6);
    EXPECT_EQ(c10::cuda::getCurrentCUDAStream(), c10::cuda::getDefaultCUDAStream()) << "call " << call;
  }
  graphed.keep_recorded_step(false);
  said.clear();
  graphed.train(data, "", nullptr, note, 6);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_EQ(said[0], "train.cuda_graph: step recorded at step 3; replaying it");
}

// On a GPU machine: the DiT's attention in bf16 takes a fused kernel (flash,
// memory-efficient or cuDNN), not the math fallback.
TEST(TrainerOnGpu, AttentionUsesAFusedKernel) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto o = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  for (int64_t dh : {32, 64}) {  // tiny/quickstart and DiT-B/L head widths
    auto q = torch::randn({8, 16, 256, dh}, o), k = torch::randn({8, 16, 256, dh}, o), v = torch::randn({8, 16, 256, dh}, o);
    const int64_t backend = at::_fused_sdp_choice(q, k, v);
    EXPECT_NE(backend, int64_t(at::SDPBackend::math)) << "head width " << dh;
    EXPECT_NE(backend, int64_t(at::SDPBackend::error)) << "head width " << dh;
  }
}

// On a GPU machine: a recording that fails part-way (here a host read of a
// device value, illegal while a stream records) leaves the process able to
// train eagerly: the generator reseeds and draws as before, and a later
// recording replays exactly the draws an eager step with the same seed makes.
TEST(TrainerOnGpu, FailedRecordingLeavesTheProcessUsable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  const auto cuda = torch::TensorOptions().device(torch::kCUDA);
  {
    GraphStep g(torch::kCUDA, 4);
    auto why = g.capture([&](const torch::Tensor& idx, const torch::Tensor&) {
      auto x = torch::randn({4}, cuda) + idx.to(torch::kFloat32);
      (void)x.sum().item<float>();
      return x.sum();
    });
    EXPECT_FALSE(why.empty());
    EXPECT_FALSE(g.captured());
  }
  torch::manual_seed(5);
  auto a = torch::randn({8}, cuda);
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(a, torch::randn({8}, cuda)));
  GraphStep g(torch::kCUDA, 4);
  auto why = g.capture([&](const torch::Tensor& idx, const torch::Tensor& lr) {
    return (torch::randn({4}, cuda) + idx.to(torch::kFloat32)).sum() * lr;
  });
  ASSERT_EQ(why, "");
  for (int seed : {9, 10}) {
    torch::manual_seed(seed);
    auto replayed = g.replay(torch::arange(4, cuda.dtype(torch::kLong)), 2.0).clone();
    torch::manual_seed(seed);
    auto eager = (torch::randn({4}, cuda) + torch::arange(4, cuda.dtype(torch::kFloat32))).sum() * 2.0;
    EXPECT_TRUE(torch::allclose(replayed, eager, 1e-6, 1e-6)) << "seed " << seed;
  }
}

namespace {
// A backbone that reads a device value on the host while its stream records
// (illegal there): the Trainer's recording fails, as it would on any
// operator a graph cannot hold, and the run goes on eagerly.
struct SyncsWhileRecordingImpl : BackboneImpl {
  explicit SyncsWhileRecordingImpl(Backbone in) : inner(register_module("inner", std::move(in))) {}
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& t, const torch::Tensor& y) override {
    auto out = inner->forward(tokens, t, y);
    if (tokens.is_cuda() && c10::cuda::currentStreamCaptureStatusMayInitCtx() != c10::cuda::CaptureStatus::None)
      (void)out.sum().item<float>();
    return out;
  }
  torch::Tensor features(const torch::Tensor& tokens, const torch::Tensor& t, int64_t block,
                         const torch::Tensor& y) override {
    return inner->features(tokens, t, block, y);
  }
  int64_t blocks() const override { return inner->blocks(); }
  int64_t feature_width(int64_t block) const override { return inner->feature_width(block); }
  Backbone inner{nullptr};
};
}  // namespace

// On a GPU machine (issue 30, item 2): a run whose recording fails trains on
// eagerly, and the step after the failed attempt draws the t and noise an
// uninterrupted eager run draws (reseeded from (seed, step)), so the two
// loss curves agree to float rounding (fp32; without the reseed the step
// after the attempt draws other numbers and its loss moves by percents).
TEST(TrainerOnGpu, AFailedRecordingTrainsOnAsTheEagerRun) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  auto cfg = tiny_cfg();
  cfg.train.fused_adamw = true, cfg.train.log_every = 1;
  cfg.train.epochs = 3;  // 12 steps: 3 eager, the failed recording, 8 more eager
  auto data = tiny_data();
  Trainer eager(cfg, tiny_model(cfg), make_schedule(cfg.noise), torch::kCUDA);
  auto e = eager.train(data, "", nullptr, {});
  ASSERT_EQ(e.status, TrainResult::Done) << e.error;
  cfg.train.cuda_graph = true;
  Trainer failing(cfg, Backbone(std::shared_ptr<BackboneImpl>(std::make_shared<SyncsWhileRecordingImpl>(tiny_model(cfg)))),
                  make_schedule(cfg.noise), torch::kCUDA);
  std::string said;
  auto f = failing.train(data, "", nullptr, [&](const std::string& l) { said += l + "\n"; });
  ASSERT_EQ(f.status, TrainResult::Done) << f.error;
  EXPECT_NE(said.find("train.cuda_graph: recording failed, training eagerly"), std::string::npos) << said;
  expect_curves_near(e, f, 1e-4, 1e-6);
}
