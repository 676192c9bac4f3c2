#include "core/records/store.hpp"
#include <sqlite3.h>
#include <unistd.h>

#include <SQLiteCpp/Backup.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>
#include <fstream>

#include "core/base/errors.hpp"
#include "core/base/filesystem.hpp"
#include "core/base/stop.hpp"

namespace ldae {
namespace fs = std::filesystem;

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}


namespace {
// How long a writer waits for another's lock: 30 s, or LDAE_INDEX_BUSY_MS
// (the fault tests shorten it). InputError (exit 2) when that is not a
// whole number of milliseconds from 0 to a day.
int busy_timeout_ms() {
  const char* e = std::getenv("LDAE_INDEX_BUSY_MS");
  if (!e || !*e) return 30000;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(e, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0 || v > 86400000)
    throw InputError(fmt::format("LDAE_INDEX_BUSY_MS={}: expected how long to wait for the index's lock, in "
                                 "milliseconds (0 to 86400000; default 30000); unset it or give a number",
                                 e));
  return int(v);
}

// SQLite's busy handler: waits for another writer's lock up to the busy
// timeout, in steps of at most 20 ms, and gives up at once on a stop
// request (Ctrl-C), which its caller then meets at its next safe point.
// `ctx` is the timeout in ms, cast into the pointer.
int wait_for_lock(void* ctx, int attempt) {
  using namespace std::chrono;
  static thread_local steady_clock::time_point since;
  if (attempt == 0) since = steady_clock::now();
  const auto limit = milliseconds(reinterpret_cast<intptr_t>(ctx));
  if (stop_requested() || steady_clock::now() - since >= limit) return 0;
  std::this_thread::sleep_for(std::min<steady_clock::duration>(milliseconds(1 + attempt), milliseconds(20)));
  return 1;
}
}  // namespace

namespace {
// A file path as an SQLite URI's path ("file:" URIs: %, ? and # escaped).
std::string uri_path(const std::string& path) {
  std::string out;
  for (char ch : fs::absolute(path).string()) {
    if (ch == '%') out += "%25";
    else if (ch == '?') out += "%3f";
    else if (ch == '#') out += "%23";
    else out += ch;
  }
  return out;
}
}  // namespace

Store::Store(const std::string& path, Access access) try
    : path_(path),
      busy_ms_(busy_timeout_ms()),
      in_memory_(access == Access::InMemoryCopy),
      db_(in_memory_ ? std::string(":memory:") : path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
  sqlite3_busy_handler(db_.getHandle(), wait_for_lock, reinterpret_cast<void*>(intptr_t(busy_ms_)));
  if (!in_memory_) {
    open(path);
    return;
  }
  if (fs::exists(path)) {
    // immutable=1: media that cannot change, read without locks or a -shm file.
    SQLite::Database src("file:" + uri_path(path) + "?immutable=1", SQLite::OPEN_READONLY | SQLite::OPEN_URI);
    SQLite::Backup(db_, src).executeStep();  // -1: every page at once
  }
  open_once(path);
} catch (const SQLite::Exception& e) {
  throw store_error(path, e);
}

InputError store_error(const std::string& path, const SQLite::Exception& e) {
  const int code = e.getErrorCode() & 0xff;  // primary code
  if ((code == SQLITE_BUSY || code == SQLITE_LOCKED) && stop_requested())  // Ctrl-C ended the wait
    return InputError(fmt::format("{}: the wait for the index's lock was interrupted (another process holds it: "
                                  "`fuser {}`); finished runs are safe in their folders", path, path));
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
    return InputError(fmt::format(
        "{}: the index is locked by another process past the busy timeout ({}, SQLite code {}). Finished runs "
        "are safe in their folders: wait and rerun the command (it indexes what it missed), or find the holder "
        "with `fuser {}`", path, e.what(), e.getExtendedErrorCode(), path));
  if (code == SQLITE_FULL || code == SQLITE_IOERR)
    return InputError(fmt::format(
        "{}: cannot write the index ({}); free space on its file system and rerun, or run "
        "`run_sweep --reindex --results <dir>` once there is room", path, e.what()));
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
    return InputError(fmt::format(
        "{}: the index is damaged ({}). It is only an index: move it away and run "
        "`run_sweep --reindex --results <dir>` to rebuild it from the run folders", path, e.what()));
  if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM)
    return InputError(fmt::format("{}: cannot open the index for writing ({}); check the folder's "
                                  "permissions or give another --results folder", path, e.what()));
  return InputError(fmt::format("{}: index error: {}", path, e.what()));
}

bool index_writable(const std::string& results) {
  const std::string db = results + "/results.db";
  return writable_dir(results) && (!fs::exists(db) || ::access(db.c_str(), W_OK) == 0);
}

