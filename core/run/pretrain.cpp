// The pre-training stage of a run (core/run/run_stages.hpp): the tokenizer,
// fitted once per config and cached; the backbone; its pre-training by the
// run's method on the shared trainer (or a trained model reused); the probe
// features of the encoder, sharded over data-parallel ranks.
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/diffusion/alignment.hpp"
#include "core/base/archive_check.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/file_digest.hpp"
#include "core/base/seeds.hpp"
#include "core/base/threads.hpp"
#include "core/data/augment.hpp"
#include "core/data/batch_loader.hpp"
#include "core/run/registry.hpp"
#include "core/run/run_stages.hpp"
#include "methods/method.hpp"
#include "probes/linear_probe.hpp"

namespace ldae {
namespace fs = std::filesystem;

// Fit once per (data, tokenizer) config and share the file across runs.
std::unique_ptr<Tokenizer> fitted_tokenizer(const RunConfig& cfg, const ImageBatches& train,
                                            const std::string& results,
                                            const std::function<std::shared_ptr<FeatureNet>()>& perceptual,
                                            const std::function<void(const std::string&)>& log,
                                            double* fit_s) {
  auto tok = make_tokenizer(cfg.tokenizer, train.c);
  const std::string path = tokenizer_path(cfg, results, tok->wants_perceptual_net());
  const uint64_t fit_seed = cfg.tokenizer.per_seed ? uint64_t(cfg.seed) : 0;
  const auto t0 = clk::now();
  // A kept tokenizer that cannot be read (damaged, another version's) is
  // fitted again and replaced: it is derived data.
  bool loaded = false;
  if (fs::exists(path)) {
    try {
      tok->load(path);
      loaded = true;
      log("tokenizer loaded from " + path);
    } catch (const std::exception& e) {
      log(fmt::format("tokenizer {} not used ({}): fitted again", path,
                      reason_about(first_sentence(e.what(), 400), path)));
      tok = make_tokenizer(cfg.tokenizer, train.c);
    }
  }
  if (!loaded) {
    if (tok->wants_perceptual_net()) tok->set_perceptual_net(perceptual());
    tok->fit_batches(train, fit_seed);
    write_file_atomically(path, [&](const std::string& tmp) { tok->save(tmp); });
    log(fmt::format("tokenizer {} fitted (seed {}) in {:.2f} s -> {}", cfg.tokenizer.name, fit_seed,
                    secs_since(t0), path));
  }
  *fit_s = secs_since(t0);
  return tok;
}

// results/models/<hash of training_text(cfg) + seed>.pt: every identity key
// but those read after pre-training (KeyRow::trains), so a new component's
// keys count unless its rows say otherwise; plugin axes count (they may
// change training). A baseline method trains up to the probe's block: where
// probe.block and model.split resolve to the block the defaults give, it is
// the defaults' training, so it keys the defaults' model.
std::string trained_model_path(const RunConfig& cfg, const std::string& results) {
  RunConfig key = cfg;
  if (cfg.method.name != "denoise" && (cfg.probe.block >= 0 || cfg.model.split >= 0)) {
    RunConfig plain = cfg;
    plain.probe.block = RunConfig().probe.block, plain.model.split = RunConfig().model.split;
    const int64_t block = cfg.probe.block >= 0 ? cfg.probe.block : backbone_options(cfg).split;
    if (block == backbone_options(plain).split) key.probe.block = plain.probe.block, key.model.split = plain.model.split;
  }
  return fmt::format("{}/models/{}.pt", results,
                     fnv1a_hex(training_text(key) + "seed = " + std::to_string(cfg.seed)));
}

// A copy of `model` (same options, weights and buffers), for fine-tuning
// that must leave the probed encoder as it is.
Backbone copy_backbone(const std::string& name, const BackboneOptions& bo, Backbone& model) {
  Backbone copy = make_backbone(name, bo);
  std::stringstream bytes;
  torch::serialize::OutputArchive out;
  model->save(out);
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  copy->load(in);
  return copy;
}

// cpu | cuda | auto; data-parallel ranks on one node take GPUs by local rank.
torch::Device pick_device(const std::string& want, const std::shared_ptr<Communicator>& comm) {
  if (want == "cuda" && !torch::cuda::is_available())
    throw InputError("key 'train.device': \"cuda\" but this LibTorch sees no CUDA device (no GPU visible, or no "
                     "driver); use \"auto\" (a GPU when there is one) or \"cpu\", e.g. --set train.device=auto");
  if (want == "cpu" || !torch::cuda::is_available()) return torch::kCPU;
  const int64_t n = int64_t(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, comm ? c10::DeviceIndex(comm->local_rank() % n) : 0);
}

// CPU threads of a run: --threads, else train.threads, else default_threads().
int run_threads(const RunConfig& cfg, const RunContext& ctx) {
  return ctx.threads > 0 ? ctx.threads
         : cfg.train.threads > 0 ? cfg.train.threads
                                 : default_threads();
}

namespace {

// The pre-training budget kept with a trained model, so a run that reuses
// it reports what it cost: images seen, model FLOPs (-1 = not counted), seconds.
void save_trained_model(const std::string& path, Backbone& model,
                        const std::vector<std::array<double, 3>>& curve, const Budget& budget) {
  torch::serialize::OutputArchive ar, model_ar;
  model->save(model_ar);
  ar.write("model", model_ar);
  std::vector<double> flat;
  for (const auto& r : curve) flat.insert(flat.end(), r.begin(), r.end());
  const auto curve_t = torch::tensor(flat, torch::kFloat64);
  const auto budget_t = torch::tensor(std::vector<double>(budget.begin(), budget.end()), torch::kFloat64);
  ar.write("loss_curve", curve_t);
  ar.write("budget", budget_t);
  // What a reusing run reports (its loss curve and budget), digested apart
  // from the tensors so that models kept before keep their "digest".
  ar.write("record_digest", c10::IValue(tensors_digest({{"loss_curve", curve_t}, {"budget", budget_t}})));
  // The config it was trained for (the file's own name): a file copied or
  // renamed onto another config's name is told apart when loaded.
  ar.write("trained_for", c10::IValue(fs::path(path).stem().string()));
  ar.write("digest", c10::IValue(module_digest(*model)));  // its tensors' bytes: flipped bits are told apart
  write_archive_atomically(path, ar,
                        parameter_bytes(model->parameters()));
}

void load_trained_model(const std::string& path, Backbone& model,
                        std::vector<std::array<double, 3>>* curve, torch::Device device,
                        Budget* budget = nullptr) {
  try {
    check_archive(path, "trained model");
    torch::serialize::InputArchive ar, model_ar;
    ar.load_from(path);
    c10::IValue made_for;  // models kept before it was recorded have none
    const std::string want = fs::path(path).stem().string();
    if (ar.try_read("trained_for", made_for) && made_for.isString() && made_for.toStringRef() != want)
      throw InputError(fmt::format("{}: the trained model of another config ({}.pt, copied or renamed here); "
                                   "delete it to retrain", path, made_for.toStringRef()));
    ar.read("model", model_ar);
    load_module_checked(*model, model_ar, path, "trained model");
    c10::IValue digest;  // models kept before it was recorded have none
    if (ar.try_read("digest", digest) && digest.isString() && digest.toStringRef() != module_digest(*model))
      throw InputError(fmt::format("{}: damaged: its tensors' digest differs from the one kept with them; delete it "
                                   "to retrain", path));
    model->to(device);
    torch::Tensor c, b;  // models saved before budgets were recorded have none
    ar.read("loss_curve", c);
    const bool has_budget = ar.try_read("budget", b);
    c10::IValue record;  // models kept before it was recorded have none
    if (ar.try_read("record_digest", record) && record.isString() &&
        record.toStringRef() != tensors_digest({{"loss_curve", c}, {"budget", b}}))
      throw InputError(fmt::format("{}: damaged: its loss curve or budget differs from the digest kept with them; "
                                   "delete it to retrain", path));
    c = c.contiguous();
    curve->clear();
    for (int64_t i = 0; i + 2 < c.numel(); i += 3)
      curve->push_back({c[i].item<double>(), c[i + 1].item<double>(), c[i + 2].item<double>()});
    if (budget && has_budget && b.numel() == 3)
      *budget = {b[0].item<double>(), b[1].item<double>(), b[2].item<double>()};
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: unreadable trained model ({}); delete it to retrain", path, load_failure(e)));
  }
}

// The kept trained model loaded into `model`; false, with a log line naming
// the file and why, when it cannot be used (damaged, another config's by
// its record or its shapes): the caller builds the model again and trains
// it. st.loss and st.budget from the file.
bool reuse_trained_model(const RunConfig& cfg, EncoderStage& st, Backbone& model, const std::string& results,
                         torch::Device device, const Log& log) {
  const std::string path = trained_model_path(cfg, results);
  // A folder where the file goes could not be replaced after training: said now.
  if (std::error_code ec; fs::is_directory(path, ec))
    throw InputError(fmt::format("{}: a folder where the trained model's file goes; move it away and rerun", path));
  try {
    load_trained_model(path, model, &st.loss, device, &st.budget);
  } catch (const InputError& e) {
    log(fmt::format("trained model {} not used ({}): trained again", path, reason_about(e.what(), path)));
    st.loss.clear(), st.budget = {-1, -1, -1};
    return false;
  }
  log("trained model reused from " + path);
  return true;
}

// Probe features of every row of z0. Data parallel: each rank computes a
// contiguous shard of whole batches and rank 0 gathers them in order (other
// ranks get an undefined tensor); the rows are one process's, bit for bit.
torch::Tensor gathered_features(Backbone& model, const TokenRows& z0, int64_t N, const torch::Tensor& V,
                                int64_t blocks, int64_t t, const RunConfig& cfg, double gamma, double sigma,
                                torch::Device device, uint64_t seed, int64_t forward_rows,
                                const std::shared_ptr<Communicator>& comm) {
  constexpr int64_t batch = 1024;
  auto features = [&](std::pair<int64_t, int64_t> rows) {
    return encoder_features(model, z0, N, V, blocks, t, gamma, sigma, cfg.probe.noisy,
                            batch, device, seed, rows, cfg.probe.pool, cfg.train.bf16, forward_rows);
  };
  if (!comm) return features({0, -1});
  std::vector<std::pair<int64_t, int64_t>> shard;
  int64_t most = 0;
  for (int r = 0; r < comm->world(); ++r) {
    shard.push_back(shard_rows(N, batch, r, comm->world()));
    most = std::max(most, shard.back().second - shard.back().first);
  }
  auto mine = features(shard[comm->rank()]);  // (rows, W)
  auto padded = torch::zeros({most, mine.size(1)}, mine.options());  // gather needs equal shapes
  padded.slice(0, 0, mine.size(0)).copy_(mine);
  auto all = comm->gather(padded);
  if (all.empty()) return {};
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < comm->world(); ++r)
    parts.push_back(all[r].slice(0, 0, shard[r].second - shard[r].first));
  return torch::cat(parts);
}

// What a baseline method (methods/) reads from the run: the training images
// (host), the tokenizer, fresh backbones of the run's options, the encoder's
// end (the probe's feature point) and the step counts of its schedules.
MethodContext method_context(const RunConfig& cfg, const BackboneOptions& bo, Backbone& model, Tokenizer& tok,
                             const ImageBatches& train, int64_t total_steps, torch::Device device) {
  MethodContext c;
  c.read_images = train.read;
  // A step's views crop the same images: with crops from the files, each
  // file is decoded once a step (DINO's 2 + 8 views: not ten times) and its
  // original held until the next step's batch (MAE's single view holds one
  // batch of originals in vain). The same draws as crop_images.
  // (Locked: a plugin may call it from threads of its own.)
  struct Held {
    std::mutex mu;
    DecodedRows rows;
  };
  auto held = std::make_shared<Held>();
  c.crop_images = [train, held](const torch::Tensor& idx, double lo, double hi, int64_t out_side) {
    if (!train.crop_with) return crop_images(train, idx, lo, hi, out_side, torch::kCPU);
    std::lock_guard<std::mutex> lock(held->mu);
    return train.crop_with(idx, lo, hi, out_side, crop_seed(std::nullopt), 0, &held->rows);
  };
  c.image_side = train.h;
  c.normalized = cfg.data.normalize;
  c.encode = [&tok](const torch::Tensor& x) {
    torch::NoGradGuard ng;
    return tok.encode(x);
  };
  c.make_backbone = [name = cfg.model.name, bo] { return make_backbone(name, bo); };
  c.backbone = bo;
  c.block = cfg.probe.block >= 0 ? cfg.probe.block : bo.split;
  c.feature_width = model->feature_width(c.block);
  c.pool = cfg.probe.training_pool();
  c.steps_per_epoch = std::max<int64_t>(1, train.n / cfg.train.batch);
  c.total_steps = total_steps;
  c.device = device;
  return c;
}

// Representation alignment's target and projector (core/diffusion/alignment.hpp) for
// `model` built with options bo; `feature_net` gives a network target.
std::shared_ptr<Alignment> make_alignment(const RunConfig& cfg, Backbone& model, const BackboneOptions& bo,
                                          const ImageBatches& train, const FeatureNetSource& feature_net,
                                          const std::function<void(const std::string&)>& log) {
  const int64_t block = cfg.objective.align_block >= 0 ? cfg.objective.align_block : bo.split;
  const int64_t width = model->feature_width(block);
  const std::string& target = cfg.objective.align_target;
  // Aligning with the model's own EMA is self-distillation (REPA's loss and
  // projector, a BYOL/DINO-style teacher); REPA proper aligns with a
  // pretrained encoder's patch tokens (DINOv2), a network file here.
  log(fmt::format("alignment ({}): {} {} ({} channels) -> projector -> {} target, weight {}",
                  target == "ema" ? "self-distillation to its EMA" : "REPA", cfg.model.name,
                  model->block_name(block), width, target, cfg.objective.align_weight));
  const int64_t hidden = cfg.objective.align_hidden;
  if (target == "ema") return std::make_shared<Alignment>(block, width, make_backbone(cfg.model.name, bo), hidden);
  return std::make_shared<Alignment>(block, width, feature_net(target), train, hidden);
}

}  // namespace

