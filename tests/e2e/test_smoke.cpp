// End-to-end: a sweep on a 512-image subset of Fashion-MNIST (synthetic data
// when the package is missing) through training, probe, records, index and
// tables; an interrupted run resumes and finished runs are skipped.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/base/filesystem.hpp"
#include "analysis/tables.hpp"
#include "core/data/data.hpp"
#include "core/records/records.hpp"
#include "core/run/run.hpp"
#include "core/run/run_stages.hpp"
#include "core/config/sweep.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
std::string sweep_text() {
  // LDAE_TEST_SYNTHETIC=1 takes the synthetic branch where the package exists.
  const char* synth = std::getenv("LDAE_TEST_SYNTHETIC");
  bool fmnist = !(synth && std::string(synth) == "1") &&
                fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
  std::string data = fmnist ? "data.name = \"fashion_mnist\"\ndata.subset = 512\ndata.test_subset = 256\n"
                            : "data.name = \"synthetic\"\ndata.synthetic_size = 32\ndata.pad = 0\ndata.synthetic_train = 512\n";
  return R"(
[sweep]
name = "smoke"
mode = "independent"
[base]
)" + data + R"(
tokenizer.patch = 8
tokenizer.d = 16
tokenizer.fit_patches = 5000
model.depth = 2
model.width = 64
model.heads = 2
train.epochs = 2
train.batch = 64
train.base_lr = 1e-3
train.checkpoint_every = 4
probe.epochs = 5
[[row]]
label = "raw pixels"
probe.features = "raw_pixels"
[[row]]
label = "pca ddm"
paper.acc = 65.1
[[row]]
label = "l-DAE"
noise.schedule = "linear_sigma"
objective.input_scaling = false
objective.space = "image"
objective.target = "original_image"
paper.acc = 64.5
)";
}
}  // namespace

