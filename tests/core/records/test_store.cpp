// Database round trip, concurrent writers, schema version, rebuild.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/base/filesystem.hpp"
#include "core/base/errors.hpp"
#include "core/base/stop.hpp"
#include "core/records/records.hpp"
#include "core/records/store.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
using test::temp_dir;
}  // namespace

TEST(Store, RoundTripRunParamsMetricsSweep) {
  auto dir = temp_dir("store");
  Store s(dir + "/results.db");
  RunRow r;
  r.id = "abc";
  r.status = "done";
  r.seed = 3;
  r.label = "l-DAE";
  s.put_run(r, {{"tokenizer.name", "\"patch_pca\""}},
            {{"probe.top1", {{0, 81.5}}}, {"train.loss", {{50, 0.4}, {100, 0.3}}}});
  auto back = s.run("abc");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, "done");
  EXPECT_EQ(back->seed, 3);
  EXPECT_EQ(s.params("abc").at("tokenizer.name"), "\"patch_pca\"");
  auto loss = s.metric("abc", "train.loss");
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_EQ(loss[1].step, 100);
  EXPECT_DOUBLE_EQ(loss[1].value, 0.3);
  s.put_sweep({"t3", "tiny", "title", "f.toml", "cumulative", {{1, "base", 0, "abc", {{"acc", 65.1}}}}});
  auto sw = s.sweeps();
  ASSERT_EQ(sw.size(), 1u);
  EXPECT_DOUBLE_EQ(sw[0].rows[0].paper.at("acc"), 65.1);
  EXPECT_EQ(s.db().execAndGet("PRAGMA user_version").getInt(), kSchemaVersion);
  s.set_status("abc", "failed", "boom");
  EXPECT_EQ(s.run("abc")->error, "boom");
}

// A read-only results root: the index is copied into memory (opened
// immutable), later writes go to the copy, the file and its folder never
// change (no -wal or -shm file either).
TEST(Store, InMemoryCopyReadsTheIndexAndWritesNothing) {
  auto dir = temp_dir("memcopy");
  {
    Store s(dir + "/results.db");
    RunRow r;
    r.id = "abc", r.status = "done", r.label = "l-DAE";
    s.put_run(r, {{"tokenizer.d", "16"}}, {{"probe.top1", {{0, 81.5}}}});
  }
  auto listing = [&] {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string() + ":" + std::to_string(fs::file_size(e.path())));
    std::sort(v.begin(), v.end());
    return v;
  };
  std::ifstream in(dir + "/results.db", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const auto before = listing();
  {
    Store m(dir + "/results.db", Store::Access::InMemoryCopy);
    EXPECT_TRUE(m.in_memory());
    ASSERT_TRUE(m.run("abc"));
    EXPECT_EQ(m.metric("abc", "probe.top1")[0].value, 81.5);
    RunRow r;
    r.id = "new", r.status = "done";
    m.put_run(r, {});
    EXPECT_TRUE(m.run("new"));
  }
  EXPECT_EQ(listing(), before);
  std::ifstream again(dir + "/results.db", std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), {}), bytes);
  EXPECT_FALSE(Store(dir + "/results.db").run("new"));
  // No index file at all: an empty index in memory, nothing created.
  Store none(dir + "/absent.db", Store::Access::InMemoryCopy);
  EXPECT_FALSE(fs::exists(dir + "/absent.db"));
  EXPECT_TRUE(none.sweeps().empty());
}

// A stop request (Ctrl-C) while another process holds the index's lock ends
// the wait at once instead of after the busy timeout (30 s by default): the
// write fails as locked, and the program meets the stop at its next safe point.
TEST(Store, AStopRequestEndsTheWaitForTheLock) {
  auto dir = temp_dir("stopwait");
  Store s(dir + "/results.db");
  SQLite::Database holder(dir + "/results.db", SQLite::OPEN_READWRITE);
  holder.exec("BEGIN EXCLUSIVE");
  stop_flag() = true;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(s.put_run(RunRow{"r1", "done"}, {}), SQLite::Exception);
  stop_flag() = false;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10))
      << "the write waited out the busy timeout despite the stop request";
  holder.exec("ROLLBACK");
  EXPECT_NO_THROW(s.put_run(RunRow{"r1", "done"}, {}));
}

