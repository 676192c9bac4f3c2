// One folder per run, results/runs/<id>/, is the source of truth:
//   config.toml  resolved config      run.json   status, seed, provenance, timings
//   metrics.h5   loss/probe curves, probe features      log.txt   the run's log
//   ckpt/last.pt the latest checkpoint (removed once the run is done)
// Every file is written atomically (core/base/atomic_file.hpp: a temporary file
// unique per process, fsync, rename), so a killed run, a full disk or a
// second process never leaves a half-written record.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/records/store.hpp"

namespace ldae {

std::string run_dir(const std::string& results, const std::string& id);
std::string read_text(const std::string& path);

// <dir>/run.json, {} when absent. InputError (naming the file, saying to
// delete the run folder) when it is not JSON or not a JSON object.
nlohmann::json read_run_json(const std::string& dir);
// A JSON library error as one phrase for a message: without its
// "[json.exception.type.N] " prefix.
std::string json_error(const nlohmann::json::exception& e);
void write_run_json(const std::string& dir, const nlohmann::json& j);

// True while a process holds the run folder's lock (<dir>/.lock, flock(2)):
// the kernel releases it when its holder exits or is killed.
bool run_lock_held(const std::string& dir);
// A run's status as every reader shows it (run_sweep's plan, the index,
// make_tables): run.json's, except that "running" with a free lock (its
// process was killed) is "interrupted", resumable from its checkpoint, and
// a record damage_of finds fault with is "damaged".
std::string effective_status(const std::string& dir, const nlohmann::json& run_json);
// Why a record cannot be trusted, "" when it can: an unknown status, or a
// done run whose metrics.h5 is missing, not HDF5, or not the size run.json
// recorded ("metrics_bytes"). effective_status is then "damaged": listed so,
// indexed without metrics, and rerun by the next run_sweep.
std::string damage_of(const std::string& dir, const nlohmann::json& run_json);
// run.json's status for the plan listing: "" when absent, "damaged" when
// unreadable, else effective_status. Never throws for a bad record.
std::string listed_status(const std::string& dir);

struct RunMetrics {
  std::vector<std::array<double, 3>> loss;   // (step, loss, lr)
  std::vector<std::array<double, 4>> probe;  // (epoch, train_loss, train_acc, test_acc)
  double top1 = -1;                          // final probe top-1 (%)
  double top5 = -1;                          // final probe top-5 (%), -1 if not measured
  double knn_top1 = -1, knn_top5 = -1;       // kNN probe (%), -1 if not measured
  double recon_mse = -1;                     // tokenizer reconstruction MSE
  std::vector<std::array<double, 3>> tokenizer_fit;  // (step, loss, recon MSE), learned tokenizers
  double fid = -1;                           // eval.fid_samples > 0: FID, else -1
  double finetune_top1 = -1;                 // eval.finetune_epochs > 0: fine-tuned top-1 (%), else -1
  std::vector<std::array<double, 4>> finetune;  // (epoch, train_loss, train_acc, test_acc)
  // Pre-training budget: images drawn (steps x batch), model FLOPs of those
  // steps (2 per multiply-add, backward = 2 forwards; -1 = not counted) and
  // seconds; -1 for a reused or untrained model.
  double images_seen = -1, train_flops = -1, train_s = -1;
  // Labels of the probe's feature rows (probe/labels_train, labels_test):
  // with the features, a notebook re-probes or plots without the data.
  std::vector<int64_t> labels_train, labels_test;
  std::vector<float> samples;                // generated images (n, C, H, W) in [-1, 1]
  std::vector<uint64_t> samples_shape;
};
// The metrics as the database stores them ("train.loss", "probe.test_acc", ...).
std::map<std::string, std::vector<MetricPoint>> metric_series(const RunMetrics& m);

// Write metrics.h5 (atomically). Features (N, F) and (M, F) are the probe
// cache (stored as float32; undefined = none), written from the tensors
// themselves: a float32 contiguous CPU tensor is not copied (ImageNet's
// training features at width 1024 are 5.2 GB).
void write_metrics_h5(const std::string& dir, const RunMetrics& m, const torch::Tensor& train_features = {},
                      const torch::Tensor& test_features = {});
RunMetrics read_metrics_h5(const std::string& dir);
// A done run's stored probe features (N, F), (M, F) float32; undefined
// tensors when its metrics.h5 holds none.
std::pair<torch::Tensor, torch::Tensor> read_probe_features(const std::string& dir);
// Add the kNN result to a done run's metrics.h5, atomically (a copy is
// changed, then renamed over it), for runs recorded before the kNN probe.
void add_knn_to_metrics_h5(const std::string& dir, double top1, double top5);

// Sweep plans as JSON under results/sweeps/<name>.<profile>.json, so the
// index can be rebuilt. A record that cannot be read is skipped with a
// warning on stderr naming it and how to rewrite it (nullopt; absent: too).
std::string sweep_json_path(const std::string& results, const std::string& name, const std::string& profile);
void write_sweep_json(const std::string& results, const SweepRecord& s);
std::optional<SweepRecord> read_sweep_json(const std::string& path);
std::vector<SweepRecord> read_sweep_jsons(const std::string& results);
// Before a sweep records its plan: InputError (exit 2) when results/sweeps/
// already holds its name and profile from another sweep file (by canonical
// path) with other rows, which recording would silently replace, dropping
// the first file's runs from every table. Names the file the name was
// recorded from and the three ways out. The same file moved or rerun with
// other settings, or an unreadable record, passes.
void check_sweep_name_free(const std::string& results, const SweepRecord& s);

// Index one run folder into the store (run.json + config.toml + metrics.h5).
// Throws InputError for an unreadable record, SQLite::Exception for the index.
void index_run(Store& store, const std::string& dir);

// index_run, but a run never fails for its index: when the index is locked
// past its busy timeout, full or damaged, `warn` hears why and false comes
// back; the run folder stays the truth and Store::sync (the next run_sweep or
// make_tables) or --reindex indexes it.
bool index_run_or_defer(Store& store, const std::string& dir,
                        const std::function<void(const std::string&)>& warn);

// A sweep's plan recorded: its JSON (the truth) written, then the index,
// which when it cannot take it now (locked, full) is only warned about on
// stderr; Store::sync (the next run_sweep or make_tables) indexes it.
void record_sweep_plan(const std::string& results, Store* store, const SweepRecord& rec);

// Store::sync for a program's start: brings the index up to date with the
// run folders and prints (to stderr, prefixed by `program`) how many runs it
// indexed and every folder it could not read, with what to do.
void sync_index(Store& store, const std::string& results, const char* program);

}  // namespace ldae
