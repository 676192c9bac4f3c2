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

namespace ldae {

// 1: the first; 2: sweep_rows.parent (opening a version-1 index adds it).
inline constexpr int kSchemaVersion = 2;

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
};

class Store {
 public:
  explicit Store(const std::string& db_path);

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

  // Drop every table's content and re-read results_dir/runs/*/ and
  // results_dir/sweeps/*.json. Returns the number of runs indexed.
  size_t rebuild(const std::string& results_dir);

  SQLite::Database& db() { return db_; }

 private:
  void create_schema();
  void migrate_from_1();
  SQLite::Database db_;
};

std::string now_iso();  // UTC, e.g. 2026-11-22T18:00:00Z

}  // namespace ldae