void Store::open(const std::string& path) {
  // Opening is idempotent, and some of its locks (the switch to WAL, a WAL
  // recovery, a snapshot gone stale under concurrent first opens) fail at
  // once rather than through the busy handler: retried here up to the busy
  // timeout, so 8 sweeps starting together on a new results root all open it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_ms_);
  for (int attempt = 0;; ++attempt) {
    try {
      open_once(path);
      return;
    } catch (const SQLite::Exception& e) {
      const int code = e.getErrorCode() & 0xff;
      if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || std::chrono::steady_clock::now() >= deadline ||
          stop_requested())
        throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(10 + 7 * (attempt % 8)));
    }
  }
}

void Store::open_once(const std::string& path) {
  if (!in_memory_) {
    db_.exec("PRAGMA journal_mode = WAL");
    db_.exec("PRAGMA synchronous = NORMAL");
  }
  db_.exec("PRAGMA foreign_keys = ON");
  int version = db_.execAndGet("PRAGMA user_version").getInt();
  if (version == 0) {
    create_schema();
  } else if (version == 1 || version == 2) {
    migrate(version);
  } else if (version != kSchemaVersion) {
    throw InputError(fmt::format(
        "{}: schema version {} but this build uses {}. The database is an index; move it "
        "away and run `run_sweep --reindex --results <dir>` to rebuild it from the run folders.",
        path, version, kSchemaVersion));
  }
}

void Store::create_schema() {
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  if (db_.execAndGet("PRAGMA user_version").getInt() != 0) return;  // another writer won
  db_.exec(R"sql(
    CREATE TABLE IF NOT EXISTS runs (
      id TEXT PRIMARY KEY, status TEXT NOT NULL, seed INTEGER, label TEXT,
      created TEXT, updated TEXT, git TEXT, host TEXT, wall_s REAL, error TEXT);
    CREATE TABLE IF NOT EXISTS params (
      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
      value TEXT, PRIMARY KEY (run_id, key));
    CREATE TABLE IF NOT EXISTS metrics (
      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, name TEXT NOT NULL,
      step INTEGER NOT NULL, value REAL, PRIMARY KEY (run_id, name, step));
    CREATE TABLE IF NOT EXISTS sweeps (
      name TEXT NOT NULL, profile TEXT NOT NULL, title TEXT, file TEXT, mode TEXT,
      updated TEXT, overrides TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (name, profile));
    CREATE TABLE IF NOT EXISTS sweep_rows (
      sweep TEXT NOT NULL, profile TEXT NOT NULL, row INTEGER NOT NULL, seed INTEGER NOT NULL,
      label TEXT, run_id TEXT, paper TEXT, parent INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (sweep, profile, row, seed),
      FOREIGN KEY (sweep, profile) REFERENCES sweeps(name, profile) ON DELETE CASCADE);
  )sql");
  db_.exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
  tx.commit();
}

void Store::put_run(const RunRow& r, const std::map<std::string, std::string>& params,
                    const std::map<std::string, std::vector<MetricPoint>>& metrics) {
  WriteTx tx(*this);
  SQLite::Statement q(db_, R"sql(
    INSERT INTO runs (id, status, seed, label, created, updated, git, host, wall_s, error)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(id) DO UPDATE SET status = excluded.status, seed = excluded.seed,
      label = excluded.label, updated = excluded.updated, git = excluded.git,
      host = excluded.host, wall_s = excluded.wall_s, error = excluded.error)sql");
  q.bind(1, r.id);
  q.bind(2, r.status);
  q.bind(3, r.seed);
  q.bind(4, r.label);
  q.bind(5, r.created.empty() ? now_iso() : r.created);
  q.bind(6, r.updated.empty() ? now_iso() : r.updated);
  q.bind(7, r.git);
  q.bind(8, r.host);
  q.bind(9, r.wall_s);
  q.bind(10, r.error);
  q.exec();
  SQLite::Statement p(db_, "INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)");
  for (const auto& [k, v] : params) {
    p.bind(1, r.id);
    p.bind(2, k);
    p.bind(3, v);
    p.exec();
    p.reset();
  }
  for (const auto& [name, points] : metrics) {
    SQLite::Statement del(db_, "DELETE FROM metrics WHERE run_id = ? AND name = ?");
    del.bind(1, r.id);
    del.bind(2, name);
    del.exec();
    SQLite::Statement m(db_, "INSERT INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)");
    for (const auto& pt : points) {
      m.bind(1, r.id);
      m.bind(2, name);
      m.bind(3, pt.step);
      m.bind(4, pt.value);
      m.exec();
      m.reset();
    }
  }
  tx.commit();
}

void Store::set_status(const std::string& id, const std::string& status, const std::string& error) {
  WriteTx tx(*this);
  SQLite::Statement q(db_, "UPDATE runs SET status = ?, error = ?, updated = ? WHERE id = ?");
  q.bind(1, status);
  q.bind(2, error);
  q.bind(3, now_iso());
  q.bind(4, id);
  q.exec();
  tx.commit();
}

