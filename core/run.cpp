#include "core/filesystem.hpp"
#include "core/stop.hpp"
#include "core/atomic_file.hpp"
#include "core/run.hpp"

#include <H5public.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <Eigen/Core>
#include <toml++/toml.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "core/augment.hpp"
#include "core/data.hpp"
#include "backbones/backbone.hpp"
#include "core/alignment.hpp"
#include "core/feature_net.hpp"
#include "core/fid.hpp"
#include "core/noise.hpp"
#include "core/objective.hpp"
#include "core/module_h5.hpp"
#include "core/records.hpp"
#include "core/registry.hpp"
#include "core/build_info.hpp"
#include "core/sampler.hpp"
#include "core/sweep.hpp"
#include "core/stop.hpp"
#include "core/trainer.hpp"
#include "core/plugins.hpp"
#include "probes/knn_probe.hpp"
#include "probes/finetune.hpp"
#include "probes/linear_probe.hpp"
#include "tokenizers/tokenizer.hpp"

namespace ldae {
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

std::string git_commit() {
  static const std::string commit = [] {
    std::string out;
    if (FILE* p = popen("git -C '" LDAE_SOURCE_DIR "' describe --always --dirty --abbrev=12 2>/dev/null", "r")) {
      char buf[128];
      while (fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out.empty() ? std::string(LDAE_GIT_COMMIT) : out;
  }();
  return commit;
}

std::string run_status(const std::string& results, const std::string& id) {
  return listed_status(run_dir(results, id));
}

namespace {

double secs_since(clk::time_point t) {
  return std::chrono::duration<double>(clk::now() - t).count();
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Images as float (N, C, H, W) in [-1, 1] (or [0, 1]).
torch::Tensor to_float(const ImageSet& s, bool normalize) {
  auto t = torch::from_blob(const_cast<uint8_t*>(s.pixels.data()), {s.n, s.c, s.h, s.w},
                            torch::kUInt8)
               .to(torch::kFloat32) / 255.0;
  return normalize ? t * 2.0 - 1.0 : t;
}

torch::Tensor to_labels(const ImageSet& s) {
  return torch::tensor(s.labels, torch::kLong);
}

// Lines of canonical(cfg) that start with one of the prefixes.
std::string section_text(const RunConfig& cfg, std::initializer_list<const char*> prefixes) {
  std::string out, line;
  std::istringstream in(canonical(cfg));
  while (std::getline(in, line))
    for (const char* p : prefixes)
      if (line.rfind(p, 0) == 0) out += line + "\n";
  return out;
}

// The canonical lines of plugin axes (keys set away from their defaults).
std::string plugin_text(const RunConfig& cfg) {
  std::string out;
  for (const auto& [key, v] : cfg.ext) out += key + " = " + value_str(v) + "\n";
  return out;
}

// A sweep runs many rows over the same data: load each data config once per
// process. Subsets are sampled with a fixed seed so every seed of a row sees
// the same images and seeds vary only the training.
const Dataset& cached_dataset(const DataConfig& c, const std::string& results) {
  static std::mutex mu;
  static std::map<std::string, Dataset> cache;
  RunConfig key_cfg;
  key_cfg.data = c;
  key_cfg.data.fingerprint.clear();  // the data it names, not its identity
  const std::string key = section_text(key_cfg, {"data."}) + "path = " + c.path;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, load_dataset(c, LoadContext{0, results + "/cache"})).first;
  return it->second;
}

}  // namespace

DataSize prepared_data_size(const DataConfig& c, const std::string& results) {
  const Dataset& d = cached_dataset(c, results);
  return {d.train.n, d.test.n};
}

std::string prepared_data_fingerprint(const DataConfig& c, const std::string& results) {
  if (!data_needs_fingerprint(c)) return "";
  static std::mutex mu;
  static std::map<const Dataset*, std::string> memo;
  const Dataset& d = cached_dataset(c, results);
  std::lock_guard<std::mutex> lock(mu);
  auto it = memo.find(&d);
  if (it == memo.end()) it = memo.emplace(&d, dataset_fingerprint(d)).first;
  return it->second;
}

size_t attach_data_fingerprints(std::vector<PlannedRun>& plan, const std::string& results,
                                bool skip_absent) {
  size_t skipped = 0;
  for (auto& p : plan) {
    if (!data_needs_fingerprint(p.cfg.data)) continue;
    if (skip_absent) {
      try {
        check_data_available(p.cfg.data);
      } catch (const InputError&) {
        ++skipped;
        continue;
      }
    }
    p.cfg.data.fingerprint = prepared_data_fingerprint(p.cfg.data, results);
    p.id = run_id(p.cfg);
  }
  return skipped;
}

namespace {

// Fit once per (data, tokenizer) config and share the file across runs.
std::unique_ptr<Tokenizer> fitted_tokenizer(const RunConfig& cfg, const torch::Tensor& train,
                                            const std::string& results,
                                            const std::function<std::shared_ptr<FeatureNet>()>& perceptual,
                                            const std::function<void(const std::string&)>& log,
                                            double* fit_s) {
  auto tok = make_tokenizer(cfg.tokenizer, int(train.size(1)));
  const std::string path = tokenizer_path(cfg, results, tok->wants_perceptual_net());
  const uint64_t fit_seed = cfg.tokenizer.per_seed ? uint64_t(cfg.seed) : 0;
  const auto t0 = clk::now();
  if (fs::exists(path)) {
    tok->load(path);
    log("tokenizer loaded from " + path);
  } else {
    if (tok->wants_perceptual_net()) tok->set_perceptual_net(perceptual());
    tok->fit(train, fit_seed);
    write_file_atomically(path, [&](const std::string& tmp) { tok->save(tmp); });
    log(fmt::format("tokenizer {} fitted (seed {}) in {:.2f} s -> {}", cfg.tokenizer.name, fit_seed,
                    secs_since(t0), path));
  }
  *fit_s = secs_since(t0);
  return tok;
}

// FID of n generated images against the first n test images, in the
// features of the frozen network; also returns the first 64 samples.
double generation_fid(Backbone& model, const Schedule& schedule, const Objective& obj,
                      const Tokenizer& tok, const torch::Tensor& test_img, FeatureNet& net,
                      const RunConfig& cfg, int64_t classes, int64_t L, int64_t d,
                      torch::Device device, torch::Tensor* samples_out) {
  SampleOptions so;
  so.n = std::min<int64_t>(cfg.eval.fid_samples, test_img.size(0));
  so.steps = cfg.eval.sample_steps;
  so.eta = cfg.eval.sampler == "ddpm" ? 1.0 : 0.0;
  so.classes = cfg.model.class_cond ? classes : 0;
  so.seed = step_seed(uint64_t(cfg.seed), 1ull << 50);
  auto z = sample_latents(model, schedule, obj, L, d, so, device);
  torch::NoGradGuard ng;
  auto images = tok.decode(z).clamp(-1.0, 1.0);
  *samples_out = images.slice(0, 0, 64);
  auto feats = [&](const torch::Tensor& x) {
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < x.size(0); i += 512) {
      check_stop("FID feature extraction");
      out.push_back(net.pooled(x.slice(0, i, std::min(i + 512, x.size(0)))).to(torch::kFloat64));
    }
    auto f = torch::cat(out).contiguous();
    return Eigen::MatrixXd(Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        f.data_ptr<double>(), f.size(0), f.size(1)));
  };
  return frechet_distance(fit_gaussian(feats(images)), fit_gaussian(feats(test_img.slice(0, 0, so.n))));
}

// results/models/<hash of every key but probe.* and eval.*, + seed>.pt
// (plugin axes count: they may change training).
std::string trained_model_path(const RunConfig& cfg, const std::string& results) {
  const std::string key =
      section_text(cfg, {"data.", "tokenizer.", "noise.", "objective.", "model.", "train.", "method.", "mae.",
                         "moco.", "dino."}) +
      plugin_text(cfg);
  return fmt::format("{}/models/{}.pt", results, fnv1a_hex(key + "seed = " + std::to_string(cfg.seed)));
}

// The pre-training budget kept with a trained model, so a run that reuses
// it reports what it cost: images seen, model FLOPs (-1 = not counted), seconds.
using Budget = std::array<double, 3>;

void save_trained_model(const std::string& path, Backbone& model,
                        const std::vector<std::array<double, 3>>& curve, const Budget& budget) {
  torch::serialize::OutputArchive ar, model_ar;
  model->save(model_ar);
  ar.write("model", model_ar);
  std::vector<double> flat;
  for (const auto& r : curve) flat.insert(flat.end(), r.begin(), r.end());
  ar.write("loss_curve", torch::tensor(flat, torch::kFloat64));
  ar.write("budget", torch::tensor(std::vector<double>(budget.begin(), budget.end()), torch::kFloat64));
  write_archive_atomically(path, ar,
                        parameter_bytes(model->parameters()));
}

void load_trained_model(const std::string& path, Backbone& model,
                        std::vector<std::array<double, 3>>* curve, torch::Device device,
                        Budget* budget = nullptr) {
  try {
    torch::serialize::InputArchive ar, model_ar;
    ar.load_from(path);
    ar.read("model", model_ar);
    model->load(model_ar);
    model->to(device);
    torch::Tensor c;
    ar.read("loss_curve", c);
    c = c.contiguous();
    curve->clear();
    for (int64_t i = 0; i + 2 < c.numel(); i += 3)
      curve->push_back({c[i].item<double>(), c[i + 1].item<double>(), c[i + 2].item<double>()});
    torch::Tensor b;  // models saved before budgets were recorded have none
    if (budget && ar.try_read("budget", b) && b.numel() == 3)
      *budget = {b[0].item<double>(), b[1].item<double>(), b[2].item<double>()};
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("{}: unreadable trained model ({}); delete it to retrain",
                                 path, std::string(e.what_without_backtrace()).substr(0, 160)));
  }
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
    throw InputError("train.device = \"cuda\" but this LibTorch sees no CUDA device; use "
                     "\"auto\" or \"cpu\"");
  if (want == "cpu" || !torch::cuda::is_available()) return torch::kCPU;
  const int64_t n = int64_t(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, comm ? c10::DeviceIndex(comm->local_rank() % n) : 0);
}

// CPU threads of a run: --threads, else train.threads, else all cores.
int run_threads(const RunConfig& cfg, const RunContext& ctx) {
  return ctx.threads > 0 ? ctx.threads
         : cfg.train.threads > 0 ? cfg.train.threads
                                 : int(std::max(1u, std::thread::hardware_concurrency()));
}

// Data parallel: what rank 0 tells the other ranks once it holds a run.
constexpr int64_t kStageAbort = 0, kStageTrain = 1, kStageReuse = 2, kStageRawPixels = 3;

// Probe features of every row of z0. Data parallel: each rank computes a
// contiguous shard of whole batches and rank 0 gathers them in order (other
// ranks get an undefined tensor); the rows are one process's, bit for bit.
torch::Tensor gathered_features(Backbone& model, const torch::Tensor& z0, const torch::Tensor& V,
                                int64_t blocks, int64_t t, const RunConfig& cfg, double gamma, double sigma,
                                torch::Device device, uint64_t seed,
                                const std::shared_ptr<Communicator>& comm) {
  constexpr int64_t batch = 1024;
  auto features = [&](std::pair<int64_t, int64_t> rows) {
    return encoder_features(model, z0, V, blocks, t, gamma, sigma, cfg.probe.noisy,
                            batch, device, seed, rows, cfg.probe.pool);
  };
  if (!comm) return features({0, -1});
  const int64_t N = z0.size(0);
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

// What every data-parallel rank does for a run, in the same order: the
// tokenized training set, the denoiser (trained, or a trained one reused),
// and the probe features (all of them on rank 0). Rank 0 alone writes.
struct EncoderStage {
  TrainResult train;              // status Done with steps 0 when reused
  bool reused = false;
  std::vector<std::array<double, 3>> loss;
  torch::Tensor f_train, f_test;  // (N, W) on rank 0 / one process
  Backbone model{nullptr};             // trained (EMA weights) or reused
  Budget budget{-1, -1, -1};          // images seen, model FLOPs, seconds of pre-training
  BackboneOptions options;            // what the model was built from
  int64_t block = 0, t_read = 0;      // the encoder's end, the time it is read at
  double gamma = 1;                   // input scale at t_read (denoise with input scaling)
  torch::Tensor V;                    // image-space objectives: tokens -> input map (d, D)
  Schedule schedule;
  Objective objective;
};

using FeatureNetSource = std::function<std::shared_ptr<FeatureNet>(const std::string&)>;

// What a baseline method (methods/) reads from the run: the training images
// (host), the tokenizer, fresh backbones of the run's options, the encoder's
// end (the probe's feature point) and the step counts of its schedules.
MethodContext method_context(const RunConfig& cfg, const BackboneOptions& bo, Backbone& model, Tokenizer& tok,
                             const torch::Tensor& train_img, int64_t total_steps, torch::Device device) {
  MethodContext c;
  c.images = train_img;
  c.normalized = cfg.data.normalize;
  c.encode = [&tok](const torch::Tensor& x) {
    torch::NoGradGuard ng;
    return tok.encode(x);
  };
  c.make_backbone = [name = cfg.model.name, bo] { return make_backbone(name, bo); };
  c.backbone = bo;
  c.block = cfg.probe.block >= 0 ? cfg.probe.block : bo.split;
  c.feature_width = model->feature_width(c.block);
  c.pool = cfg.probe.pool;
  c.steps_per_epoch = std::max<int64_t>(1, train_img.size(0) / cfg.train.batch);
  c.total_steps = total_steps;
  c.device = device;
  return c;
}

// Representation alignment's target and projector (core/alignment.hpp) for
// `model` built with options bo; `feature_net` gives a network target.
std::shared_ptr<Alignment> make_alignment(const RunConfig& cfg, Backbone& model, const BackboneOptions& bo,
                                          const torch::Tensor& train_img, const FeatureNetSource& feature_net,
                                          const std::function<void(const std::string&)>& log) {
  const int64_t block = cfg.objective.align_block >= 0 ? cfg.objective.align_block : bo.split;
  const int64_t width = model->feature_width(block);
  const std::string& target = cfg.objective.align_target;
  log(fmt::format("alignment (REPA): {} {} ({} channels) -> projector -> {} target, weight {}",
                  cfg.model.name, model->block_name(block), width, target, cfg.objective.align_weight));
  if (target == "ema") return std::make_shared<Alignment>(block, width, make_backbone(cfg.model.name, bo));
  return std::make_shared<Alignment>(block, width, feature_net(target), train_img);
}

EncoderStage train_and_featurize(const RunConfig& cfg, Tokenizer& tok, TrainData& td,
                                 const torch::Tensor& train_img, const torch::Tensor& test_img,
                                 int64_t classes, const std::string& dir, bool reuse,
                                 const RunContext& ctx, torch::Device device,
                                 const FeatureNetSource& feature_net,
                                 const std::function<void(const std::string&)>& log) {
  EncoderStage st;
  if (cfg.data.augment == "rrc_flip") {
    // Sec. 5: every batch is a fresh random resized crop + flip, tokenized
    // anew. (Data parallel: each rank crops its own slice, so augmented runs
    // match one process in distribution, not bit for bit.)
    td.batch = [&tok, train_img](const torch::Tensor& idx) {
      torch::NoGradGuard ng;
      auto im = random_resized_crop_flip(train_img.index_select(0, idx));
      return std::make_pair(tok.encode(im), tok.is_linear() ? tok.to_patch_space(im) : torch::Tensor());
    };
  }
  const Objective obj = make_objective(cfg.objective);
  torch::manual_seed(cfg.seed);
  const BackboneOptions bo = run_backbone_options(cfg, obj, td, train_img.size(2), train_img.size(3), classes);
  Backbone model = make_backbone(cfg.model.name, bo);
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();
  log(fmt::format("backbone {}: {:.2f}M parameters, {} feature points", cfg.model.name, n_params / 1e6,
                  model->blocks()));
  const Schedule schedule = make_schedule(cfg.noise);
  // Runs that differ only in probe.* / eval.* keys share one trained
  // model (appendix sweeps over the probe's t and block train once).
  const std::string model_path = trained_model_path(cfg, ctx.results);
  if (cfg.probe.features == "untrained_encoder") {
    // The anchor row: the same encoder and probe, no pre-training.
    model->to(device);
    st.train.status = TrainResult::Done;
    log(fmt::format("no pre-training: the encoder at its initialization (seed {})", cfg.seed));
  } else if (reuse) {
    load_trained_model(model_path, model, &st.loss, device, &st.budget);
    st.reused = true;
    log("trained model reused from " + model_path);
  } else {
    Trainer trainer(cfg, model, schedule, device);
    trainer.set_communicator(ctx.comm);
    if (cfg.objective.align_weight > 0)
      trainer.set_alignment(make_alignment(cfg, model, bo, train_img, feature_net, log));
    Method method = cfg.method.name == "denoise"
                        ? Method(nullptr)
                        : make_method(cfg, method_context(cfg, bo, model, tok, train_img,
                                                          trainer.total_steps(td.z0.size(0)), device));
    if (method) {
      trainer.set_method(method);
      log(fmt::format("method {}: {:.2f}M parameters in its heads", cfg.method.name,
                      double(parameter_bytes(method->trained_parameters())) / 4e6));
    }
    st.train = trainer.train(td, dir + "/ckpt/last.pt", ctx.stop, log, ctx.max_steps);
    st.loss = st.train.loss_curve;
    if (st.train.status != TrainResult::Done) return st;
    // Budget: every step drew train.batch images; FLOPs from the backbone's
    // count of one pass (methods: of all their passes), 2 per multiply-add.
    const double macs = method ? method->train_macs_per_image(*model)
                               : 3 * model->forward_macs(bo.grid_h * bo.grid_w / (bo.patch * bo.patch),
                                                         model->blocks());
    const double images = double(st.train.steps) * double(cfg.train.batch);
    st.budget = {images, macs > 0 ? 2 * macs * images : -1, st.train.total_seconds};
    trainer.use_ema();
    if (method) method->finish(model);
    if (!ctx.comm || ctx.comm->rank() == 0) save_trained_model(model_path, model, st.loss, st.budget);
  }
  const int64_t blocks = cfg.probe.block >= 0 ? cfg.probe.block : bo.split;
  // A baseline trained, and is read, at t = 0 with clean input.
  const bool denoise = cfg.method.name == "denoise";
  const int64_t t_read = denoise ? cfg.probe.t : 0;
  log(fmt::format("probe reads {} {} ({} channels) at t = {}, pooled by {}", cfg.model.name,
                  model->block_name(blocks), model->feature_width(blocks), t_read, cfg.probe.pool));
  const double gamma = obj.input_scaling && denoise ? schedule.gamma.at(cfg.probe.t) : 1.0;
  const double sigma = denoise ? schedule.sigma.at(cfg.probe.t) : 0.0;
  auto V = obj.image_space ? td.V : torch::Tensor();
  torch::Tensor test_z0;
  {
    torch::NoGradGuard ng;
    test_z0 = tok.encode(test_img);
  }
  st.f_train = gathered_features(model, td.z0, V, blocks, t_read, cfg, gamma, sigma, device, cfg.seed + 1, ctx.comm);
  st.f_test = gathered_features(model, test_z0, V, blocks, t_read, cfg, gamma, sigma, device, cfg.seed + 2, ctx.comm);
  st.model = model;
  st.options = bo;
  st.block = blocks;
  st.t_read = t_read;
  st.gamma = gamma;
  st.V = V;
  st.schedule = schedule;
  st.objective = obj;
  return st;
}

// Fine-tuning (probes/finetune.hpp) of a copy of the run's encoder, read as
// the probe reads it: the tokenizer's tokens (mapped to image space when the
// objective works there), scaled by gamma_t, at the probe's t.
FinetuneResult finetune_stage(const RunConfig& cfg, EncoderStage& st, Tokenizer& tok, const torch::Tensor& train_img,
                              const torch::Tensor& train_y, const torch::Tensor& test_img, const torch::Tensor& test_y,
                              int64_t classes, torch::Device device, const std::function<void(const std::string&)>& log) {
  FinetuneData fd;
  fd.train_img = train_img, fd.train_y = train_y, fd.test_img = test_img, fd.test_y = test_y;
  fd.normalized = cfg.data.normalize;
  fd.classes = classes;
  const torch::Tensor V = st.V.defined() ? st.V.cpu() : st.V;
  fd.tokens = [&tok, V](const torch::Tensor& images) {
    torch::NoGradGuard ng;
    auto z = tok.encode(images);
    return V.defined() ? torch::matmul(z, V) : z;
  };
  log(fmt::format("fine-tuning {} through {} for {} epochs (batch {}, base lr {}, layer decay {})", cfg.model.name,
                  st.model->block_name(st.block), cfg.eval.finetune_epochs, cfg.eval.finetune_batch,
                  cfg.eval.finetune_lr, cfg.eval.finetune_layer_decay));
  return finetune(copy_backbone(cfg.model.name, st.options, st.model), st.block, st.t_read, st.gamma, cfg.probe.pool,
                  fd, cfg.eval, cfg.train.bf16, uint64_t(cfg.seed) + 3, device, log);
}

}  // namespace

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

// A tokenizer depends on the data and tokenizer keys; one with a perceptual
// loss also on its feature network; with tokenizer.per_seed, on the run's
// seed too (seed s fits from s; otherwise every seed shares the seed-0 fit).
std::string tokenizer_path(const RunConfig& cfg, const std::string& results, bool wants_perceptual_net) {
  std::string key = section_text(cfg, {"data.", "tokenizer."});
  // A plugin's tokenizer keeps its settings in its own section: count them.
  if (!has_tokenizer_builtin(cfg.tokenizer.name)) key += plugin_text(cfg);
  if (wants_perceptual_net)
    key += fmt::format("perceptual = {} {}\n", cfg.tokenizer.perceptual_net, cfg.eval.classifier_epochs);
  if (cfg.tokenizer.per_seed) key += fmt::format("fit seed = {}\n", cfg.seed);
  return fmt::format("{}/tokenizers/{}-{}.h5", results, cfg.tokenizer.name, fnv1a_hex(key));
}

RunParts load_run_parts(const RunConfig& cfg, const std::string& results,
                        const std::function<void(const std::string&)>& log) {
  RunParts p;
  const Dataset& data = cached_dataset(cfg.data, results);
  p.train_img = to_float(data.train, cfg.data.normalize);
  p.test_img = to_float(data.test, cfg.data.normalize);
  p.train_y = to_labels(data.train);
  p.test_y = to_labels(data.test);
  p.classes = data.classes;
  auto perceptual = [&] {
    return make_feature_net(cfg.tokenizer.perceptual_net, results,
                            fnv1a_hex(section_text(cfg, {"data."})), p.train_img, p.train_y,
                            p.test_img, p.test_y, data.classes, cfg.eval.classifier_epochs, log);
  };
  double fit_s = 0;
  p.tok = fitted_tokenizer(cfg, p.train_img, results, perceptual, log, &fit_s);
  return p;
}

RunConfig read_run_config(const std::string& results, const std::string& id) {
  const std::string path = results + "/runs/" + id + "/config.toml";
  if (!fs::exists(path))
    throw InputError(fmt::format("{}: no such run (see `sqlite3 {}/results.db 'select id, label "
                                 "from runs'` or run_sweep --dry-run for ids)",
                                 path, results));
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}: unreadable run config: {}", path, e.source().begin.line,
                                 e.description()));
  }
  Overrides o;
  for (const auto& [sec, node] : root) {
    auto add = [&](const std::string& key, const toml::node& n) {
      Setting st{std::string(), Origin{path, int(n.source().begin.line)}};
      if (auto b = n.as_boolean()) st.value = b->get();
      else if (auto i = n.as_integer()) st.value = int64_t(i->get());
      else if (auto d = n.as_floating_point()) st.value = d->get();
      else if (auto t = n.as_string()) st.value = t->get();
      o[key] = st;
    };
    if (auto t = node.as_table())
      for (const auto& [k, n] : *t) add(std::string(sec.str()) + "." + std::string(k.str()), n);
    else
      add(std::string(sec.str()), node);
  }
  RunConfig cfg;
  apply_overrides(cfg, o);
  if (run_id(cfg) != id)
    throw InputError(fmt::format("{}: this config gives run id {}, not {} (written by another "
                                 "version of the harness?)",
                                 path, run_id(cfg), id));
  return cfg;
}