TEST(Smoke, SweepTrainsProbesRecordsAndResumes) {
  auto results = test::temp_dir("smoke");
  auto sweep = parse_sweep_text(sweep_text(), "smoke.toml");
  auto plan = expand(sweep, "", {});
  ASSERT_EQ(plan.size(), 3u);
  Store store(results + "/results.db");
  SweepRecord rec{"smoke", "default", "", "smoke.toml", sweep.mode, {}};
  for (const auto& p : plan) rec.rows.push_back({p.row, p.label, p.seed, p.id, p.paper, p.parent});
  store.put_sweep(rec);
  write_sweep_json(results, rec);

  RunContext ctx;
  ctx.results = results;
  ctx.threads = 2;
  // Interrupt the l-DAE run after 3 steps: a checkpoint at step 3 remains.
  ctx.max_steps = 3;
  auto stopped = execute_run(plan[2].cfg, plan[2].label, ctx, &store);
  EXPECT_EQ(stopped.status, RunOutcome::Stopped);
  EXPECT_EQ(run_status(results, plan[2].id), "interrupted");
  EXPECT_TRUE(fs::exists(run_dir(results, plan[2].id) + "/ckpt/last.pt"));

  // While another process holds a run's lock, this one leaves it alone.
  {
    int fd = ::open((run_dir(results, plan[2].id) + "/.lock").c_str(), O_RDWR);
    ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
    EXPECT_EQ(execute_run(plan[2].cfg, plan[2].label, ctx, &store).status, RunOutcome::Busy);
    close(fd);
  }

  // While another process trains the model a run shares (the lock beside
  // results/models/<hash>.pt), the run is left for later, saying why, and
  // writes no record.
  const std::string model_lock = trained_model_path(plan[1].cfg, results) + ".lock";
  {
    fs::create_directories(fs::path(model_lock).parent_path());
    int fd = ::open(model_lock.c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
    const auto busy = execute_run(plan[1].cfg, plan[1].label, ctx, &store);
    EXPECT_EQ(busy.status, RunOutcome::Busy);
    EXPECT_NE(busy.error.find("another process is training the model it shares"), std::string::npos) << busy.error;
    EXPECT_FALSE(fs::exists(run_dir(results, plan[1].id) + "/run.json"));
    close(fd);
  }

  ctx.max_steps = 0;
  for (const auto& p : plan) {
    auto out = execute_run(p.cfg, p.label, ctx, &store);
    ASSERT_EQ(out.status, RunOutcome::Done) << p.label << ": " << out.error;
    EXPECT_GT(out.top1, 20.0) << p.label;  // 10 classes: well above chance
  }
  auto log = read_text(run_dir(results, plan[2].id) + "/log.txt");
  EXPECT_NE(log.find("resumed from"), std::string::npos);
  EXPECT_FALSE(fs::exists(run_dir(results, plan[2].id) + "/ckpt"));
  // A checkpoint that cannot be resumed (here not an archive) fails neither
  // the run nor the sweep: named in the log, set aside, trained from step 0.
  {
    const std::string aside = results + "-unusable";
    remove_tree(aside);
    fs::create_directories(aside);
    Store other_store(aside + "/results.db");
    RunContext octx = ctx;
    octx.results = aside;
    octx.max_steps = 3;
    ASSERT_EQ(execute_run(plan[2].cfg, plan[2].label, octx, &other_store).status, RunOutcome::Stopped);
    const std::string odir = run_dir(aside, plan[2].id);
    std::ofstream(odir + "/ckpt/last.pt", std::ios::binary | std::ios::trunc) << std::string(3000, 'x');
    octx.max_steps = 0;
    const auto out = execute_run(plan[2].cfg, plan[2].label, octx, &other_store);
    ASSERT_EQ(out.status, RunOutcome::Done) << out.error;
    const auto olog = read_text(odir + "/log.txt");
    EXPECT_NE(olog.find("checkpoint " + odir + "/ckpt/last.pt not used ("), std::string::npos) << olog;
    EXPECT_NE(olog.find("training starts afresh at step 0"), std::string::npos) << olog;
    EXPECT_FALSE(fs::exists(odir + "/ckpt"));
    remove_tree(aside);
  }
  // A second pass skips every finished run.
  for (const auto& p : plan) EXPECT_EQ(execute_run(p.cfg, p.label, ctx, &store).status, RunOutcome::Skipped);
  // Waiting for another process's lock, then finding the run done: skipped.
  {
    int fd = ::open((run_dir(results, plan[1].id) + "/.lock").c_str(), O_RDWR);
    ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
    std::thread release([fd] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      close(fd);
    });
    ctx.wait_if_busy = true;
    EXPECT_EQ(execute_run(plan[1].cfg, plan[1].label, ctx, &store).status, RunOutcome::Skipped);
    release.join();
  }

  // A run sharing that model, waiting for its lock (a concurrent sweep's
  // second pass), then reuses the model: it is not trained twice.
  {
    RunConfig probe_only = plan[1].cfg;
    probe_only.probe.epochs = 4;
    ASSERT_EQ(trained_model_path(probe_only, results) + ".lock", model_lock);
    int fd = ::open(model_lock.c_str(), O_RDWR);
    ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
    std::thread release([fd] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      close(fd);
    });
    ctx.wait_if_busy = true;
    const auto out = execute_run(probe_only, plan[1].label, ctx, nullptr);
    release.join();
    ASSERT_EQ(out.status, RunOutcome::Done) << out.error;
    const std::string pdir = run_dir(results, run_id(probe_only));
    EXPECT_NE(read_text(pdir + "/log.txt").find("trained model reused from"), std::string::npos);
    remove_tree(pdir);
  }

  // Records: run folder files, the index, the HDF5 curves and features.
  auto dir = run_dir(results, plan[1].id);
  for (const char* f : {"config.toml", "run.json", "metrics.h5", "log.txt"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  auto m = read_metrics_h5(dir);
  EXPECT_EQ(m.loss.size(), 1u);  // 16 steps, one point per 50 steps + the last
  EXPECT_EQ(m.probe.size(), 5u);
  EXPECT_GT(m.recon_mse, 0.0);
  EXPECT_EQ(store.run(plan[1].id)->status, "done");
  // The kNN probe ran beside the linear one (default k = 20), above chance.
  EXPECT_GT(m.knn_top1, 20.0);
  EXPECT_EQ(store.metric(plan[1].id, "probe.knn_top1").at(0).value, m.knn_top1);

  // A run recorded before the kNN probe existed: the next pass adds it from
  // the stored features (no retraining) and the index follows.
  {
    RunMetrics old = m;
    old.knn_top1 = old.knn_top5 = -1;
    auto [ftr, fte] = read_probe_features(dir);
    ASSERT_TRUE(ftr.defined());
    write_metrics_h5(dir, old, ftr, fte);
    auto rec = read_run_json(dir);  // older records kept no metrics_bytes either
    rec.erase("metrics_bytes");
    write_run_json(dir, rec);
    store.db().exec("DELETE FROM metrics WHERE name LIKE 'probe.knn%' AND run_id = '" + plan[1].id +
                    "'");  // as an older index had it
    ASSERT_TRUE(store.metric(plan[1].id, "probe.knn_top1").empty());
    EXPECT_EQ(execute_run(plan[1].cfg, plan[1].label, ctx, &store).status, RunOutcome::Skipped);
    EXPECT_DOUBLE_EQ(read_metrics_h5(dir).knn_top1, m.knn_top1);
    EXPECT_DOUBLE_EQ(read_metrics_h5(dir).knn_top5, m.knn_top5);
    EXPECT_EQ(store.metric(plan[1].id, "probe.knn_top1").at(0).value, m.knn_top1);
    EXPECT_EQ(read_metrics_h5(dir).loss.size(), m.loss.size());  // the rest kept
    EXPECT_TRUE(read_probe_features(dir).first.equal(ftr));
    EXPECT_NE(read_text(dir + "/log.txt").find("kNN probe added from the stored features"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir + "/metrics.h5.tmp"));
  }

  // Tables regenerate from the database, and again after a rebuild.
  auto tables = collect_tables(store);
  ASSERT_EQ(tables.size(), 1u);
  ASSERT_EQ(tables[0].rows.size(), 3u);
  for (const auto& r : tables[0].rows) EXPECT_EQ(r.top1.values.size(), 1u);
  auto md = to_markdown(tables[0]);
  EXPECT_NE(md.find("| 3 | l-DAE |"), std::string::npos) << md;
  EXPECT_NE(md.find("64.5"), std::string::npos);
  EXPECT_NE(md.find("ours kNN (%)"), std::string::npos) << md;
  EXPECT_NE(to_csv(tables[0]).find(",knn_mean,knn_std,parent,change,change_p,fid_change,fid_change_p,failed,uses_labels,ft_mean,"
                                          "ft_std,paper_ft,ft_change,ft_change_p,images_seen,train_flops,train_s,method,overrides\n"), std::string::npos);
  EXPECT_EQ(store.rebuild(results), 3u);
  EXPECT_EQ(to_markdown(collect_tables(store).at(0)), md);
  EXPECT_EQ(store.db().execAndGet("PRAGMA integrity_check").getString(), "ok");
  remove_tree(results);
}