namespace {

// The backbone of the run, seeded (torch::manual_seed(cfg.seed)), and its options.
Backbone build_model(const RunConfig& cfg, const Objective& obj, const TrainData& td, const RunData& data,
                     BackboneOptions* bo, const Log& log) {
  torch::manual_seed(cfg.seed);
  *bo = run_backbone_options(cfg, obj, td, data.train.h, data.train.w, data.classes);
  Backbone model = make_backbone(cfg.model.name, *bo);
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();
  log(fmt::format("backbone {}: {:.2f}M parameters, {} feature points", cfg.model.name, n_params / 1e6,
                  model->blocks()));
  return model;
}

// Pre-train `model` by the run's method (the denoising step, or a baseline
// of methods/), then keep it (results/models/) with its budget. Returns
// early (st.train not Done) when training failed or was stopped.
void pretrain(const RunConfig& cfg, EncoderStage& st, Backbone& model, const BackboneOptions& bo, Tokenizer& tok,
              const TrainData& td, const RunData& data, const std::string& dir, const RunContext& ctx,
              torch::Device device, const FeatureNetSource& feature_net, const Log& log) {
  Trainer trainer(cfg, model, st.schedule, device);
  trainer.set_communicator(ctx.comm);
  trainer.set_live(ctx.live);
  if (cfg.objective.align_weight > 0)
    trainer.set_alignment(make_alignment(cfg, model, bo, data.train, feature_net, log));
  Method method = cfg.method.name == "denoise"
                      ? Method(nullptr)
                      : make_method(cfg, method_context(cfg, bo, model, tok, data.train,
                                                        trainer.total_steps(td.z0.size(0)), device));
  if (method) {
    trainer.set_method(method);
    int64_t n = 0;
    for (const auto& p : method->trained_parameters()) n += p.numel();
    log(fmt::format("method {}: {} trained parameters in its heads", cfg.method.name, n));
  }
  st.train = trainer.train(td, dir + "/ckpt/last.pt", ctx.stop, log, ctx.max_steps);
  st.loss = st.train.loss_curve;
  if (st.train.status != TrainResult::Done) return;
  // Budget: every step drew train.batch images; FLOPs from the backbone's
  // count of one pass (methods: of all their passes), 2 per multiply-add.
  const double macs = method ? method->train_macs_per_image(*model)
                             : 3 * model->forward_macs(bo.grid_h * bo.grid_w / (bo.patch * bo.patch), model->blocks());
  const double images = double(st.train.steps) * double(cfg.train.batch);
  st.budget = {images, macs > 0 ? 2 * macs * images : -1, st.train.total_seconds};
  trainer.use_ema();
  if (method) method->finish(model);
  if (!ctx.comm || ctx.comm->rank() == 0) {
    save_trained_model(trained_model_path(cfg, ctx.results), model, st.loss, st.budget);
    log("trained model kept in " + trained_model_path(cfg, ctx.results));
  }
}

// The tokenizer that stages reading images per batch (streamed training and
// probe features, Sec. 5's crops, probe.augment's view) go through, made
// once per run: on a GPU a copy loaded from the tokenizer's file
// (fitted_tokenizer wrote it) and moved there, so each batch goes up as
// uint8 and is tokenized where it is trained on; on the CPU the run's own,
// or a copy where one is kept past the run's tokenizer (probe.augment's
// view lives until the probe). Runs that read no batch borrow the run's own.
std::shared_ptr<const Tokenizer> batch_tokenizer(const RunConfig& cfg, const Tokenizer& tok, const RunData& data,
                                                 const std::string& results, torch::Device device) {
  const bool view = cfg.probe.augment == "rrc_flip";
  const bool per_batch = data.streamed || cfg.data.augment == "rrc_flip" || view;
  if (!per_batch || (!device.is_cuda() && !view))
    return std::shared_ptr<const Tokenizer>(&tok, [](const Tokenizer*) {});
  const int channels = data.train.c;
  std::shared_ptr<Tokenizer> copy = make_tokenizer(cfg.tokenizer, channels);
  copy->load(tokenizer_path(cfg, results, tok.wants_perceptual_net()));
  copy->to(device);
  return copy;
}

// Latents of rows [lo, hi) of a split read from its batches, tokenized
// kStreamRows images at a time (a 1,024-row probe batch at 256 px would be
// 0.8 GB of float images at once) on the tokenizer's device.
TokenRows token_rows(std::shared_ptr<const Tokenizer> tok, const ImageBatches& images, torch::Device device) {
  return [tok, images, device](int64_t lo, int64_t hi) {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> parts;
    for (int64_t i = lo; i < hi; i += kStreamRows)
      parts.push_back(tok->encode(images.rows(i, std::min(i + kStreamRows, hi)).to(device)));
    return parts.size() == 1 ? parts[0] : torch::cat(parts);
  };
}

// probe.augment = "rrc_flip" (MAE's main_linprobe): the features of
// training images idx as the probe trains on them, each batch a fresh
// RandomResizedCrop (scale 0.08-1, MAE's torchvision default) + flip, read,
// tokenized and passed through the frozen encoder kViewRows images at a
// time (a probe batch of 16,384 at 256 px is 13 GB of float images; whole
// images: the next chunk's crops cut meanwhile, for_each_crop_chunk), on
// the run's device (bf16 there under train.bf16). A noisy probe draws fresh
// noise per chunk. -> (b, F) on the device.
// on_device: batch_tokenizer's (an owned copy: the view outlives the run's tokenizer).
TrainView probe_train_view(const RunConfig& cfg, const EncoderStage& st,
                           std::shared_ptr<const Tokenizer> on_device, const RunData& data, torch::Device device,
                           double sigma) {
  constexpr int64_t kViewRows = 256;
  auto chunks = std::make_shared<uint64_t>(0);
  return [cfg, model = st.model, V = st.V, block = st.block, t = st.t_read, gamma = st.gamma, on_device, chunks,
          train = data.train, device, sigma](const torch::Tensor& idx) mutable {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> parts;
    // Whole images on a GPU: the next chunk's crops are cut while this one
    // runs through the encoder (a CPU's cores run the encoder already).
    for_each_crop_chunk(train, idx.to(torch::kCPU), kViewRows, kProbeCropScale, 1.0, device,
                        [&](const torch::Tensor& crops) {
                          auto z = on_device->encode(crops);
                          parts.push_back(encoder_features(model, z, V, block, t, gamma, sigma, cfg.probe.noisy,
                                                           z.size(0), device,
                                                           step_seed(uint64_t(cfg.seed) + 4, (*chunks)++), {0, -1},
                                                           cfg.probe.pool, cfg.train.bf16));
                        },
                        device.is_cuda());
    return torch::cat(parts).to(device);
  };
}

// The probe features of the encoder: the backbone through the probe's
// feature point, at the probe's t (a baseline's: 0, clean input), pooled.
// on_device: batch_tokenizer's (streamed rows and the probe's view).
void read_features(const RunConfig& cfg, EncoderStage& st, Backbone& model, const BackboneOptions& bo,
                   const Tokenizer& tok, const std::shared_ptr<const Tokenizer>& on_device, const TrainData& td,
                   const RunData& data, const RunContext& ctx, torch::Device device, const Log& log) {
  st.options = bo;
  set_probe_reading(cfg, st);
  const int64_t blocks = st.block, t_read = st.t_read;
  const double gamma = st.gamma, sigma = st.sigma;
  log(fmt::format("probe reads {} {} ({} channels) at t = {}, pooled by {}", cfg.model.name,
                  model->block_name(blocks), pooled_width(model->feature_width(blocks), cfg.probe.pool), t_read,
                  cfg.probe.pool));
  auto V = st.objective.image_space ? td.V : torch::Tensor();
  // Resident: the latents made once (the training set's are td.z0);
  // streamed: each batch of rows read and tokenized as the probe reaches it.
  TokenRows train_z0, test_z0;
  if (data.streamed) {
    train_z0 = token_rows(on_device, data.train, device), test_z0 = token_rows(on_device, data.test, device);
  } else {
    torch::Tensor test_all;
    {
      torch::NoGradGuard ng;
      test_all = tok.encode(data.test_img);
    }
    train_z0 = [z = td.z0](int64_t lo, int64_t hi) { return z.slice(0, lo, hi); };
    test_z0 = [z = test_all](int64_t lo, int64_t hi) { return z.slice(0, lo, hi); };
  }
  // Streamed: 128 rows at a time through the network (memory bounded by
  // that, not by the 1,024-row batch); resident: whole batches, as recorded runs were.
  const int64_t forward_rows = data.streamed ? kStreamRows : 0;
  st.f_train = gathered_features(model, train_z0, data.train.n, V, blocks, t_read, cfg, gamma, sigma, device,
                                 cfg.seed + 1, forward_rows, ctx.comm);
  st.f_test = gathered_features(model, test_z0, data.test.n, V, blocks, t_read, cfg, gamma, sigma, device,
                                cfg.seed + 2, forward_rows, ctx.comm);
  st.model = model, st.V = V;
  if (cfg.probe.augment == "rrc_flip")
    st.train_view = probe_train_view(cfg, st, on_device, data, device, sigma);
}

}  // namespace

