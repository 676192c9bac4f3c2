// One run, orchestrated: it takes the run's folder (lock, damaged or
// finished records), then runs the stages of core/run/run_stages.hpp in order
// (data -> tokenizer -> pre-training by method -> evaluation) and records
// what they give (run.json, metrics.h5, the SQLite index), all or nothing.
#include "core/run/run.hpp"

#include "ldae_git_commit.h"  // generated at build time (cmake/git_commit.cmake)

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "core/base/atomic_file.hpp"
#include "core/base/build_info.hpp"
#include "core/base/filesystem.hpp"
#include "core/run/plugins.hpp"
#include "core/run/run_stages.hpp"
#include "core/base/stop.hpp"

namespace ldae {
namespace fs = std::filesystem;

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

// Data parallel: tells the other ranks, once, what this run does.
struct Followers {
  const RunContext& ctx;
  bool told = false;
  void tell(int64_t stage) {
    if (!ctx.comm || told) return;
    told = true;
    ctx.comm->broadcast(stage, kFollowerWaitS);
  }
};

// What the encoder stages give the probes; `ended` when training failed or stopped.
struct Encoded {
  torch::Tensor f_train, f_test;
  TrainView train_view;  // probe.augment
  std::optional<RunOutcome::Status> ended;
  std::string error;
};

// Tokenizer -> pre-training -> FID -> fine-tuning, recording as it goes.
Encoded encoder_stages(const RunConfig& cfg, const RunData& data, const RunContext& ctx, torch::Device device,
                       Followers& followers, RunRecord& r, RunMetrics& metrics) {
  auto& rec = r.json();
  const Log log = r.logger();
  // The harness classifier (perceptual loss, FID), trained once per data config.
  std::shared_ptr<FeatureNet> classifier_net;
  FeatureNetSource feature_net = [&](const std::string& spec) {
    if (spec == "classifier" && classifier_net) return classifier_net;
    auto n = make_feature_net(spec, ctx.results, fnv1a_hex(data_cache_text(cfg)), data.train,
                              data.train_y, &data.test, data.test_y, data.classes, cfg.eval.classifier_epochs, log);
    if (spec == "classifier") classifier_net = n;
    return n;
  };
  double fit_s = 0;
  auto tok = fitted_tokenizer(cfg, data.train, ctx.results,
                              [&] { return feature_net(cfg.tokenizer.perceptual_net); }, log, &fit_s);
  rec["timings"]["tokenizer_s"] = fit_s;
  metrics.recon_mse = tok->reconstruction_mse(data.test, data.streamed ? kStreamRows : 1024);
  metrics.tokenizer_fit = tok->fit_curve();
  rec["tokenizer_recon_mse"] = metrics.recon_mse;
  log(fmt::format("tokenizer reconstruction MSE on the test split: {:.6f}", metrics.recon_mse));
  TrainData td = prepare_train_data(*tok, data);
  std::error_code ec;  // a link that loops or dangles: no kept model (training replaces the link)
  const bool reuse = cfg.probe.features == "encoder" && fs::exists(trained_model_path(cfg, ctx.results), ec);
  followers.tell(reuse ? kStageReuse : kStageTrain);  // the tokenizer file is there for the others now
  auto st = train_and_featurize(cfg, *tok, td, data, run_dir(ctx.results, run_id(cfg)), reuse, ctx, device,
                                feature_net, log);
  metrics.loss = st.loss;
  if (!st.reused) {
    rec["timings"]["train_s"] = rec["timings"].value("train_s", 0.0) + st.train.seconds;
    rec["steps"] = st.train.steps;
  }
  Encoded e;
  if (st.train.status == TrainResult::Failed) e.ended = RunOutcome::Failed, e.error = st.train.error;
  if (st.train.status == TrainResult::Stopped) e.ended = RunOutcome::Stopped;
  if (e.ended) return e;
  e.f_train = st.f_train, e.f_test = st.f_test, e.train_view = st.train_view;
  record_encoder(cfg, st, *tok, run_dir(ctx.results, run_id(cfg)), rec, log);
  metrics.images_seen = st.budget[0], metrics.train_flops = st.budget[1], metrics.train_s = st.budget[2];
  if (st.budget[0] >= 0)
    rec["budget"] = {{"images_seen", st.budget[0]}, {"train_flops", st.budget[1]}, {"train_s", st.budget[2]}};
  if (cfg.eval.fid_samples > 0)
    generation_stage(cfg, st, *tok, td, data, device, feature_net, ctx.results, metrics, rec, log);
  if (cfg.eval.finetune_epochs > 0) {
    const auto t_ft = clk::now();
    const auto ft = finetune_stage(cfg, st, *tok, data, device, log, ctx.live);
    metrics.finetune_top1 = ft.top1, metrics.finetune = ft.curve;
    rec["finetune_top1"] = ft.top1;
    rec["timings"]["finetune_s"] = secs_since(t_ft);
  }
  return e;
}

// Every stage of a held run; the outcome (Done, Failed, Stopped) with the
// record finished accordingly. Exceptions are the caller's.
RunOutcome run_stages(const RunConfig& cfg, const RunContext& ctx, torch::Device device, Followers& followers,
                      RunRecord& r, clk::time_point start) {
  const std::string id = run_id(cfg), dir = run_dir(ctx.results, id);
  RunOutcome out;
  if (const auto now = prepared_data_fingerprint(cfg.data, ctx.results); now != cfg.data.fingerprint)
    throw InputError(fmt::format("data.path = \"{}\": the data's fingerprint is {} but the run was "
                                 "planned for {}; the data changed while the sweep ran, rerun it",
                                 cfg.data.path, now.empty() ? "(none)" : now,
                                 cfg.data.fingerprint.empty() ? "(none)" : cfg.data.fingerprint));
  const RunData data = run_data(cfg, ctx.results);
  r.log(fmt::format("data: {} train + {} test images of {} x {} x {}, {} ({:.2f} GiB as float32; "
                    "data.resident_max_gb = {})",
                    data.train.n, data.test.n, data.train.c, data.train.h, data.train.w,
                    data.streamed ? "streamed from the prepared store" : "resident in memory",
                    float_gib(data), cfg.data.resident_max_gb));
  // Before any training is spent (run_sweep checked the plan already; this
  // holds for every other caller).
  for (const auto& w : check_against_data(cfg, {data.train_y.size(0), data.test_y.size(0)}, "run " + id)) r.log(w);
  RunMetrics metrics;
  ProbeRows rows;
  if (cfg.probe.features == "raw_pixels") {
    // The anchor of every table: the same probe on raw pixels, no training.
    followers.tell(kStageRawPixels);
    if (cfg.eval.finetune_epochs > 0) r.log("no fine-tuning: raw pixels have no encoder (eval.finetune_epochs ignored)");
    rows = raw_pixel_rows(cfg, data, device, r.logger());
    r.json()["timings"]["tokenizer_s"] = 0.0;
    r.json()["tokenizer_recon_mse"] = metrics.recon_mse;
  } else {
    auto e = encoder_stages(cfg, data, ctx, device, followers, r, metrics);
    if (e.ended) {
      const bool failed = *e.ended == RunOutcome::Failed;
      r.log(failed ? "FAILED: " + e.error
                   : fmt::format("interrupted at step {}; checkpoint kept for resume", r.json().value("steps", 0)));
      r.finish(failed ? "failed" : "interrupted", e.error, start);
      out.status = *e.ended;
      out.error = e.error;
      return out;
    }
    rows.train = held_rows(plugin_probe_features(cfg, e.f_train));
    rows.test = held_rows(plugin_probe_features(cfg, e.f_test));
    // Augmented training features pass the plugins' probe hooks as the cached ones do.
    if (e.train_view)
      rows.view = [&cfg, view = e.train_view](const torch::Tensor& idx) {
        return plugin_probe_features(cfg, view(idx));
      };
  }
  probe_stage(cfg, rows, data, device, metrics, r.json(), r.logger(), ctx.live);
  auto labels = [](const torch::Tensor& y) {
    auto c = y.to(torch::kInt64).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  metrics.labels_train = labels(data.train_y), metrics.labels_test = labels(data.test_y);
  // Rows made on demand (raw pixels beyond data.resident_max_gb) are not kept:
  // the store holds them.
  write_metrics_h5(dir, metrics, rows.train.all, rows.test.all);
  r.json()["metrics_bytes"] = fs::file_size(dir + "/metrics.h5");  // damage_of checks it
  r.finish("done", "", start);  // after metrics.h5, so the index gets the curves
  remove_tree(dir + "/ckpt");    // a finished run needs no checkpoint
  out.status = RunOutcome::Done;
  out.top1 = metrics.top1;
  out.knn_top1 = metrics.knn_top1;
  return out;
}

// The trained model this run shares with others (results/models/), locked
// into `lock` until it is kept or loaded, so a concurrent sweep's run that
// shares it waits for it, then reuses it, instead of training it a second
// time. A Busy outcome saying why when another process holds it to train
// it and `ctx` does not wait (a kept model's holder only loads it, or
// trains a damaged one again: waited for); nothing for runs that train no
// model.
std::optional<RunOutcome> lock_trained_model(const RunConfig& cfg, const RunContext& ctx,
                                             std::optional<FileLock>& lock) {
  if (cfg.probe.features != "encoder") return std::nullopt;
  const std::string model = trained_model_path(cfg, ctx.results);
  std::error_code ec;  // a folder it cannot make: the lock file names the path
  fs::create_directories(fs::path(model).parent_path(), ec);
  lock.emplace(model + ".lock", "the results root must be writable (give another --results folder)");
  if (lock->try_lock()) return std::nullopt;
  if (fs::exists(model, ec)) {
    // Kept: the holder is loading it (a moment), or training it again
    // because it was damaged; either way this run reads it next.
    fmt::print("  another process is loading the model it shares, or training it again ({}); waiting for it\n", model);
    std::fflush(stdout);
    lock->wait("the wait for another process's use of the model this run shares (no record was written)");
    return std::nullopt;
  }
  RunOutcome busy{RunOutcome::Busy};
  busy.error = "another process is training the model it shares (" + model + ")";
  if (!ctx.wait_if_busy) return busy;
  fmt::print("  {}; waiting for it\n", busy.error);
  std::fflush(stdout);
  lock->wait("the wait for another process's training of the model this run shares (no record was written)");
  return std::nullopt;
}

}  // namespace

RunOutcome execute_run(const RunConfig& cfg, const std::string& label, const RunContext& ctx, Store* store) {
  const auto t_start = clk::now();
  const std::string dir = run_dir(ctx.results, run_id(cfg));
  nlohmann::json rec = existing_record(dir, true);
  if (rec.value("status", "") == "done") return finished_run(cfg, dir, rec, ctx, store);
  // Before the folder: a run that cannot start leaves nothing behind.
  const torch::Device device = pick_device(cfg.train.device, ctx.comm);
  const int threads = run_threads(cfg, ctx);
  fs::create_directories(dir);
  RunLock lock(dir);
  if (!lock.try_lock()) {
    if (!ctx.wait_if_busy) return RunOutcome{RunOutcome::Busy};
    fmt::print("  another process is training this run; waiting for it\n");
    std::fflush(stdout);
    lock.wait("the wait for another process's run (no record was written)");
    rec = existing_record(dir, false);
    if (rec.value("status", "") == "done") return RunOutcome{RunOutcome::Skipped, rec.value("probe_top1", -1.0)};
  }
  std::optional<FileLock> model_lock;
  if (auto busy = lock_trained_model(cfg, ctx, model_lock)) return *busy;
  // Temporaries of a writer of this run killed mid-write (we hold its lock now).
  remove_stale_temporaries(dir);
  remove_stale_temporaries(dir + "/ckpt");
  // Data parallel: this process holds the run; the other ranks join it now
  // and hear from `followers` whether to train, reuse or give up.
  Followers followers{ctx};
  if (ctx.comm) ctx.comm->broadcast(ctx.dp_index, kFollowerWaitS);
  write_text_atomically(dir + "/config.toml", to_toml(cfg));
  RunRecord r(dir, rec, store);
  torch::set_num_threads(threads);
  open_record(r, cfg, label, ctx, device, threads);
  // The live view of this run (metrics.jsonl, tb/), for its stages.
  LiveLog live(dir, cfg.train.live_log);
  RunContext run_ctx = ctx;
  run_ctx.live = live.sink(r.logger());
  if (model_lock) run_ctx.model_ready = [&model_lock] { model_lock->unlock(); };
  RunOutcome out;
  try {
    out = run_stages(cfg, run_ctx, device, followers, r, t_start);
  } catch (const Interrupted& e) {
    // A stop request in a phase past pre-training's checkpoints: nothing
    // half-written; a finished pre-training is in results/models/ already.
    followers.tell(kStageAbort);
    r.log(std::string(e.what()) + "; rerun the same command to resume");
    r.finish("interrupted", "", t_start);
    out.status = RunOutcome::Stopped;
  } catch (const InputError& e) {
    followers.tell(kStageAbort);
    // Recorded with its message (the plan listing, run.json and the index
    // show it), unless the record itself cannot be written (a full disk):
    // then the terminal's message is the one that counts.
    try {
      r.log(std::string("FAILED: ") + e.what());
      r.finish("failed", e.what(), t_start);
    } catch (const std::exception&) {
    }
    throw;
  } catch (const std::exception& e) {
    followers.tell(kStageAbort);
    // A failure inside one run (a tokenizer fit that diverged, a sampler
    // error) fails that run with its message; the sweep goes on.
    const std::string what = std::string(e.what()).substr(0, 500);
    r.log("FAILED: " + what);
    r.finish("failed", what, t_start);
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
  const RunData data = run_data(cfg, ctx.results);
  const Log quiet = [](const std::string&) {};
  double fit_s = 0;
  // Rank 0 has fitted and saved it: this loads the file (shared file system).
  auto tok = fitted_tokenizer(cfg, data.train, ctx.results, [] { return std::shared_ptr<FeatureNet>(); }, quiet,
                              &fit_s);
  TrainData td = prepare_train_data(*tok, data);
  // The classifier is trained once, seeded: a rank that finds no cached one
  // trains the same network rank 0 does (without its test-set report).
  FeatureNetSource feature_net = [&](const std::string& spec) {
    return make_feature_net(spec, ctx.results, fnv1a_hex(data_cache_text(cfg)), data.train,
                            data.train_y, nullptr, torch::Tensor(), data.classes, cfg.eval.classifier_epochs,
                            quiet);
  };
  auto st = train_and_featurize(cfg, *tok, td, data, run_dir(ctx.results, run_id(cfg)), what == kStageReuse, ctx,
                                device, feature_net, quiet);
  out.status = st.train.status == TrainResult::Done      ? RunOutcome::Done
               : st.train.status == TrainResult::Stopped ? RunOutcome::Stopped
                                                         : RunOutcome::Failed;
  return out;
}

}  // namespace ldae