TEST(Store, TwoConcurrentWriterProcesses) {
  auto dir = temp_dir("concurrent");
  const std::string db = dir + "/results.db";
  { Store init(db); }
  const int per_child = 150;
  std::vector<pid_t> kids;
  for (int k = 0; k < 2; ++k) {
    pid_t pid = fork();
    if (pid == 0) {
      int rc = 0;
      try {
        Store s(db);
        for (int i = 0; i < per_child; ++i) {
          RunRow r;
          r.id = fmt::format("w{}-{}", k, i);
          r.status = "done";
          s.put_run(r, {{"k", std::to_string(i)}}, {{"probe.top1", {{0, double(i)}}}});
        }
      } catch (...) {
        rc = 1;
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  for (pid_t p : kids) {
    int status = 0;
    waitpid(p, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  Store s(db);
  EXPECT_EQ(s.db().execAndGet("SELECT count(*) FROM runs").getInt(), 2 * per_child);
  EXPECT_EQ(s.db().execAndGet("SELECT count(*) FROM metrics").getInt(), 2 * per_child);
  EXPECT_EQ(s.db().execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST(Store, NewerSchemaIsAClearError) {
  auto dir = temp_dir("schema");
  {
    SQLite::Database raw(dir + "/results.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA user_version = 99");
  }
  try {
    Store s(dir + "/results.db");
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--reindex"), std::string::npos) << e.what();
  }
}

TEST(Store, Version1IndexGainsSweepRowParents) {
  // An index written before sweep_rows.parent: opened, it is migrated in
  // place, its rows kept (parent 0 until the sweep is put again).
  auto dir = temp_dir("migrate");
  {
    SQLite::Database raw(dir + "/results.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(R"sql(
      CREATE TABLE sweeps (name TEXT NOT NULL, profile TEXT NOT NULL, title TEXT, file TEXT, mode TEXT,
        updated TEXT, PRIMARY KEY (name, profile));
      CREATE TABLE sweep_rows (sweep TEXT NOT NULL, profile TEXT NOT NULL, row INTEGER NOT NULL,
        seed INTEGER NOT NULL, label TEXT, run_id TEXT, paper TEXT, PRIMARY KEY (sweep, profile, row, seed));
      INSERT INTO sweeps VALUES ('t3', 'tiny', 'title', 'f.toml', 'cumulative', '');
      INSERT INTO sweep_rows VALUES ('t3', 'tiny', 2, 0, 'clean', 'abc', '{"acc":62.5}');
      PRAGMA user_version = 1;)sql");
  }
  Store s(dir + "/results.db");
  EXPECT_EQ(s.db().execAndGet("PRAGMA user_version").getInt(), kSchemaVersion);
  auto sw = s.sweeps();
  ASSERT_EQ(sw.size(), 1u);
  ASSERT_EQ(sw[0].rows.size(), 1u);
  EXPECT_EQ(sw[0].rows[0].run_id, "abc");
  EXPECT_EQ(sw[0].rows[0].parent, 0);
  s.put_sweep({"t3", "tiny", "title", "f.toml", "cumulative", {{2, "clean", 0, "abc", {}, 1}}});
  EXPECT_EQ(s.sweeps()[0].rows[0].parent, 1);
  // The sweep's JSON (what --reindex reads) keeps it too.
  write_sweep_json(dir, s.sweeps()[0]);
  EXPECT_EQ(read_sweep_jsons(dir).at(0).rows.at(0).parent, 1);
}

TEST(Store, Version2IndexGainsSweepOverrides) {
  // An index written before sweeps.overrides: migrated in place, its sweeps
  // read as the file's own plans (no --set); a plan with --set values keeps
  // them in the index and in the sweep's JSON.
  auto dir = temp_dir("migrate2");
  {
    SQLite::Database raw(dir + "/results.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(R"sql(
      CREATE TABLE sweeps (name TEXT NOT NULL, profile TEXT NOT NULL, title TEXT, file TEXT, mode TEXT,
        updated TEXT, PRIMARY KEY (name, profile));
      CREATE TABLE sweep_rows (sweep TEXT NOT NULL, profile TEXT NOT NULL, row INTEGER NOT NULL,
        seed INTEGER NOT NULL, label TEXT, run_id TEXT, paper TEXT, parent INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (sweep, profile, row, seed));
      INSERT INTO sweeps VALUES ('t1', 'tiny', 'title', 'f.toml', 'cumulative', '');
      INSERT INTO sweep_rows VALUES ('t1', 'tiny', 1, 0, 'base', 'abc', '{}', 0);
      PRAGMA user_version = 2;)sql");
  }
  Store s(dir + "/results.db");
  EXPECT_EQ(s.db().execAndGet("PRAGMA user_version").getInt(), kSchemaVersion);
  ASSERT_EQ(s.sweeps().size(), 1u);
  EXPECT_TRUE(s.sweeps()[0].overrides.empty());
  EXPECT_EQ(s.sweeps()[0].rows.at(0).run_id, "abc");
  SweepRecord rec = s.sweeps()[0];
  rec.overrides = {"train.epochs=1"};
  s.put_sweep(rec);
  EXPECT_EQ(s.sweeps()[0].overrides, rec.overrides);
  write_sweep_json(dir, rec);
  EXPECT_EQ(read_sweep_jsons(dir).at(0).overrides, rec.overrides);
  // A JSON column changed by hand is a damaged index (exit 2, --reindex), not an internal error.
  s.db().exec("UPDATE sweeps SET overrides = 'not json'");
  EXPECT_THROW(s.sweeps(), InputError);
}

TEST(Store, RebuildFromRunFolders) {
  auto dir = temp_dir("rebuild");
  auto run = run_dir(dir, "r1");
  fs::create_directories(run);
  write_run_json(run, {{"id", "r1"}, {"status", "done"}, {"seed", 2}, {"label", "x"},
                       {"params", {{"tokenizer.d", "16"}}}});
  RunMetrics m;
  m.loss = {{10, 0.5, 1e-3}};
  m.probe = {{1, 1.0, 50, 48}, {2, 0.8, 60, 58.5}};
  m.top1 = 58.5;
  write_metrics_h5(run, m);
  write_sweep_json(dir, {"s", "tiny", "t", "f.toml", "independent", {{1, "x", 2, "r1", {{"acc", 1.0}}}}});
  Store s(dir + "/results.db");
  EXPECT_EQ(s.rebuild(dir), 1u);
  EXPECT_DOUBLE_EQ(s.metric("r1", "probe.top1").at(0).value, 58.5);
  EXPECT_EQ(s.metric("r1", "probe.test_acc").size(), 2u);
  EXPECT_EQ(s.params("r1").at("tokenizer.d"), "16");
  EXPECT_EQ(s.sweeps().at(0).rows.at(0).run_id, "r1");
}

// Issue 14 item 5: a "running" record whose lock no process holds (its
// process was killed) reads as interrupted everywhere; a held lock keeps it
// running; the index follows the lock without run.json changing.
TEST(Store, RunningWithAFreeLockIsInterrupted) {
  auto dir = temp_dir("stale");
  auto run = run_dir(dir, "r1");
  fs::create_directories(run);
  const nlohmann::json rec = {{"id", "r1"}, {"status", "running"}, {"seed", 0}, {"updated", "t0"}};
  write_run_json(run, rec);
  EXPECT_FALSE(run_lock_held(run));  // no .lock at all
  EXPECT_EQ(effective_status(run, rec), "interrupted");
  Store s(dir + "/results.db");
  const int fd = ::open((run + "/.lock").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_TRUE(run_lock_held(run));
  EXPECT_EQ(effective_status(run, rec), "running");
  EXPECT_EQ(s.sync(dir), 1u);
  EXPECT_EQ(s.run("r1")->status, "running");
  ::close(fd);  // the holder dies
  EXPECT_EQ(effective_status(run, rec), "interrupted");
  EXPECT_EQ(s.sync(dir), 1u);  // same run.json, new status
  EXPECT_EQ(s.run("r1")->status, "interrupted");
  EXPECT_EQ(s.sync(dir), 0u);
  for (const auto& st : {"failed", "interrupted"})  // (done needs its metrics.h5: see below)
    EXPECT_EQ(effective_status(run, {{"status", st}}), st);
}

// A record that cannot be trusted reads as "damaged" (listed, indexed without
// metrics, rerun): metrics.h5 truncated below the size run.json recorded, not
// HDF5 at all, or missing; an unknown status; an unreadable run.json.
TEST(Store, DamagedRecordsAreListedAsDamaged) {
  auto dir = temp_dir("damaged");
  auto run = run_dir(dir, "r1");
  fs::create_directories(run);
  RunMetrics m;
  m.top1 = 50;
  m.loss = {{10, 0.123456789, 1e-3}};
  write_metrics_h5(run, m);
  nlohmann::json rec = {{"id", "r1"}, {"status", "done"}, {"metrics_bytes", fs::file_size(run + "/metrics.h5")}};
  write_run_json(run, rec);
  EXPECT_EQ(effective_status(run, rec), "done");
  {  // one flipped byte in the loss curve (same size): its checksum fails, as --reindex finds
    std::ifstream in(run + "/metrics.h5", std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), {}};
    const double loss = 0.123456789;
    const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&loss), 8));
    ASSERT_NE(at, std::string::npos);
    bytes[at + 3] = char(bytes[at + 3] ^ 0x04);
    std::ofstream(run + "/metrics.h5", std::ios::binary | std::ios::trunc) << bytes;
    EXPECT_EQ(effective_status(run, rec), "damaged");
    EXPECT_NE(damage_of(run, rec).find("metrics.h5 cannot be read (HDF5: cannot read dataset train/loss"),
              std::string::npos) << damage_of(run, rec);
    write_metrics_h5(run, m);
    EXPECT_EQ(effective_status(run, rec), "done");
  }
  fs::resize_file(run + "/metrics.h5", fs::file_size(run + "/metrics.h5") - 10);
  EXPECT_EQ(effective_status(run, rec), "damaged");
  EXPECT_NE(damage_of(run, rec).find("not the"), std::string::npos) << damage_of(run, rec);
  rec.erase("metrics_bytes");  // records written before the size was kept: HDF5 signature
  std::ofstream(run + "/metrics.h5") << "not hdf5";
  EXPECT_EQ(damage_of(run, rec), "metrics.h5 is not an HDF5 file");
  fs::remove(run + "/metrics.h5");
  EXPECT_EQ(effective_status(run, rec), "damaged");
  EXPECT_EQ(effective_status(run, {{"status", "weird"}}), "damaged");
  Store s(dir + "/results.db");
  write_run_json(run, rec);
  EXPECT_EQ(s.sync(dir), 1u);  // indexed, as damaged, with why
  EXPECT_EQ(s.run("r1")->status, "damaged");
  EXPECT_NE(s.run("r1")->error.find("missing"), std::string::npos);
  std::ofstream(run + "/run.json") << "{ not json";
  EXPECT_EQ(listed_status(run), "damaged");
  EXPECT_EQ(listed_status(run_dir(dir, "absent")), "");
  // Valid JSON of another shape (a list, a status that is a number, a
  // probe_top1 that is text) is as damaged as cut-off text: listed, and
  // indexed as damaged with why (the tables say so), never thrown past.
  std::vector<std::string> bad;
  for (const char* text : {"{ not json", "[]", "\"done\"", R"({"id": "r1", "status": 5})",
                           R"({"id": "r1", "status": "failed", "probe_top1": "high"})"}) {
    std::ofstream(run + "/run.json") << text;
    EXPECT_EQ(listed_status(run), "damaged") << text;
    bad.clear();
    EXPECT_NO_THROW(s.sync(dir, &bad)) << text;
    ASSERT_TRUE(s.run("r1")) << text;
    EXPECT_EQ(s.run("r1")->status, "damaged") << text;
    EXPECT_FALSE(s.run("r1")->error.empty()) << text;
  }
  std::ofstream(run + "/run.json") << "[]";
  s.sync(dir, &bad);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find("a JSON array, not an object"), std::string::npos) << bad[0];
}

TEST(Records, AStringThatIsNotUtf8IsWrittenWithReplacementCharacters) {
  // A plugin's description in Latin-1 (inputs are checked where they enter;
  // plugin strings are not): the record is written, U+FFFD for the bad byte,
  // instead of the JSON writer throwing (exit 3, no run.json).
  const auto dir = fs::path(test::temp_dir("utf8"));
  fs::create_directories(dir);
  write_run_json(dir.string(), {{"id", "r"}, {"plugins", {{{"description", "caf\xE9"}}}}});
  const auto j = read_run_json(dir.string());
  EXPECT_EQ(j["plugins"][0]["description"].get<std::string>(), "caf\xEF\xBF\xBD");
  fs::remove_all(dir);
}