namespace {

// The whole-image crops' seeds (data.whole_images with data.augment =
// rrc_flip) are a stream apart from the run's other (seed, counter) uses
// (EpochOrder 1 << 40, fine-tuning's augmentation 1 << 41).
constexpr uint64_t kWholeCropStream = uint64_t(1) << 42;

// td.batch: latents made per batch. Streamed images as they are read, by a
// loader that reads ahead (the denoising step: td.begin hands it the
// trainer's order; pinned batches on a GPU); with Sec. 5's augmentation a
// fresh random resized crop + flip every batch. Images, crop and tokenizer
// are on the training device. (Data parallel: each rank crops its own
// slice, so augmented runs match one process in distribution, not bit for
// bit; with data.whole_images the loader cuts the crops, each image's from
// (step, its place in the global batch), so ranks crop as one process does.)
void streamed_batches(const RunConfig& cfg, std::shared_ptr<const Tokenizer> tok, const RunData& data,
                      TrainData& td, torch::Device device) {
  auto ahead = std::make_shared<std::unique_ptr<BatchLoader>>();
  const bool crop = cfg.data.augment == "rrc_flip", whole_crop = crop && data.train.whole;
  if (data.streamed && cfg.method.name == "denoise")
    td.begin = [ahead, set = data.train_set, pin = device.is_cuda(), whole_crop,
                seed = step_seed(uint64_t(cfg.seed), kWholeCropStream)](
                   const EpochOrder& order, int64_t offset, int64_t count, int64_t first, int64_t end) {
      constexpr int kThreads = 4, kDepth = 4;  // batches read at once, batches held ready
      // Whole-image crops are the loader's work (a bicubic resize per image):
      // each of the kThreads batches read at once takes its share of the cores.
      std::optional<BatchLoader::Crops> crops;
      if (whole_crop)
        crops = BatchLoader::Crops{kDataCropScale, 1.0, seed, std::max(1, at::get_num_threads() / kThreads)};
      *ahead = std::make_unique<BatchLoader>(*set, order, offset, count, first, kThreads, kDepth, pin, end, crops);
    };
  // The original-image target alone reads x' (B, L, D): 50 MB a batch of 64 at 256 px.
  const bool need_x = tok->is_linear() && make_objective(cfg.objective).target == Target::OriginalImage;
  td.batch = [tok, ahead, train = data.train, normalize = cfg.data.normalize, need_x, crop, whole_crop,
              device](const torch::Tensor& idx) {
    torch::NoGradGuard ng;
    torch::Tensor im;
    if (*ahead) {
      auto b = (*ahead)->next();
      // The trainer asks for its order's batches; anything else is read here.
      if (torch::equal(b.idx, idx)) {
        im = images_to_float(b.images.to(device, /*non_blocking=*/true), normalize);
        if (crop && !whole_crop) im = random_resized_crop_flip(im, kDataCropScale);  // whole: the loader's crops
      }
    }
    if (!im.defined()) im = crop ? crop_images(train, idx, kDataCropScale, 1.0, 0, device) : train.read(idx).to(device);
    return std::make_pair(tok->encode(im), need_x ? tok->to_patch_space(im) : torch::Tensor());
  };
}

}  // namespace

