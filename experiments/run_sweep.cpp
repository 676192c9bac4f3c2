// run_sweep: sweep file -> validated plan -> runs (skipping done ones,
// resuming interrupted ones) -> results database. Exit codes: 0 all done,
// 1 some run failed, 2 bad input, 130 interrupted.
#include <boost/program_options.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "backbones/backbone.hpp"
#include "core/atomic_file.hpp"
#include "core/build_info.hpp"
#include "core/cli.hpp"
#include "core/data.hpp"
#include "core/distributed.hpp"
#include "core/plugins.hpp"
#include "core/records.hpp"
#include "core/registry.hpp"
#include "core/run.hpp"
#include "core/slurm.hpp"
#include "core/stop.hpp"
#include "core/sweep.hpp"

namespace po = boost::program_options;
using namespace ldae;

namespace {
std::atomic<bool> g_requeue{false}, g_connecting{false};
// First Ctrl-C: checkpoint and stop at the next step. Second: stop now (a
// killed run resumes from its last checkpoint). While connecting to the other
// ranks there is no step to stop at and nothing to save (and a peer that never
// comes would hold us there until the rendezvous times out): stop at once.
void on_signal(int sig) {
  if (stop_requested() || g_connecting) std::_Exit(128 + sig);
  stop_flag() = true;
}

// connect() with a signal ending the process at once while it waits for peers.
std::shared_ptr<Communicator> connect_interruptibly(const DistEnv& dist, bool cuda) {
  g_connecting = true;
  struct Reset {
    ~Reset() { g_connecting = false; }
  } reset;
  return connect(dist, cuda);
}
// Slurm's warning before the time limit (sbatch --signal=B:USR1@120):
// checkpoint, then requeue the array task, which resumes the run.
void on_usr1(int) {
  g_requeue = true;
  stop_flag() = true;
}

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_usr1);
}

// Requeue this Slurm array task (it resumes from the checkpoint). False when
// not under Slurm or scontrol fails.
bool requeue_slurm_task() {
  const char* job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* plain = std::getenv("SLURM_JOB_ID");
  std::string id = job && task ? std::string(job) + "_" + task : plain ? plain : "";
  if (id.empty()) return false;
  return std::system(("scontrol requeue " + shell_quote(id)).c_str()) == 0;
}