std::optional<RunRow> Store::run(const std::string& id) {
  SQLite::Statement q(db_, "SELECT id, status, seed, label, created, updated, git, host, "
                           "wall_s, error FROM runs WHERE id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  RunRow r;
  r.id = q.getColumn(0).getString();
  r.status = q.getColumn(1).getString();
  r.seed = q.getColumn(2).getInt64();
  r.label = q.getColumn(3).getString();
  r.created = q.getColumn(4).getString();
  r.updated = q.getColumn(5).getString();
  r.git = q.getColumn(6).getString();
  r.host = q.getColumn(7).getString();
  r.wall_s = q.getColumn(8).getDouble();
  r.error = q.getColumn(9).getString();
  return r;
}

std::vector<MetricPoint> Store::metric(const std::string& id, const std::string& name) {
  SQLite::Statement q(db_, "SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step");
  q.bind(1, id);
  q.bind(2, name);
  std::vector<MetricPoint> out;
  while (q.executeStep()) out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getDouble()});
  return out;
}

std::map<std::string, std::string> Store::params(const std::string& id) {
  SQLite::Statement q(db_, "SELECT key, value FROM params WHERE run_id = ?");
  q.bind(1, id);
  std::map<std::string, std::string> out;
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getString();
  return out;
}

// Version 1 had no sweep_rows.parent: add it, 0 (tables show no change
// column) until run_sweep records the sweep again; sweep JSONs written
// before it have no parent either, so --reindex alone does not fill it.
void Store::migrate(int from) {
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  if (db_.execAndGet("PRAGMA user_version").getInt() != from) return;  // another writer did it
  // 1 -> 2: sweep_rows.parent (cumulative sweeps' changes); 2 -> 3: sweeps.overrides (--set of the plan).
  if (from < 2) db_.exec("ALTER TABLE sweep_rows ADD COLUMN parent INTEGER NOT NULL DEFAULT 0");
  db_.exec("ALTER TABLE sweeps ADD COLUMN overrides TEXT NOT NULL DEFAULT '[]'");
  db_.exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
  tx.commit();
}

void Store::put_sweep(const SweepRecord& s) {
  WriteTx tx(*this);
  SQLite::Statement q(db_, "INSERT OR REPLACE INTO sweeps (name, profile, title, file, mode, updated, overrides) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)");
  q.bind(1, s.name);
  q.bind(2, s.profile);
  q.bind(3, s.title);
  q.bind(4, s.file);
  q.bind(5, s.mode);
  q.bind(6, now_iso());
  q.bind(7, nlohmann::json(s.overrides).dump());
  q.exec();
  SQLite::Statement del(db_, "DELETE FROM sweep_rows WHERE sweep = ? AND profile = ?");
  del.bind(1, s.name);
  del.bind(2, s.profile);
  del.exec();
  SQLite::Statement r(db_, "INSERT INTO sweep_rows (sweep, profile, row, seed, label, run_id, paper, parent) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& row : s.rows) {
    r.bind(1, s.name);
    r.bind(2, s.profile);
    r.bind(3, row.row);
    r.bind(4, row.seed);
    r.bind(5, row.label);
    r.bind(6, row.run_id);
    r.bind(7, nlohmann::json(row.paper).dump());
    r.bind(8, row.parent);
    r.exec();
    r.reset();
  }
  tx.commit();
}

template <class T>
T Store::json_column(const std::string& text) const {
  try {
    return nlohmann::json::parse(text).get<T>();
  } catch (const nlohmann::json::exception& e) {  // only our writer fills these: the file was changed
    throw InputError(fmt::format("{}: the index is damaged (a sweep column holds {}: {}). It is only an index: "
                                 "move it away and run `run_sweep --reindex --results <dir>` to rebuild it from "
                                 "the run folders", path_, text.substr(0, 60), e.what()));
  }
}

std::vector<SweepRecord> Store::sweeps() {
  std::vector<SweepRecord> out;
  SQLite::Statement q(db_, "SELECT name, profile, title, file, mode, overrides FROM sweeps ORDER BY name, profile");
  while (q.executeStep()) {
    SweepRecord s{q.getColumn(0).getString(), q.getColumn(1).getString(),
                  q.getColumn(2).getString(), q.getColumn(3).getString(),
                  q.getColumn(4).getString(), {}, {}};
    s.overrides = json_column<std::vector<std::string>>(q.getColumn(5).getString());
    SQLite::Statement r(db_, "SELECT row, label, seed, run_id, paper, parent FROM sweep_rows "
                             "WHERE sweep = ? AND profile = ? ORDER BY row, seed");
    r.bind(1, s.name);
    r.bind(2, s.profile);
    while (r.executeStep()) {
      SweepRowRecord row;
      row.row = r.getColumn(0).getInt();
      row.label = r.getColumn(1).getString();
      row.seed = r.getColumn(2).getInt64();
      row.run_id = r.getColumn(3).getString();
      row.paper = json_column<std::map<std::string, double>>(r.getColumn(4).getString());
      row.parent = r.getColumn(5).getInt();
      s.rows.push_back(row);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ldae