void set_probe_reading(const RunConfig& cfg, EncoderStage& st) {
  const bool denoise = cfg.method.name == "denoise";
  st.block = cfg.probe.block >= 0 ? cfg.probe.block : st.options.split;
  st.t_read = denoise ? cfg.probe.t : 0;
  st.gamma = st.objective.input_scaling && denoise ? st.schedule.gamma.at(cfg.probe.t) : 1.0;
  st.sigma = denoise ? st.schedule.sigma.at(cfg.probe.t) : 0.0;
}

EncoderStage train_and_featurize(const RunConfig& cfg, Tokenizer& tok, TrainData& td, const RunData& data,
                                 const std::string& dir, bool reuse, const RunContext& ctx, torch::Device device,
                                 const FeatureNetSource& feature_net, const Log& log) {
  EncoderStage st;
  const auto on_device = batch_tokenizer(cfg, tok, data, ctx.results, device);
  if (cfg.data.augment == "rrc_flip" || data.streamed) streamed_batches(cfg, on_device, data, td, device);
  st.objective = make_objective(cfg.objective);
  st.schedule = make_schedule(cfg.noise);
  BackboneOptions bo;
  Backbone model = build_model(cfg, st.objective, td, data, &bo, log);
  // Runs that differ only in probe.* / eval.* keys share one trained
  // model (appendix sweeps over the probe's t and block train once).
  if (cfg.probe.features == "untrained_encoder") {
    // The anchor row: the same encoder and probe, no pre-training.
    model->to(device);
    st.train.status = TrainResult::Done;
    log(fmt::format("no pre-training: the encoder at its initialization (seed {})", cfg.seed));
  } else if (reuse && reuse_trained_model(cfg, st, model, ctx.results, device, log)) {
    st.reused = true;
    if (ctx.model_ready) ctx.model_ready();
  } else {
    // A kept model that cannot be read is trained again from the same
    // initialization (build_model seeds): the run is the one a fresh
    // results folder gives. Every rank reads the same file and so takes
    // the same branch; rank 0 replaces the file when training ends.
    if (reuse) model = build_model(cfg, st.objective, td, data, &bo, [](const std::string&) {});
    pretrain(cfg, st, model, bo, tok, td, data, dir, ctx, device, feature_net, log);
    if (st.train.status != TrainResult::Done) return st;
    if (ctx.model_ready) ctx.model_ready();
  }
  read_features(cfg, st, model, bo, tok, on_device, td, data, ctx, device, log);
  return st;
}