// Write the sbatch array script for the pending runs and submit it (unless
// dry_run). Returns the exit code.
int launch_slurm(const SweepFile& sweep, const std::string& profile, const std::string& file,
                 const std::vector<PlannedRun>& plan, const std::vector<PlannedRun>& full_plan,
                 const std::string& results,
                 const std::vector<std::string>& sets, const std::vector<std::string>& plugins,
                 int threads, SlurmOptions o, bool dry_run) {
  namespace fs = std::filesystem;
  std::vector<std::string> pending;
  for (const auto& p : plan)
    if (run_status(results, p.id) != "done" &&
        std::find(pending.begin(), pending.end(), p.id) == pending.end())
      pending.push_back(p.id);
  if (pending.empty()) {
    fmt::print("every run is done; nothing to submit\n");
    return 0;
  }
  // #SBATCH lines are not shell words: a value with spaces or shell
  // characters would be cut or misread there.
  auto plain = [](const std::string& v, const char* extra) {
    return std::all_of(v.begin(), v.end(), [&](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(extra, c) != nullptr;
    });
  };
  if (!plain(o.partition, "_-.,"))
    throw InputError("--partition '" + o.partition + "': expected a Slurm partition name (letters, "
                     "digits, '_', '-', '.', ',' between several)");
  if (!plain(fs::absolute(results).string(), "/_-.+=@:,%"))
    throw InputError("--results " + results + ": the sbatch script's #SBATCH --output line cannot hold "
                     "this path (spaces or shell characters); use a results folder without them");
  if (!valid_slurm_time(o.time))
    throw InputError("--time '" + o.time + "': expected a Slurm time such as 30, 4:00:00 or 1-12:00:00");
  const std::string prof = profile.empty() ? "default" : profile;
  const fs::path root = fs::absolute(results);
  fs::create_directories(root / "slurm" / "logs");
  o.job_name = fmt::format("ldae-{}-{}", sweep.name, prof);
  o.log_dir = (root / "slurm" / "logs").string();
  o.command = {fs::read_symlink("/proc/self/exe").string(), fs::absolute(file).string(),
               "--results", root.string(), "--index", "off"};
  if (!profile.empty()) o.command.insert(o.command.end(), {"--profile", profile});
  if (threads > 0) o.command.insert(o.command.end(), {"--threads", std::to_string(threads)});
  for (const auto& s : sets) o.command.insert(o.command.end(), {"--set", s});
  for (const auto& p : plugins) o.command.insert(o.command.end(), {"--plugin", fs::absolute(p).string()});
  const std::string script = (root / "slurm" / fmt::format("{}.{}.sbatch", sweep.name, prof)).string();
  write_text_atomically(script, sbatch_script(o, pending));
  // The sweep's plan goes into the index now, so make_tables sees every row
  // while the tasks run.
  Store store(root.string() + "/results.db");
  SweepRecord rec{sweep.name, prof, sweep.title, file, sweep.mode, {}};
  for (const auto& p : full_plan) rec.rows.push_back({p.row, p.label, p.seed, p.id, p.paper, p.parent});
  write_sweep_json(root.string(), rec);
  store.put_sweep(rec);
  fmt::print("wrote {} ({} array tasks, one per pending run)\n", script, pending.size());
  if (dry_run) {
    fmt::print("--dry-run: not submitted; submit with `sbatch {}`\n", shell_quote(script));
    return 0;
  }
  if (std::system("command -v sbatch > /dev/null 2>&1") != 0)
    throw InputError("--launcher slurm: sbatch is not on PATH (not a Slurm login node?); use "
                     "--dry-run to write the script and submit it where Slurm runs");
  const int rc = std::system(("sbatch " + shell_quote(script)).c_str());
  if (rc != 0) throw InputError(fmt::format("sbatch {} failed (exit {})", script, rc));
  return 0;
}

// Data parallel over NCCL when every run of the plan trains on a GPU, else Gloo.
bool plan_on_gpu(const std::vector<PlannedRun>& plan) {
  if (!torch::cuda::is_available()) return false;
  for (const auto& p : plan)
    if (p.cfg.train.device == "cpu") return false;
  return true;
}

// What rank 0 broadcasts instead of a plan index when the sweep ends.
constexpr int64_t kSweepDone = -1, kSweepStopped = -2, kSweepFailed = -3;

// Data parallel, ranks other than 0: join each run rank 0 announces (by its
// index in the plan, which every rank expands identically) until it says the
// sweep is over. Exit code as rank 0's: 0 done, 130 stopped, 1 otherwise.
int follow_sweep(const std::vector<PlannedRun>& plan, const DistEnv& dist, const std::string& results,
                 int threads, bool dry_run) {
  if (dry_run) return 0;
  RunContext ctx;
  ctx.results = results;
  ctx.threads = threads;
  ctx.stop = &stop_flag();
  install_signal_handlers();
  ctx.comm = connect_interruptibly(dist, plan_on_gpu(plan));
  for (;;) {
    const int64_t k = ctx.comm->broadcast(kSweepFailed, kFollowerWaitS);
    if (k == kSweepDone) return 0;
    if (k == kSweepStopped) return 130;
    if (k < 0 || size_t(k) >= plan.size()) return 1;
    auto out = follow_run(plan[size_t(k)].cfg, ctx);
    if (!out.error.empty()) return 1;  // rank 0 is gone
    if (out.status == RunOutcome::Failed)
      fmt::print(stderr, "rank {}: run {} ended early (rank 0 records why)\n", dist.rank, plan[size_t(k)].id);
  }
}