Backbone load_run_model(const RunConfig& cfg, const RunParts& parts, const std::string& results) {
  const std::string path = trained_model_path(cfg, results);
  if (!fs::exists(path))
    throw InputError(fmt::format("{}: the run has no trained model (not finished, or a raw-pixel "
                                 "anchor); finish it with run_sweep first", path));
  TrainData td = prepare_train_data(*parts.tok, parts.train_img.slice(0, 0, 2), parts.train_y.slice(0, 0, 2));
  const Objective obj = make_objective(cfg.objective);
  Backbone model = make_backbone(
      cfg.model.name, run_backbone_options(cfg, obj, td, parts.train_img.size(2), parts.train_img.size(3), parts.classes));
  std::vector<std::array<double, 3>> curve;
  load_trained_model(path, model, &curve, torch::kCPU);
  model->eval();
  return model;
}

namespace {

// A run folder's exclusive lock: one process per run, released when its
// holder exits or dies, so a killed run is free to resume and a concurrent
// sweep leaves a held run alone.
class RunLock {
 public:
  explicit RunLock(const std::string& dir) : fd_(::open((dir + "/.lock").c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ < 0)
      throw InputError(fmt::format("cannot create {}/.lock ({}); the results root must be writable "
                                   "(give another --results folder)", dir, std::strerror(errno)));
  }
  ~RunLock() { close(fd_); }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  bool try_lock() { return flock(fd_, LOCK_EX | LOCK_NB) == 0; }
  void lock() { flock(fd_, LOCK_EX); }