// Clean latents for every training image (and, for linear tokenizers, the
// normalised patches and bases the image-space objectives need).
TrainData prepare_train_data(const Tokenizer& tok, const torch::Tensor& images,
                             const torch::Tensor& labels) {
  torch::NoGradGuard ng;
  TrainData td;
  td.labels = labels;
  td.z0 = tok.encode(images);  // (N, L, d)
  if (tok.is_linear()) {
    td.x = tok.to_patch_space(images);  // (N, L, D)
    td.V = tok.V();
    td.V_full = tok.basis();
  }
  return td;
}

TrainData prepare_train_data(const Tokenizer& tok, const RunData& data) {
  if (!data.streamed) return prepare_train_data(tok, data.train_img, data.train_y);
  // Streamed: the latents are made per batch (td.batch, set by
  // train_and_featurize); z0 and x keep only their shapes (meta tensors,
  // no memory), from one image tokenized now.
  TrainData td = prepare_train_data(tok, data.train.rows(0, 1), data.train_y.slice(0, 0, 1));
  auto meta = [n = data.train.n](const torch::Tensor& t) {
    return t.defined() ? torch::empty({n, t.size(1), t.size(2)}, torch::TensorOptions(t.dtype()).device(torch::kMeta))
                       : t;
  };
  td.z0 = meta(td.z0), td.x = meta(td.x);
  td.labels = data.train_y;
  return td;
}

