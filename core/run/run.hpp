// One run, end to end: data -> tokenizer (fitted once, cached) -> DiT
// pre-training -> linear probe -> records (run folder + SQLite index).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "core/config/config.hpp"
#include "core/data/data.hpp"
#include "core/nn/distributed.hpp"
#include "backbones/backbone.hpp"
#include "core/diffusion/objective.hpp"
#include "core/config/preflight.hpp"
#include "core/config/sweep.hpp"
#include "core/records/live_log.hpp"
#include "core/records/store.hpp"
#include "core/train/trainer.hpp"

namespace ldae {

struct RunContext {
  std::string results = "results";
  int threads = 0;                          // 0 = config, then default_threads()
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM
  int64_t max_steps = 0;                    // tests: stop after N steps
  bool wait_if_busy = false;                // wait for another process's run to end
  // Data parallel (run_sweep under torchrun or srun): every rank calls
  // execute_run for the run rank 0 announced; rank 0 alone writes records.
  std::shared_ptr<Communicator> comm;
  int64_t dp_index = -1;                    // rank 0: the plan index it announces
  // The run's live log (metrics.jsonl, TensorBoard), set by execute_run for
  // the run it holds; empty elsewhere (data-parallel followers, tests).
  LiveSink live;
  // Called once the run's trained model is in results/models/ (trained and
  // kept, or loaded from there): execute_run releases the lock a concurrent
  // sweep's run sharing that model waits on. Empty elsewhere.
  std::function<void()> model_ready;
};

struct RunOutcome {
  // Busy: another process holds the run's lock, or trains the model it
  // shares (a concurrent sweep); `error` then says which.
  enum Status { Done, Failed, Stopped, Skipped, Busy } status = Done;
  double top1 = -1;
  double knn_top1 = -1;  // -1: kNN probe off
  double seconds = 0;
  std::string error;
};

// The prepared dataset's size (loaded once per process and kept for the runs).
DataSize prepared_data_size(const DataConfig& c, const std::string& results);
// dataset_fingerprint of the prepared data for a config that needs one
// (data_needs_fingerprint), else "". Loads the data once per process.
std::string prepared_data_fingerprint(const DataConfig& c, const std::string& results);
// Both digests of the prepared data (dataset_digests), once per process.
DataDigests prepared_data_digests(const DataConfig& c, const std::string& results);
// The fingerprint run ids carry for data of digests `dg` in the results
// root `results`: its legacy 16-hex hash, which every id recorded so far
// carries, unless other data of this root held that hash first; then
// "xxh3-" + its strong digest (the legacy hash cancels two flipped top
// bits, so two datasets can share it). The first data to hold each legacy
// hash is recorded with its strong digest in results/cache/data_digests.tsv
// (under a flock; a read-only root is only read). Runs recorded before the
// file existed: their data is recorded on first use after.
std::string data_fingerprint_in_root(const DataDigests& dg, const std::string& results);
// Sets every planned run's data.fingerprint and recomputes its id: run ids,
// tokenizer and trained-model caches then follow the data's content, not its
// path (issue 14 item 7). Throws InputError when the data cannot be loaded,
// unless skip_absent (a dry run): runs whose data are absent keep their id
// without a fingerprint, and their count comes back.
size_t attach_data_fingerprints(std::vector<PlannedRun>& plan, const std::string& results,
                                bool skip_absent);

// A run's status as its folder says (effective_status, core/records/records.hpp):
// "" (never started), running (its process holds the lock), done, failed,
// interrupted (stopped, or killed: resumable from its checkpoint).
std::string run_status(const std::string& results, const std::string& id);

// One run, end to end, recorded in its folder; `store` (null: index writes
// off, as for Slurm array tasks on a shared file system) mirrors the record.
RunOutcome execute_run(const RunConfig& cfg, const std::string& label, const RunContext& ctx,
                       Store* store);

// Data parallel, ranks other than 0, once rank 0 has announced this run
// (RunContext::comm): mirror its computation (same data, tokenizer file,
// model and noise; this rank's slice of each batch and of the probe
// features) and write nothing. Needs the results root on a file system that
// every rank sees.
RunOutcome follow_run(const RunConfig& cfg, const RunContext& ctx);

// ---- the parts of a run that figures reuse (show_noise) ----------------------
class Tokenizer;
struct RunParts {
  // (N, C, H, W) float batches as the run sees them: resident or streamed
  // from the prepared store (data.resident_max_gb), read on demand.
  ImageBatches train, test;
  torch::Tensor train_y, test_y;  // (N,) int64
  int64_t classes = 0;
  std::unique_ptr<Tokenizer> tok;     // fitted (or loaded from the cache)
};
// Data and tokenizer of cfg exactly as a run has them (fitting the tokenizer
// into results/tokenizers/ when no run has yet).
RunParts load_run_parts(const RunConfig& cfg, const std::string& results,
                        const std::function<void(const std::string&)>& log);
// Clean latents (N, L, d) of every training image and, for linear
// tokenizers, the normalised patches (N, L, D) and the bases V (d, D),
// V_full (D, D) that the image-space objectives need.
TrainData prepare_train_data(const Tokenizer& tok, const torch::Tensor& images, const torch::Tensor& labels);
// The backbone's options for cfg: token widths from the tokenizer and the
// objective, the token grid from the image size H x W, the rest from cfg.model.
BackboneOptions run_backbone_options(const RunConfig& cfg, const Objective& obj, const TrainData& td,
                                     int64_t H, int64_t W, int64_t classes);
// Where cfg's fitted tokenizer is cached: RESULTS/tokenizers/NAME-HASH.h5,
// the hash of the data and tokenizer keys (+ the perceptual network when the
// tokenizer wants one, + the run's seed under tokenizer.per_seed).
std::string tokenizer_path(const RunConfig& cfg, const std::string& results, bool wants_perceptual_net);
// The resolved config of a recorded run (RESULTS/runs/ID/config.toml).
// InputError when the run is unknown or its config does not give back its id.
RunConfig read_run_config(const std::string& results, const std::string& id);
// The trained denoiser of a finished run, in eval mode on the CPU; parts
// from load_run_parts. InputError when the run has no trained model.
Backbone load_run_model(const RunConfig& cfg, const RunParts& parts, const std::string& results);

// The commit of the source tree (with -dirty for local changes), read at
// run time so records never carry a stale configure-time value.
std::string git_commit();


}  // namespace ldae