 private:
  int fd_;
};

// The kNN probe on a run's features; -1s when probe.knn_k = 0.
KnnResult run_knn(const RunConfig& cfg, const torch::Tensor& f_train, const torch::Tensor& train_y,
                  const torch::Tensor& f_test, const torch::Tensor& test_y, int64_t classes) {
  if (cfg.probe.knn_k <= 0) return {-1, -1};
  return knn_probe(f_train, train_y, f_test, test_y, classes, cfg.probe.knn_k, cfg.probe.knn_t);
}

// A done run recorded before the kNN probe existed: compute it from the probe
// features its metrics.h5 keeps (seconds, no retraining), under the run's
// lock, and re-index the run. Busy or featureless runs are left as they are.
void add_missing_knn(const RunConfig& cfg, const std::string& dir, const RunContext& ctx, Store* store) {
  if (cfg.probe.knn_k <= 0 || !fs::exists(dir + "/metrics.h5")) return;
  if (read_metrics_h5(dir).knn_top1 >= 0) return;
  RunLock lock(dir);
  if (!lock.try_lock() || read_metrics_h5(dir).knn_top1 >= 0) return;
  auto [f_train, f_test] = read_probe_features(dir);
  if (!f_train.defined()) return;
  const Dataset& data = cached_dataset(cfg.data, ctx.results);
  auto train_y = to_labels(data.train), test_y = to_labels(data.test);
  if (f_train.size(0) != train_y.size(0) || f_test.size(0) != test_y.size(0)) return;
  const auto r = run_knn(cfg, f_train, train_y, f_test, test_y, data.classes);
  add_knn_to_metrics_h5(dir, r.top1, r.top5);
  auto rec = read_run_json(dir);
  rec["metrics_bytes"] = fs::file_size(dir + "/metrics.h5");
  write_run_json(dir, rec);
  std::ofstream(dir + "/log.txt", std::ios::app)
      << "[" << now_iso() << "] kNN probe added from the stored features: top-1 " << fmt::format("{:.2f}", r.top1)
      << "% (k = " << cfg.probe.knn_k << ", T = " << cfg.probe.knn_t << ")" << std::endl;
  if (store) index_run_or_defer(*store, dir, [&](const std::string& w) {
    fmt::print(stderr, "  {}\n", w);
    std::ofstream(dir + "/log.txt", std::ios::app) << "[" << now_iso() << "] " << w << std::endl;
  });
}

}  // namespace