// The backbone's options: token widths from the tokenizer and objective,
// the token grid from the image size, the rest from the model config.
BackboneOptions run_backbone_options(const RunConfig& cfg, const Objective& obj, const TrainData& td,
                                     int64_t H, int64_t W, int64_t classes) {
  BackboneOptions o = backbone_options(cfg, H / cfg.tokenizer.patch, W / cfg.tokenizer.patch);
  const int64_t d = td.z0.size(2), D = td.x.defined() ? td.x.size(2) : d;
  o.in_dim = obj.image_space ? D : d;
  o.out_dim = output_dim(obj, d, D);
  o.num_classes = cfg.model.class_cond ? classes : 0;
  return o;
}

// A tokenizer depends on the data keys (but data.augment: cache_key_config)
// and the tokenizer keys; one with a perceptual
// loss also on its feature network; with tokenizer.per_seed, on the run's
// seed too (seed s fits from s; otherwise every seed shares the seed-0 fit).
std::string tokenizer_path(const RunConfig& cfg, const std::string& results, bool wants_perceptual_net) {
  std::string key = section_text(cache_key_config(cfg), {"data.", "tokenizer."});
  // A plugin's tokenizer keeps its settings in its own section: count them.
  if (!has_tokenizer_builtin(cfg.tokenizer.name)) key += plugin_text(cfg);
  if (wants_perceptual_net)
    key += fmt::format("perceptual = {} {}\n", cfg.tokenizer.perceptual_net, cfg.eval.classifier_epochs);
  if (cfg.tokenizer.per_seed) key += fmt::format("fit seed = {}\n", cfg.seed);
  return fmt::format("{}/tokenizers/{}-{}.h5", results, cfg.tokenizer.name, fnv1a_hex(key));
}

Backbone load_run_model(const RunConfig& cfg, const RunParts& parts, const std::string& results) {
  const std::string path = trained_model_path(cfg, results);
  if (!fs::exists(path))
    throw InputError(fmt::format("{}: the run has no trained model (not finished, or a raw-pixel "
                                 "anchor); finish it with run_sweep first", path));
  TrainData td = prepare_train_data(*parts.tok, parts.train.rows(0, 2), parts.train_y.slice(0, 0, 2));
  const Objective obj = make_objective(cfg.objective);
  Backbone model = make_backbone(
      cfg.model.name, run_backbone_options(cfg, obj, td, parts.train.h, parts.train.w, parts.classes));
  std::vector<std::array<double, 3>> curve;
  try {
    load_trained_model(path, model, &curve, torch::kCPU);
  } catch (const InputError& e) {
    // A finished run is never retrained by run_sweep: the run goes too.
    throw InputError(fmt::format("{}: {}; run_sweep does not retrain a finished run: delete {} and {}, then rerun "
                                 "its sweep", path, reason_about(e.what(), path), run_dir(results, run_id(cfg)), path));
  }
  model->eval();
  return model;
}

}  // namespace ldae
