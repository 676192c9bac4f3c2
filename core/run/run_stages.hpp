// The stages of one run, which core/run/run.cpp orchestrates (data -> tokenizer
// -> pre-training by method -> evaluation -> record; DESIGN.md):
//   data          core/run/run_data.cpp   the prepared images and labels, cached per process
//   pre-training  core/run/pretrain.cpp   tokenizer fit, backbone, method, trainer, probe features
//   evaluation    core/run/evaluate.cpp   FID, fine-tuning, linear and kNN probes
// Internal to the library: programs use core/run/run.hpp.
#pragma once
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <torch/torch.h>

#include <fstream>

#include "core/base/file_lock.hpp"
#include "core/data/data.hpp"
#include "core/data/image_source.hpp"
#include "core/nn/feature_net.hpp"
#include "core/records/records.hpp"
#include "core/run/run.hpp"
#include "probes/finetune.hpp"
#include "probes/linear_probe.hpp"
#include "probes/knn_probe.hpp"
#include "tokenizers/tokenizer.hpp"

namespace ldae {

using clk = std::chrono::steady_clock;
using Log = std::function<void(const std::string&)>;
double secs_since(clk::time_point t);

// ---- data (core/run/run_data.cpp) --------------------------------------------------
// Images as float (N, C, H, W) in [-1, 1] (data.normalize) or [0, 1]; labels (N,) int64.
torch::Tensor to_float(const ImageSet& s, bool normalize);
torch::Tensor to_labels(const ImageSet& s);
// Lines of canonical(cfg) that start with one of the prefixes.
std::string section_text(const RunConfig& cfg, std::initializer_list<const char*> prefixes);
// A run's config as the files derived from its data as prepared see it
// (the fitted tokenizer, the harness classifier, FID's reference
// statistics): data.augment and data.crops_from at their defaults, since
// they crop training batches after loading and change none of them. Rows differing only in them share
// those files; a default row's keys, hence file names, are as before.
RunConfig cache_key_config(const RunConfig& cfg);
// section_text(cache_key_config(cfg), {"data."}).
std::string data_cache_text(const RunConfig& cfg);
// The canonical lines of plugin axes (keys set away from their defaults).
std::string plugin_text(const RunConfig& cfg);
// The data of a data config, loaded once per process (cached HDF5 under results).
const Dataset& cached_dataset(const DataConfig& c, const std::string& results);
// A run's data. Resident (both splits as float32 within data.resident_max_gb,
// the rule of core/data/image_source.hpp): the images as tensors, as always.
// Streamed (a larger prepared folder): no image tensors; every stage reads
// `train` and `test` per batch, so memory does not grow with the data.
struct RunData {
  torch::Tensor train_img, test_img;  // (N, C, H, W) float; undefined when streamed
  ImageBatches train, test;           // either kind, float batches on demand
  bool streamed = false;
  const ImageSet* train_set = nullptr;  // streamed: the training split (labels, store reader)
  torch::Tensor train_y, test_y;      // (N,) int64
  int64_t classes = 0;
};
RunData run_data(const RunConfig& cfg, const std::string& results);
// Images a stage holds at once when the data are streamed (the probe's
// features, the tokenizer's reconstruction check): 128 at 256 px are 100 MB
// as float32.
constexpr int64_t kStreamRows = 128;
// GiB of both splits as float32.
double float_gib(const RunData& d);

// ---- tokenizer and pre-training (core/run/pretrain.cpp) ----------------------------
// The training data the trainer reads: resident, every image's latents made
// once (prepare_train_data of run.hpp); streamed, only their shapes (meta
// tensors), the latents being made per batch as the images are read.
TrainData prepare_train_data(const Tokenizer& tok, const RunData& data);
// Data parallel: what rank 0 tells the other ranks once it holds a run.
constexpr int64_t kStageAbort = 0, kStageTrain = 1, kStageReuse = 2, kStageRawPixels = 3;
// cpu | cuda | auto; data-parallel ranks on one node take GPUs by local rank.
torch::Device pick_device(const std::string& want, const std::shared_ptr<Communicator>& comm);
// CPU threads of a run: --threads, else train.threads, else default_threads()
// (OMP_NUM_THREADS, else the CPUs this process may run on).
int run_threads(const RunConfig& cfg, const RunContext& ctx);
// Fit once per (data, tokenizer) config and share the file across runs;
// *fit_s: seconds spent fitting or loading.
std::unique_ptr<Tokenizer> fitted_tokenizer(const RunConfig& cfg, const ImageBatches& train,
                                            const std::string& results,
                                            const std::function<std::shared_ptr<FeatureNet>()>& perceptual,
                                            const Log& log, double* fit_s);
// results/models/<hash of every key but probe.* and eval.*, + seed>.pt
std::string trained_model_path(const RunConfig& cfg, const std::string& results);
// Images seen, model FLOPs (-1 = not counted) and seconds of a pre-training.
using Budget = std::array<double, 3>;
// A copy of `model` (same options, weights and buffers).
Backbone copy_backbone(const std::string& name, const BackboneOptions& bo, Backbone& model);

using FeatureNetSource = std::function<std::shared_ptr<FeatureNet>(const std::string&)>;

// What every data-parallel rank does for a run, in the same order: the
// encoder (trained by the run's method, or a trained one reused) and the
// probe features (all of them on rank 0). Rank 0 alone writes.
struct EncoderStage {
  TrainResult train;                   // status Done with steps 0 when reused
  bool reused = false;
  std::vector<std::array<double, 3>> loss;
  torch::Tensor f_train, f_test;       // (N, W) on rank 0 / one process
  Backbone model{nullptr};             // trained (EMA or teacher weights) or reused
  Budget budget{-1, -1, -1};
  BackboneOptions options;             // what the model was built from
  int64_t block = 0, t_read = 0;       // the encoder's end, the time it is read at
  double gamma = 1;                    // input scale at t_read (denoise with input scaling)
  double sigma = 0;                    // noise scale at t_read (the denoiser's; probe.noisy adds it)
  torch::Tensor V;                     // image-space objectives: tokens -> input map (d, D)
  TrainView train_view;                // probe.augment = "rrc_flip": augmented training features, else empty
  Schedule schedule;
  Objective objective;
};
// Where and how the probe reads st's encoder (block, t_read, gamma, sigma)
// from cfg and st.options, st.schedule, st.objective: the probe's features
// and an exported encoder (core/run/export_run.cpp) read it alike.
void set_probe_reading(const RunConfig& cfg, EncoderStage& st);
EncoderStage train_and_featurize(const RunConfig& cfg, Tokenizer& tok, TrainData& td, const RunData& data,
                                 const std::string& dir, bool reuse, const RunContext& ctx, torch::Device device,
                                 const FeatureNetSource& feature_net, const Log& log);

// ---- the encoder out to Python (core/run/export_run.cpp) ----------------------------
// Writes DIR/encoder.safetensors + encoder.json for the encoder the probe
// reads (eval.export_encoder) and names them in rec["encoder"]; a plugin's
// backbone or tokenizer is said through `log` and skipped.
void record_encoder(const RunConfig& cfg, const EncoderStage& st, const Tokenizer& tok, const std::string& dir,
                    nlohmann::json& rec, const Log& log);
// run_sweep --export ID: the same files for a done run recorded before
// (its trained model and tokenizer from RESULTS), into OUT (default: the
// run's folder, then named in its run.json). 0 done, 2 not exportable;
// InputError for an unknown, unfinished or busy run.
int export_recorded_run(const std::string& results, const std::string& id, const std::string& out);

// ---- evaluation (core/run/evaluate.cpp) --------------------------------------------
// FID of eval.fid_samples generated images against the reference images
// (eval.fid_reference: as many test images, or every training image), in
// the features of the frozen network; fills metrics (fid, samples) and rec.
// The reference's Gaussian is kept under results/fid_reference/ and read by
// every later run that scores against the same images.
void generation_stage(const RunConfig& cfg, const EncoderStage& st, const Tokenizer& tok, const TrainData& td,
                      const RunData& data, torch::Device device, const FeatureNetSource& feature_net,
                      const std::string& results, RunMetrics& metrics, nlohmann::json& rec, const Log& log);
// Fine-tuning of a copy of the run's encoder, read as the probe reads it.
FinetuneResult finetune_stage(const RunConfig& cfg, EncoderStage& st, Tokenizer& tok, const RunData& data,
                              torch::Device device, const Log& log, const LiveSink& live = {});
// What the probes read: training and test features (held, or made on
// demand) and, for probe.augment, the training batches' view.
struct ProbeRows {
  FeatureRows train, test;
  TrainView view;
};
// The linear and kNN probes on features (N, F); fills metrics and rec. A
// view (probe.augment) gives the linear probe's training batches.
void probe_stage(const RunConfig& cfg, const ProbeRows& rows, const RunData& data, torch::Device device,
                 RunMetrics& metrics, nlohmann::json& rec, const Log& log, const LiveSink& live = {});
// The raw-pixel anchor's features: each image's C x H x W pixels flattened,
// through the plugins' probe hooks. Held (N, C H W) when the data are
// resident or both splits fit data.resident_max_gb as float32 (whole-image
// data: centre squares read into memory); beyond it (ImageNet at 256 px:
// 1.28 M x 196,608 values, 0.9 TiB) made on demand from the store, a batch
// or block at a time, on `device` (logged). probe.augment = "rrc_flip": the
// view crops training images idx (RandomResizedCrop, scale 0.08-1) and flips
// them -> (b, C x H x W) on the device.
ProbeRows raw_pixel_rows(const RunConfig& cfg, const RunData& data, torch::Device device, const Log& log);
// The kNN probe on a run's features; -1s when probe.knn_k = 0. Rows made on
// demand hold data.resident_max_gb of test rows at a time as float32 on the
// rows' device (a GPU: at most half its free memory; at least a block),
// each such pass reading the training rows (logged).
KnnResult run_knn(const RunConfig& cfg, const FeatureRows& f_train, const torch::Tensor& train_y,
                  const FeatureRows& f_test, const torch::Tensor& test_y, int64_t classes, const Log& log = {});
// A done run recorded before the kNN probe existed: compute it from the probe
// features its metrics.h5 keeps, under the run's lock, and re-index the run.
void add_missing_knn(const RunConfig& cfg, const std::string& dir, const RunContext& ctx, Store* store);

// ---- the record (core/run/run_record.cpp) ------------------------------------------
// The record of a run this process holds: run.json (the source of truth),
// log.txt, and the index that mirrors run.json (a locked or full index
// never fails the run: the next command's Store::sync catches up).
class RunRecord {
 public:
  RunRecord(const std::string& dir, nlohmann::json rec, Store* store)
      : dir_(dir), rec_(std::move(rec)), store_(store), logf_(dir + "/log.txt", std::ios::app) {}
  nlohmann::json& json() { return rec_; }
  // A line of the run's log. The lines that say kept work is used or set
  // aside (a checkpoint resumed; "<what> <path> not used (<why>): ..." for
  // a checkpoint, trained model, tokenizer, classifier or FID reference
  // that is computed again) are shown on the terminal too: hours of
  // training may hang on them.
  void log(const std::string& line) {
    logf_ << "[" << now_iso() << "] " << line << std::endl;
    if (line.rfind("resumed from ", 0) == 0 || line.find(" not used (") != std::string::npos) {
      fmt::print("  {}\n", line);
      std::fflush(stdout);
    }
  }
  Log logger() {
    return [this](const std::string& l) { log(l); };
  }
  void write() {
    rec_["updated"] = now_iso();
    write_run_json(dir_, rec_);
  }
  // Indexes the run; when the index cannot take it, the terminal hears why
  // once per run (its log every time).
  void reindex() {
    if (store_) index_run_or_defer(*store_, dir_, [&](const std::string& w) {
      if (!index_warned_) fmt::print(stderr, "  {}\n", w);
      index_warned_ = true;
      log(w);
    });
  }
  void finish(const std::string& status, const std::string& error, clk::time_point start) {
    rec_["status"] = status;
    rec_["error"] = error;
    rec_["timings"]["wall_s"] = rec_["timings"].value("wall_s", 0.0) + secs_since(start);
    write();
    reindex();
  }

 private:
  std::string dir_;
  nlohmann::json rec_;
  Store* store_;
  bool index_warned_ = false;
  std::ofstream logf_;
};

// A finished run's outcome: its result stands (a kNN probe it lacks is added
// from its stored features, which waits when that fails).
RunOutcome finished_run(const RunConfig& cfg, const std::string& dir, const nlohmann::json& rec,
                        const RunContext& ctx, Store* store);
// run.json as found: {} when absent, and when damaged (an unreadable
// run.json, a truncated metrics.h5), which reruns the run (`say`: print why).
nlohmann::json existing_record(const std::string& dir, bool say);
// The opening fields of run.json (who runs it, where, with what), written
// and indexed, and the run's first log line.
void open_record(RunRecord& r, const RunConfig& cfg, const std::string& label, const RunContext& ctx,
                 torch::Device device, int threads);

}  // namespace ldae