RunOutcome execute_run(const RunConfig& cfg, const std::string& label, const RunContext& ctx,
                       Store* store) {
  const auto t_start = clk::now();
  const std::string id = run_id(cfg), dir = run_dir(ctx.results, id);
  RunOutcome out;
  // A damaged record (unreadable run.json, a truncated metrics.h5) is rerun,
  // not a reason to stop the sweep: the run folder is rewritten atomically.
  nlohmann::json rec;
  std::string damage;
  try {
    rec = read_run_json(dir);
    if (!rec.empty()) damage = damage_of(dir, rec);
  } catch (const InputError& e) {
    damage = e.what();
  }
  if (!damage.empty()) {
    fmt::print(stderr, "  damaged record ({}); rerunning it\n", damage);
    rec = nlohmann::json::object();
  }
  if (rec.value("status", "") == "done") {
    out.status = RunOutcome::Skipped;
    out.top1 = rec.value("probe_top1", -1.0);
    try {
      add_missing_knn(cfg, dir, ctx, store);
    } catch (const InputError& e) {  // the result stands; the extra probe waits
      fmt::print(stderr, "  kNN probe not added: {}\n", e.what());
    }
    return out;
  }
  fs::create_directories(dir);
  RunLock lock(dir);
  if (!lock.try_lock()) {
    if (!ctx.wait_if_busy) {
      out.status = RunOutcome::Busy;
      return out;
    }
    fmt::print("  another process is training this run; waiting for it\n");
    std::fflush(stdout);
    lock.lock();
    try {
      rec = read_run_json(dir);
    } catch (const InputError&) {
      rec = nlohmann::json::object();  // damaged: rerun below
    }
    if (rec.value("status", "") == "done" && damage_of(dir, rec).empty()) {
      out.status = RunOutcome::Skipped;
      out.top1 = rec.value("probe_top1", -1.0);
      return out;
    }
  }
  // Temporaries of a writer of this run killed mid-write (we hold its lock now).
  remove_stale_temporaries(dir);
  remove_stale_temporaries(dir + "/ckpt");
  // Data parallel: this process holds the run; the other ranks join it now
  // and hear at `tell` whether to train, reuse or give up.
  bool told = false;
  auto tell = [&](int64_t stage) {
    if (!ctx.comm || told) return;
    told = true;
    ctx.comm->broadcast(stage, kFollowerWaitS);
  };
  if (ctx.comm) ctx.comm->broadcast(ctx.dp_index, kFollowerWaitS);
  write_text_atomically(dir + "/config.toml", to_toml(cfg));
  std::ofstream logf(dir + "/log.txt", std::ios::app);
  auto log = [&](const std::string& line) { logf << "[" << now_iso() << "] " << line << std::endl; };

  const int threads = run_threads(cfg, ctx);
  torch::set_num_threads(threads);
  const torch::Device device = pick_device(cfg.train.device, ctx.comm);

  std::map<std::string, std::string> params;
  for (const auto& k : config_keys()) params[k] = value_str(get(cfg, k));
  if (rec.empty()) rec["created"] = now_iso();
  if (!rec.contains("timings")) rec["timings"] = nlohmann::json::object();
  rec["id"] = id;
  rec["label"] = label;
  rec["seed"] = cfg.seed;
  rec["status"] = "running";
  rec["git_commit"] = git_commit();
  rec["host"] = hostname();
  rec["pid"] = getpid();
  rec["versions"] = library_versions();
  rec["plugins"] = nlohmann::json::array();
  for (const auto& p : loaded_plugins())
    rec["plugins"].push_back({{"name", p.name}, {"version", p.version}, {"path", p.path}});
  rec["device"] = device.str();
  rec["threads"] = threads;
  rec["data_parallel"] = {{"world", ctx.comm ? ctx.comm->world() : 1},
                          {"backend", ctx.comm ? ctx.comm->backend() : "none"}};
  rec["params"] = params;
  rec["updated"] = now_iso();
  write_run_json(dir, rec);
  // The index mirrors run.json, the source of truth; a locked or full index
  // never fails the run (the next command's Store::sync catches up).
  auto reindex = [&] {
    if (store) index_run_or_defer(*store, dir, [&](const std::string& w) {
      fmt::print(stderr, "  {}\n", w);
      log(w);
    });
  };
  reindex();
  log(fmt::format("run {} '{}' seed {} on {} with {} threads{}", id, label, cfg.seed, device.str(), threads,
                  ctx.comm ? fmt::format(", data parallel over {} {} processes", ctx.comm->world(),
                                         ctx.comm->backend())
                           : ""));

  auto finish = [&](const std::string& status, const std::string& error) {
    rec["status"] = status;
    rec["error"] = error;
    rec["updated"] = now_iso();
    rec["timings"]["wall_s"] = rec["timings"].value("wall_s", 0.0) + secs_since(t_start);
    write_run_json(dir, rec);
    reindex();
  };

  try {
    const Dataset& data = cached_dataset(cfg.data, ctx.results);
    if (const auto now = prepared_data_fingerprint(cfg.data, ctx.results); now != cfg.data.fingerprint)
      throw InputError(fmt::format("data.path = \"{}\": the data's fingerprint is {} but the run was "
                                   "planned for {}; the data changed while the sweep ran, rerun it",
                                   cfg.data.path, now.empty() ? "(none)" : now,
                                   cfg.data.fingerprint.empty() ? "(none)" : cfg.data.fingerprint));
    auto train_img = to_float(data.train, cfg.data.normalize);
    auto test_img = to_float(data.test, cfg.data.normalize);
    auto train_y = to_labels(data.train), test_y = to_labels(data.test);
    // Before any training is spent (run_sweep checked the plan already; this
    // holds for every other caller).
    for (const auto& w : check_against_data(cfg, {train_y.size(0), test_y.size(0)}, "run " + id)) log(w);
    RunMetrics metrics;
    torch::Tensor f_train, f_test;
    double fit_s = 0;

    if (cfg.probe.features == "raw_pixels") {
      // The anchor of every table: the same probe on raw pixels, no training.
      tell(kStageRawPixels);
      f_train = train_img.reshape({train_img.size(0), -1});
      f_test = test_img.reshape({test_img.size(0), -1});
    } else {
      // The harness classifier (perceptual loss, FID), trained once per data config.
      std::shared_ptr<FeatureNet> classifier_net;
      auto feature_net = [&](const std::string& spec) {
        if (spec == "classifier" && classifier_net) return classifier_net;
        auto n = make_feature_net(spec, ctx.results, fnv1a_hex(section_text(cfg, {"data."})),
                                  train_img, train_y, test_img, test_y, data.classes,
                                  cfg.eval.classifier_epochs, log);
        if (spec == "classifier") classifier_net = n;
        return n;
      };
      auto tok = fitted_tokenizer(cfg, train_img, ctx.results,
                                  [&] { return feature_net(cfg.tokenizer.perceptual_net); }, log, &fit_s);
      metrics.recon_mse = tok->reconstruction_mse(test_img);
      metrics.tokenizer_fit = tok->fit_curve();
      log(fmt::format("tokenizer reconstruction MSE on the test split: {:.6f}", metrics.recon_mse));
      TrainData td = prepare_train_data(*tok, train_img, train_y);
      const bool reuse = cfg.probe.features == "encoder" && fs::exists(trained_model_path(cfg, ctx.results));
      tell(reuse ? kStageReuse : kStageTrain);  // the tokenizer file is there for the others now
      auto st = train_and_featurize(cfg, *tok, td, train_img, test_img, data.classes, dir, reuse, ctx,
                                    device, feature_net, log);
      metrics.loss = st.loss;
      if (!st.reused) {
        rec["timings"]["train_s"] = rec["timings"].value("train_s", 0.0) + st.train.seconds;
        rec["steps"] = st.train.steps;
      }
      if (st.train.status == TrainResult::Failed) {
        log("FAILED: " + st.train.error);
        finish("failed", st.train.error);
        out.status = RunOutcome::Failed;
        out.error = st.train.error;
        return out;
      }
      if (st.train.status == TrainResult::Stopped) {
        log(fmt::format("interrupted at step {}; checkpoint kept for resume", st.train.steps));
        finish("interrupted", "");
        out.status = RunOutcome::Stopped;
        return out;
      }
      f_train = st.f_train;
      f_test = st.f_test;
      metrics.images_seen = st.budget[0];
      metrics.train_flops = st.budget[1];
      metrics.train_s = st.budget[2];
      if (st.budget[0] >= 0)
        rec["budget"] = {{"images_seen", st.budget[0]}, {"train_flops", st.budget[1]}, {"train_s", st.budget[2]}};
      if (cfg.eval.finetune_epochs > 0) {
        const auto t_ft = clk::now();
        const auto ft = finetune_stage(cfg, st, *tok, train_img, train_y, test_img, test_y, data.classes, device, log);
        metrics.finetune_top1 = ft.top1;
        metrics.finetune = ft.curve;
        rec["finetune_top1"] = ft.top1;
        rec["timings"]["finetune_s"] = secs_since(t_ft);
      }
      if (cfg.eval.fid_samples > 0) {
        const auto t_gen = clk::now();
        torch::Tensor samples;
        auto net = feature_net(cfg.eval.fid_net);
        metrics.fid = generation_fid(st.model, st.schedule, st.objective, *tok, test_img, *net, cfg,
                                     data.classes, td.z0.size(1), td.z0.size(2), device, &samples);
        metrics.samples = to_f32(samples);
        metrics.samples_shape = shape_of(samples);
        rec["eval_fid"] = metrics.fid;
        rec["timings"]["eval_s"] = secs_since(t_gen);
        log(fmt::format("FID {:.3f} ({} samples, {} {} steps, features: {}) in {:.1f} s", metrics.fid,
                        std::min<int64_t>(cfg.eval.fid_samples, test_img.size(0)),
                        cfg.objective.target == "velocity" ? "Heun ODE" : cfg.eval.sampler,
                        cfg.eval.sample_steps, net->describe(), secs_since(t_gen)));
      }
    }
    f_train = plugin_probe_features(cfg, f_train);
    f_test = plugin_probe_features(cfg, f_test);
    const auto t_probe = clk::now();
    // Both probes on the run's device, features copied there once (cheap there at ImageNet size).
    const auto xtr = f_train.to(device), ytr = train_y.to(device), xte = f_test.to(device),
               yte = test_y.to(device);
    auto pr = linear_probe(xtr, ytr, xte, yte, data.classes, cfg.probe, cfg.seed, log);
    metrics.probe = pr.curve;
    metrics.top1 = pr.top1;
    metrics.top5 = pr.top5;
    const auto knn = run_knn(cfg, xtr, ytr, xte, yte, data.classes);
    metrics.knn_top1 = knn.top1;
    metrics.knn_top5 = knn.top5;
    const double probe_s = secs_since(t_probe);
    log(fmt::format("probe top-1 {:.2f}% ({} train / {} test images){}", pr.top1, f_train.size(0),
                    f_test.size(0),
                    knn.top1 >= 0 ? fmt::format("; kNN top-1 {:.2f}% (k = {}, T = {})", knn.top1,
                                                cfg.probe.knn_k, cfg.probe.knn_t)
                                  : ""));

    auto flat = [](const torch::Tensor& t) {
      auto c = t.to(torch::kFloat32).contiguous();
      return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    write_metrics_h5(dir, metrics, flat(f_train), flat(f_test), uint64_t(f_train.size(1)));
    rec["probe_top1"] = pr.top1;
    rec["probe_top5"] = pr.top5;
    if (knn.top1 >= 0) rec["probe_knn_top1"] = knn.top1;
    rec["tokenizer_recon_mse"] = metrics.recon_mse;
    rec["timings"]["tokenizer_s"] = fit_s;
    rec["timings"]["probe_s"] = probe_s;
    rec["metrics_bytes"] = fs::file_size(dir + "/metrics.h5");  // damage_of checks it
    finish("done", "");  // after metrics.h5, so the index gets the curves
    remove_tree(dir + "/ckpt");  // a finished run needs no checkpoint
    out.status = RunOutcome::Done;
    out.top1 = pr.top1;
    out.knn_top1 = knn.top1;
  } catch (const Interrupted& e) {
    // A stop request in a phase past pre-training's checkpoints: nothing
    // half-written; a finished pre-training is in results/models/ already.
    tell(kStageAbort);
    log(std::string(e.what()) + "; rerun the same command to resume");
    finish("interrupted", "");
    out.status = RunOutcome::Stopped;
  } catch (const InputError&) {
    tell(kStageAbort);
    finish("failed", "bad input");
    throw;
  } catch (const std::exception& e) {
    tell(kStageAbort);
    // A failure inside one run (a tokenizer fit that diverged, a sampler
    // error) fails that run with its message; the sweep goes on.
    const std::string what = std::string(e.what()).substr(0, 500);
    log("FAILED: " + what);
    finish("failed", what);
    out.status = RunOutcome::Failed;
    out.error = what;
  }
  out.seconds = secs_since(t_start);
  return out;
}

RunOutcome follow_run(const RunConfig& cfg, const RunContext& ctx) {
  RunOutcome out;
  const int64_t what = ctx.comm->broadcast(0, kFollowerWaitS);
  if (what != kStageTrain && what != kStageReuse) {
    // Raw pixels: rank 0 alone. Anything else: rank 0 gave up on the run, or
    // left the sweep before telling (its end-of-sweep code lands here).
    out.status = what == kStageRawPixels ? RunOutcome::Done : RunOutcome::Failed;
    if (what < 0) out.error = "rank 0 ended the sweep";
    return out;
  }
  torch::set_num_threads(run_threads(cfg, ctx));
  const torch::Device device = pick_device(cfg.train.device, ctx.comm);
  const Dataset& data = cached_dataset(cfg.data, ctx.results);
  auto train_img = to_float(data.train, cfg.data.normalize);
  auto test_img = to_float(data.test, cfg.data.normalize);
  auto train_y = to_labels(data.train);
  auto quiet = [](const std::string&) {};
  double fit_s = 0;
  // Rank 0 has fitted and saved it: this loads the file (shared file system).
  auto tok = fitted_tokenizer(cfg, train_img, ctx.results, [] {
    return std::shared_ptr<FeatureNet>();
  }, quiet, &fit_s);
  TrainData td = prepare_train_data(*tok, train_img, train_y);
  // The classifier is trained once, seeded: a rank that finds no cached one
  // trains the same network rank 0 does (without its test-set report).
  auto feature_net = [&](const std::string& spec) {
    return make_feature_net(spec, ctx.results, fnv1a_hex(section_text(cfg, {"data."})), train_img, train_y,
                            torch::Tensor(), torch::Tensor(), data.classes, cfg.eval.classifier_epochs, quiet);
  };
  auto st = train_and_featurize(cfg, *tok, td, train_img, test_img, data.classes,
                                run_dir(ctx.results, run_id(cfg)), what == kStageReuse, ctx,
                                device, feature_net, quiet);
  out.status = st.train.status == TrainResult::Done      ? RunOutcome::Done
               : st.train.status == TrainResult::Stopped ? RunOutcome::Stopped
                                                         : RunOutcome::Failed;
  return out;
}

}  // namespace ldae