void print_registries() {
  auto line = [](const char* what, const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    fmt::print("{:<18} {}\n", what, s);
  };
  line("data.name", dataset_names());
  line("tokenizer.name", tokenizer_names());
  line("noise.schedule", schedule_names());
  line("objective.target", target_names());
  line("objective.space", {"latent", "image"});
  line("data.augment", {"center", "rrc_flip"});
  line("eval.sampler", sampler_names());
  line("model.backbone", backbone_names());
  line("model.cls_token", {"false", "true (dit, uvit)"});
  line("model.preset", {"tiny", "S", "B", "L", "XL"});
  line("probe.name", probe_names());
  line("probe.features", {"encoder", "raw_pixels", "untrained_encoder"});
  line("probe.pool", {"mean", "cls (needs model.cls_token)"});
  line("method.name", method_names());
  // Each pre-training method and the keys it reads (methods/*.hpp).
  fmt::print("\npre-training methods (method.name; every run trains the encoder its probes read):\n");
  fmt::print("  {:<8} {}\n", "denoise", "the paper's denoising step: noise.*, objective.* (default)");
  fmt::print("  {:<8} {}\n", "mae", "masked autoencoder: mae.mask_ratio, mae.decoder_depth, mae.decoder_width, mae.norm_pix");
  fmt::print("  {:<8} {}\n", "moco_v3", "momentum contrast: moco.m, moco.t, moco.dim, moco.mlp_dim, moco.freeze_patch_embed");
  fmt::print("  {:<8} {}\n", "dino", "self-distillation: dino.local_crops, dino.out_dim, dino.hidden, dino.bottleneck, dino.m,\n"
             "           dino.teacher_temp, dino.warmup_teacher_temp, dino.warmup_teacher_temp_epochs,\n"
             "           dino.student_temp, dino.center_m");
  fmt::print("  fine-tuning beside the probes: eval.finetune_epochs > 0 (eval.finetune_*)\n");
  // Each backbone's feature points (probe.block) at the defaults: the tiny
  // preset on Fashion-MNIST's 8 x 8 token grid (patch 4); * = probe.block -1.
  fmt::print("\nprobe.block of each model.backbone (tiny preset, 8 x 8 token grid; * = the default):\n");
  for (const auto& name : backbone_names()) {
    RunConfig c;
    c.model.name = name;
    BackboneOptions o = backbone_options(c, 8, 8);
    o.in_dim = o.out_dim = c.tokenizer.d;
    torch::manual_seed(0);
    Backbone m = make_backbone(name, o);
    std::string s;
    for (int64_t b = 0; b <= m->blocks(); ++b)
      s += fmt::format("{}{} {}{}", b ? ", " : "", b, m->block_name(b), b == o.split ? "*" : "");
    fmt::print("  {:<6} {}\n", name, s);
  }
  fmt::print("\nkeys and defaults (model.backbone is spelled model.name below and in run ids):\n");
  RunConfig defaults;
  for (const auto& k : config_keys()) fmt::print("  {} = {}\n", k, value_str(get(defaults, k)));
  for (const auto& p : loaded_plugins())
    fmt::print("\nplugin {} {} ({}): {}\n", p.name, p.version, p.path, p.description);
  for (const auto& [spec, owner] : declared_keys())
    fmt::print("  {} = {}  [{}] {}\n", spec.key, value_str(spec.default_value), owner, spec.help);
}

