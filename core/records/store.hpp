// The SQLite index of all runs, results/results.db. It is only an index: each
// run's folder (run.json, config.toml, metrics.h5) is the source of truth and
// `rebuild()` recreates the database from the folders. Schema version lives in
// PRAGMA user_version; writers use a busy timeout and IMMEDIATE transactions,
// so concurrent sweeps on one results root never corrupt it.
#pragma once
#include <SQLiteCpp/SQLiteCpp.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/errors.hpp"

namespace ldae {

// 1: the first; 2: sweep_rows.parent; 3: sweeps.overrides (opening an older
// index adds what it lacks).
inline constexpr int kSchemaVersion = 3;

struct RunRow {
  std::string id, status, label, created, updated, git, host, error;
  int64_t seed = 0;
  double wall_s = 0;
};

struct MetricPoint {
  int64_t step;
  double value;
};

struct SweepRowRecord {
  int row = 0;
  std::string label;
  int64_t seed = 0;
  std::string run_id;
  std::map<std::string, double> paper;  // paper.* numbers of the row
  int parent = 0;                       // cumulative sweeps: the row this one modifies (0: none)
};

struct SweepRecord {
  std::string name, profile, title, file, mode;
  std::vector<SweepRowRecord> rows;
  // The --set values the plan was made with ("train.epochs=1"), as given:
  // its rows' runs are those of the file with them, and tables say so.
  std::vector<std::string> overrides;
};

// An SQLite error on the index at `db_path` as the user's error (exit 2):
// locked for over the busy timeout, disk full, damaged, not writable; each
// says what to do. Programs map every SQLite::Exception through it.
InputError store_error(const std::string& db_path, const SQLite::Exception& e);

// Whether the index of results root `results` can be written here: the
// folder writable (core/base/filesystem.hpp writable_dir) and results.db,
// if present, too. Reading programs open a Store::Access::InMemoryCopy
// otherwise.
bool index_writable(const std::string& results);

class Store {
 public:
  enum class Access {
    ReadWrite,  // the index on disk, created if absent (run_sweep, make_tables on a writable root)
    // A read-only results root (finished sweeps on read-only media): the index
    // file (if any) is copied into memory (opened immutable: no lock, no
    // -wal/-shm files), and every write after it (sync, a sweep plan) goes to
    // that copy only; nothing on disk changes.
    InMemoryCopy,
  };
  explicit Store(const std::string& db_path, Access access = Access::ReadWrite);
  bool in_memory() const { return in_memory_; }
  const std::string& path() const { return path_; }  // the index file, as given

  // Insert or replace a run's row, its params and (if given) its metrics, in
  // one transaction.
  void put_run(const RunRow& run, const std::map<std::string, std::string>& params,
               const std::map<std::string, std::vector<MetricPoint>>& metrics = {});
  void set_status(const std::string& id, const std::string& status, const std::string& error = "");
  std::optional<RunRow> run(const std::string& id);
  std::vector<MetricPoint> metric(const std::string& id, const std::string& name);
  std::map<std::string, std::string> params(const std::string& id);

  // Replace a sweep's rows (one per row and seed).
  void put_sweep(const SweepRecord& s);
  std::vector<SweepRecord> sweeps();

  // Rebuild the index from results_dir/runs/*/ and results_dir/sweeps/*.json,
  // all or nothing: every folder is read first, then the tables are replaced
  // in one transaction (a failure leaves the old index). A folder whose
  // records cannot be read is indexed as "damaged" with why (its id the
  // folder's name, no metrics) and named in `bad` ("<folder>: <why>");
  // without `bad` its error is thrown (InputError) and the index is unchanged.
  // Returns the number of runs indexed.
  size_t rebuild(const std::string& results_dir, std::vector<std::string>* bad = nullptr);

  // Bring the index up to date with the run folders, incrementally: a run
  // whose run.json status or "updated" stamp differs from its row (or that
  // has no row) is indexed again. Unreadable folders go to `bad` as above.
  // Returns the number of runs (re)indexed. Used by every program that reads
  // the index, so a run finished while the index was locked, or by a process
  // that does not write it, is indexed by the next command.
  size_t sync(const std::string& results_dir, std::vector<std::string>* bad = nullptr);

  SQLite::Database& db() { return db_; }

 private:
  void open(const std::string& path);       // open_once, retried while another process holds a lock
  void open_once(const std::string& path);  // WAL, pragmas, schema create or migrate
  void create_schema();
  void migrate(int from);  // version 1 or 2 -> kSchemaVersion, in place
  // A JSON column of sweeps/sweep_rows as T; InputError (a damaged index) when it is not.
  template <class T>
  T json_column(const std::string& text) const;
  // One IMMEDIATE write transaction, or none inside an outer one (rebuild).
  class WriteTx {
   public:
    explicit WriteTx(Store& s) : s_(s) {
      if (s_.tx_depth_++ == 0) tx_.emplace(s_.db_, SQLite::TransactionBehavior::IMMEDIATE);
    }
    ~WriteTx() { --s_.tx_depth_; }
    void commit() {
      if (tx_) tx_->commit();
    }

   private:
    Store& s_;
    std::optional<SQLite::Transaction> tx_;
  };
  int tx_depth_ = 0;
  std::string path_;
  int busy_ms_ = 30000;  // LDAE_INDEX_BUSY_MS, read once: the busy handler's and open()'s wait
  bool in_memory_ = false;
  SQLite::Database db_;
};

std::string now_iso();  // UTC, e.g. 2026-11-22T18:00:00Z

}  // namespace ldae