int run(int argc, char** argv) {
  po::options_description opts(
      "run_sweep FILE.toml [options]\n\nRun every row of a sweep file (see experiments/*.toml) and "
      "index the results.\nOptions");
  std::vector<std::string> sets, plugins;
  std::string file, profile, only, results = "results", launcher = "local", run_id_arg, index_mode = "auto";
  int threads = 0;
  SlurmOptions slurm;
  opts.add_options()("help,h", "print this help")(
      "profile,p", po::value(&profile), "profile of the sweep file, e.g. tiny")(
      "set", po::value(&sets)->composing(), "override a key for every row: --set train.epochs=3 (repeatable)")(
      "only", po::value(&only), "run only rows whose label contains LABEL (or row number)")(
      "dry-run", "print the plan (row, run id, status) and exit")(
      "results", po::value(&results), "results root (default: results)")(
      "threads", po::value(&threads), "CPU threads (default: train.threads, else all cores)")(
      "plugin", po::value(&plugins)->composing(), "load a plugin shared library first (repeatable)")(
      "run-id", po::value(&run_id_arg), "run only the planned run with this id (what a Slurm array task does)")(
      "launcher", po::value(&launcher), "local (default: run here) or slurm (write and submit an sbatch array)")(
      "partition", po::value(&slurm.partition), "slurm: partition")(
      "gpus-per-run", po::value(&slurm.gpus_per_run), "slurm: GPUs per run (--gres=gpu:N)")(
      "cpus-per-run", po::value(&slurm.cpus_per_run), "slurm: CPUs per run (--cpus-per-task)")(
      "time", po::value(&slurm.time), "slurm: time limit per task (default 24:00:00); runs checkpoint "
                                       "and requeue 120 s before it")(
      "list", "print every registry with its names, and every key with its default")(
"index", po::value(&index_mode),
      "auto (default), on or off: write results.db as runs end. off: only the run folders are "
      "written and the next run_sweep, make_tables or --reindex indexes them (auto: off in a Slurm "
      "array task or with LDAE_INDEX=off, because SQLite cannot be shared across hosts)")(
      "reindex", "rebuild results.db from the run folders and exit")(
      "version", "print LibTorch, CUDA, cuDNN and NCCL versions, the CPU kernels and the GPUs visible");
  po::options_description hidden;
  hidden.add_options()("file", po::value(&file));
  po::positional_options_description pos;
  pos.add("file", 1);
  po::options_description all;
  all.add(opts).add(hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "run_sweep: {} (see --help)\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\nExamples:\n  run_sweep experiments/quickstart.toml --profile tiny\n"
                         "  run_sweep experiments/ablation_table3.toml --profile small --launcher slurm "
                         "--partition gpu --gpus-per-run 1 --time 12:00:00\n";
    return 0;
  }
  if (vm.count("version")) {
    fmt::print("{}", version_report("run_sweep"));
    return 0;
  }
  for (const auto& p : plugins) load_plugin(p, "--plugin");
  if (vm.count("list")) {
    print_registries();
    return 0;
  }
  if (vm.count("reindex")) {
    std::filesystem::create_directories(results);
    Store store(results + "/results.db");
    std::vector<std::string> bad;
    const size_t n = store.rebuild(results, &bad);
    fmt::print("reindexed {} runs from {}/runs\n", n, results);
    for (const auto& b : bad) fmt::print(stderr, "run_sweep: needs attention: {}\n", b);
    return bad.empty() ? 0 : 2;
  }
  if (file.empty()) {
    fmt::print(stderr, "run_sweep: give a sweep file, e.g. run_sweep experiments/quickstart.toml (see --help)\n");
    return 2;
  }
  check_threads_flag(threads);
  if (index_mode != "auto" && index_mode != "on" && index_mode != "off")
    throw InputError("--index '" + index_mode + "': expected auto, on or off");

  Overrides cli;
  for (const auto& s : sets) cli.insert(parse_set(s));
  if (const std::string found = find_sweep_file(file); found != file) {  // a bare name
    fmt::print("sweep file: {}\n", found);
    file = found;
  }
  SweepFile sweep = parse_sweep(file);
  for (const auto& [entry, where] : sweep.plugins) require_plugin(entry, file, where);
  auto plan = expand(sweep, profile, cli);  // validates every run before any starts
  // Ids follow the data's content where a user's folder is read (the data
  // are loaded now, once; the runs reuse them).
  const size_t unfingerprinted = attach_data_fingerprints(plan, results, vm.count("dry-run") > 0);
  const std::vector<PlannedRun> full_plan = plan;  // what the sweep records, whatever --only keeps
  if (!only.empty()) {
    std::vector<PlannedRun> kept;
    for (auto& p : plan)
      if (p.label.find(only) != std::string::npos || std::to_string(p.row) == only) kept.push_back(p);
    if (kept.empty()) throw InputError(fmt::format("--only '{}' matches no row of {}", only, file));
    plan = kept;
  }
  if (!run_id_arg.empty()) {
    std::vector<PlannedRun> kept;
    for (auto& p : plan)
      if (p.id == run_id_arg) {
        kept.push_back(p);
        break;
      }
    if (kept.empty())
      throw InputError(fmt::format("--run-id {} is not a run of {} under profile '{}' (see --dry-run)",
                                   run_id_arg, file, profile));
    plan = kept;
  }
  if (launcher != "local" && launcher != "slurm")
    throw InputError("--launcher '" + launcher + "': expected local or slurm");
  if (slurm.gpus_per_run < 0 || slurm.cpus_per_run < 0)
    throw InputError("--gpus-per-run and --cpus-per-run must be >= 0");

  // Data parallel (torchrun --no-python, or srun with several tasks): every
  // rank runs this program; rank 0 walks the plan and the others follow.
  const DistEnv dist = dist_env_from_process();
  if (dist.world > 1 && launcher == "slurm")
    throw InputError("--launcher slurm submits a sweep from a login node; run it outside torchrun/srun");
  if (dist.rank != 0) return follow_sweep(plan, dist, results, threads, vm.count("dry-run") > 0);

  fmt::print("sweep {} ({}), profile {}, {} runs\n", sweep.name, sweep.mode,
             profile.empty() ? "-" : profile, plan.size());
  for (const auto& p : plan) {
    const std::string dir = run_dir(results, p.id);
    const std::string listed = listed_status(dir), st = listed.empty() ? "pending" : listed;
    fmt::print("  row {:>2}  seed {}  {}  {:<12} {}\n", p.row, p.seed, p.id, st, p.label);
    if (st == "failed")  // why, so the user can fix it before the retry
      fmt::print("           error: {}\n", read_run_json(dir).value("error", std::string("none recorded")).substr(0, 300));
    if (st == "damaged") {
      std::string why;
      try {
        why = damage_of(dir, read_run_json(dir));
      } catch (const InputError& e) {
        why = e.what();
      }
      fmt::print("           damaged: {}; run_sweep reruns it\n", why.substr(0, 300));
    }
  }
  // Constraints of the config against the data's size (exit 2 before any
  // run starts) and runs too short to train (warnings). A dry run or a
  // Slurm submission checks what is cheap: data present, no image_folder to
  // prepare first (the runs check it themselves when they start).
  const bool light = vm.count("dry-run") > 0 || launcher == "slurm";
  if (!light) install_signal_handlers();  // data preparation below hears a stop too
  std::fflush(stdout);  // the plan above its warnings
  std::vector<std::string> warned;
  for (const auto& p : plan) {
    if (light) {
      if (p.cfg.data.name == "image_folder") continue;
      try {
        check_data_available(p.cfg.data);
      } catch (const InputError&) {
        continue;
      }
    } else {
      check_data_available(p.cfg.data);
    }
    const auto where = fmt::format("{}: row {} '{}'", file, p.row, p.label);
    if (!light) check_network_files(p.cfg, where);
    for (const auto& w : check_against_data(p.cfg, prepared_data_size(p.cfg.data, results), where))
      if (std::find(warned.begin(), warned.end(), w) == warned.end()) {
        fmt::print(stderr, "run_sweep: warning: {}\n", w);
        warned.push_back(w);
      }
  }
  if (unfingerprinted > 0)
    fmt::print("note: {} run(s) read data that is not there yet: their ids above lack the data's "
               "fingerprint and change once it is\n", unfingerprinted);
  if (launcher == "slurm")
    return launch_slurm(sweep, profile, file, plan, full_plan, results, sets, plugins, threads, slurm,
                        vm.count("dry-run") > 0);
  if (vm.count("dry-run")) return 0;

  std::filesystem::create_directories(results);
  // Shared folders: temporaries of processes of this host killed mid-write.
  for (const char* sub : {"", "/sweeps", "/models", "/tokenizers", "/cache", "/tables", "/slurm"})
    remove_stale_temporaries(results + sub);
  // The index: one SQLite file that must never be written from two hosts
  // (WAL needs shared memory; network file systems break POSIX locks). Array
  // tasks write their run folders only; whoever reads the index next syncs it.
  const char* index_env = std::getenv("LDAE_INDEX");
  const bool write_index = index_mode == "on" ||
                           (index_mode == "auto" && !std::getenv("SLURM_ARRAY_TASK_ID") &&
                            !(index_env && std::string(index_env) == "off"));
  std::optional<Store> store;
  if (write_index) {
    store.emplace(results + "/results.db");
    sync_index(*store, results, "run_sweep");
  }
  SweepRecord rec{sweep.name, profile.empty() ? "default" : profile, sweep.title, file, sweep.mode, {}};
  for (const auto& p : full_plan) rec.rows.push_back({p.row, p.label, p.seed, p.id, p.paper, p.parent});
  // The whole plan is recorded (--only runs part of it; the table shows the
  // rest pending), except by Slurm array tasks: their launcher recorded it.
  if (run_id_arg.empty()) {
    write_sweep_json(results, rec);  // the truth; the index follows when it can
    try {
      if (store) store->put_sweep(rec);
    } catch (const SQLite::Exception& e) {
      fmt::print(stderr, "run_sweep: warning: sweep plan not indexed yet ({}); the next run_sweep or "
                 "make_tables indexes it\n", store_error(results + "/results.db", e).what());
    }
  }

  install_signal_handlers();
  RunContext ctx;
  ctx.results = results;
  ctx.threads = threads;
  ctx.stop = &stop_flag();
  ctx.comm = connect_interruptibly(dist, plan_on_gpu(plan));
  if (ctx.comm)
    fmt::print("data parallel: {} {} processes ({}'s environment), rendezvous {}:{}\n", dist.world,
               ctx.comm->backend(), dist.source, dist.master_addr, dist.master_port);
  // However this process leaves the sweep, the followers hear it and exit too.
  struct SweepEnd {
    std::shared_ptr<Communicator> comm;
    int64_t code = kSweepFailed;
    ~SweepEnd() {
      try {
        if (comm) comm->broadcast(code, 60);
      } catch (...) {
      }
    }
  } sweep_end{ctx.comm};
  int failed = 0;
  size_t k = 0;
  bool requeued = false;
  // Returns false when the sweep must stop (interrupted).
  auto run_one = [&](const PlannedRun& p, std::vector<PlannedRun>& busy) {
    ctx.dp_index = std::find_if(plan.begin(), plan.end(), [&](const PlannedRun& q) { return q.id == p.id; }) -
                   plan.begin();
    fmt::print("\n[{}/{}] row {} seed {} {}: {}\n", ++k, plan.size(), p.row, p.seed, p.id, p.label);
    std::fflush(stdout);
    auto out = execute_run(p.cfg, p.label, ctx, store ? &*store : nullptr);
    switch (out.status) {
      case RunOutcome::Skipped: fmt::print("  done earlier: top-1 {:.2f}%\n", out.top1); break;
      case RunOutcome::Done:
        fmt::print("  done in {:.1f} s: top-1 {:.2f}%{}\n", out.seconds, out.top1,
                   out.knn_top1 >= 0 ? fmt::format(", kNN {:.2f}%", out.knn_top1) : "");
        break;
      case RunOutcome::Failed: fmt::print("  FAILED: {}\n", out.error); ++failed; break;
      case RunOutcome::Busy:
        fmt::print("  running in another process; coming back to it at the end\n");
        busy.push_back(p);
        --k;
        break;
      case RunOutcome::Stopped:
        if (g_requeue && requeue_slurm_task()) {
          fmt::print("  checkpointed before the time limit; task requeued, it resumes there\n");
          requeued = true;
        } else {
          fmt::print("  interrupted; rerun the same command to resume from the checkpoint\n");
        }
        return false;
    }
    std::fflush(stdout);
    return true;
  };
  // Runs another process is training (a concurrent sweep, or an orphan of a
  // killed `make`) are left for a second pass that waits for them.
  std::vector<PlannedRun> busy, unused;
  sweep_end.code = kSweepStopped;
  for (const auto& p : plan)
    if (!run_one(p, busy)) return requeued ? 0 : 130;
  ctx.wait_if_busy = true;
  for (const auto& p : busy)
    if (!run_one(p, unused)) return requeued ? 0 : 130;
  sweep_end.code = kSweepDone;
  fmt::print("\nsweep {}: {} runs, {} failed; tables: make_tables --results {} --sweep {}\n",
             sweep.name, plan.size(), failed, shell_quote(results), sweep.name);
  return failed ? 1 : 0;
}
}  // namespace

int main(int argc, char** argv) {
  return guarded_main("run_sweep", [&] { return run(argc, argv); });
}
