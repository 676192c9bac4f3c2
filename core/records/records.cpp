#include "core/records/records.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"
#include "core/records/h5.hpp"
#include "core/base/plural.hpp"

#include <hdf5.h>

namespace ldae {
namespace fs = std::filesystem;

std::string run_dir(const std::string& results, const std::string& id) {
  return results + "/runs/" + id;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json read_run_json(const std::string& dir) {
  std::string p = dir + "/run.json";
  if (!fs::exists(p)) return nlohmann::json::object();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(p));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: unreadable run record ({}); delete the run folder to rerun it", p,
                                 json_error(e)));
  }
  // Every reader asks it for keys: a list, a string or a number is as damaged as cut-off text.
  if (!j.is_object())
    throw InputError(fmt::format("{}: the run record is a JSON {}, not an object; delete the run folder to rerun it",
                                 p, j.type_name()));
  return j;
}

std::string json_error(const nlohmann::json::exception& e) {
  // "[json.exception.parse_error.101] parse error at line 1, column 16: ..." -> "parse error at ..."
  std::string what = e.what();
  if (const auto close = what.find("] "); what.rfind("[json.exception.", 0) == 0 && close != std::string::npos)
    what = what.substr(close + 2);
  return what;
}

namespace {
// Records' JSON text. A string that is not UTF-8 (inputs are checked where
// they enter; a plugin's name or description is not) is written with U+FFFD
// in place of its bad bytes instead of making the writer throw and leave
// the record unwritten.
std::string record_text(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}
}  // namespace

void write_run_json(const std::string& dir, const nlohmann::json& j) {
  write_text_atomically(dir + "/run.json", record_text(j));
}

bool run_lock_held(const std::string& dir) {
  const int fd = ::open((dir + "/.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // never locked
  // A shared lock is refused only while someone holds the exclusive one.
  const bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // drops the probe's shared lock with it
  return held;
}

std::string damage_of(const std::string& dir, const nlohmann::json& run_json) {
  if (!run_json.is_object()) return fmt::format("run.json is a JSON {}, not an object", run_json.type_name());
  // The keys readers take with .value(): one of another type would throw there.
  using T = nlohmann::json::value_t;
  static const std::pair<const char*, std::vector<T>> typed[] = {
      {"status", {T::string}}, {"error", {T::string}}, {"id", {T::string}}, {"label", {T::string}},
      {"created", {T::string}}, {"updated", {T::string}}, {"git_commit", {T::string}}, {"host", {T::string}},
      {"params", {T::object}}, {"timings", {T::object}},
      {"seed", {T::number_integer, T::number_unsigned}}, {"steps", {T::number_integer, T::number_unsigned}},
      {"metrics_bytes", {T::number_integer, T::number_unsigned}},
      {"probe_top1", {T::number_float, T::number_integer, T::number_unsigned}}};
  for (const auto& [key, types] : typed)
    if (run_json.contains(key) &&
        std::find(types.begin(), types.end(), run_json[key].type()) == types.end())
      return fmt::format("run.json's \"{}\" is a JSON {}, not {}", key, run_json[key].type_name(),
                         types.front() == T::object ? "an object" : types.front() == T::string ? "a string" : "a number");
  const std::string status = run_json.value("status", "unknown");
  if (status != "running" && status != "done" && status != "failed" && status != "interrupted")
    return fmt::format("run.json has status \"{}\" (expected running, done, failed or interrupted)", status);
  if (status != "done") return "";
  const std::string h5 = dir + "/metrics.h5";
  std::error_code ec;
  const auto bytes = fs::file_size(h5, ec);
  if (ec) return "run.json says done but metrics.h5 is missing";
  if (run_json.contains("metrics_bytes") && run_json["metrics_bytes"].is_number() &&
      run_json["metrics_bytes"].get<uint64_t>() != bytes)
    return fmt::format("metrics.h5 is {} bytes, not the {} recorded (truncated or replaced)", bytes,
                       run_json["metrics_bytes"].get<uint64_t>());
  if (H5Fis_hdf5(h5.c_str()) <= 0) return "metrics.h5 is not an HDF5 file";
  // What the index and the tables read of it (curves and metrics; not the
  // probe features, which only adding a kNN probe reads): read whole, so a
  // checksum that fails makes the run damaged here as in --reindex.
  try {
    read_metrics_h5(dir);
  } catch (const InputError& e) {
    return "metrics.h5 cannot be read (" + reason_about(e.what(), h5) + ")";
  }
  return "";
}

std::string effective_status(const std::string& dir, const nlohmann::json& run_json) {
  if (!damage_of(dir, run_json).empty()) return "damaged";  // so status below is a string
  const std::string status = run_json.value("status", "unknown");
  return status == "running" && !run_lock_held(dir) ? "interrupted" : status;
}

std::string listed_status(const std::string& dir) {
  try {
    const auto j = read_run_json(dir);
    return j.empty() ? "" : effective_status(dir, j);
  } catch (const InputError&) {
    return "damaged";
  }
}

std::map<std::string, std::vector<MetricPoint>> metric_series(const RunMetrics& m) {
  std::map<std::string, std::vector<MetricPoint>> out;
  for (const auto& r : m.loss) out["train.loss"].push_back({int64_t(r[0]), r[1]});
  for (const auto& r : m.probe) {
    out["probe.test_acc"].push_back({int64_t(r[0]), r[3]});
    out["probe.train_loss"].push_back({int64_t(r[0]), r[1]});
  }
  if (m.top1 >= 0) out["probe.top1"] = {{0, m.top1}};
  if (m.top5 >= 0) out["probe.top5"] = {{0, m.top5}};
  if (m.knn_top1 >= 0) out["probe.knn_top1"] = {{0, m.knn_top1}};
  if (m.knn_top5 >= 0) out["probe.knn_top5"] = {{0, m.knn_top5}};
  if (m.recon_mse >= 0) out["tokenizer.recon_mse"] = {{0, m.recon_mse}};
  for (const auto& r : m.tokenizer_fit) {
    out["tokenizer.fit_loss"].push_back({int64_t(r[0]), r[1]});
    out["tokenizer.fit_recon"].push_back({int64_t(r[0]), r[2]});
  }
  if (m.fid >= 0) out["eval.fid"] = {{0, m.fid}};
  if (m.finetune_top1 >= 0) out["finetune.top1"] = {{0, m.finetune_top1}};
  for (const auto& r : m.finetune) out["finetune.test_acc"].push_back({int64_t(r[0]), r[3]});
  if (m.images_seen >= 0) out["budget.images_seen"] = {{0, m.images_seen}};
  if (m.train_flops >= 0) out["budget.train_flops"] = {{0, m.train_flops}};
  if (m.train_s >= 0) out["budget.train_s"] = {{0, m.train_s}};
  return out;
}

void write_metrics_h5(const std::string& dir, const RunMetrics& m, const torch::Tensor& train_features,
                      const torch::Tensor& test_features) {
  auto as_f32 = [](const torch::Tensor& t) {
    return t.defined() ? t.to(torch::kCPU, torch::kFloat32).contiguous() : t;
  };
  const torch::Tensor train_f = as_f32(train_features), test_f = as_f32(test_features);
  const bool features = train_f.defined() && test_f.defined();
  const uint64_t bytes =
      (features ? train_f.numel() + test_f.numel() : 0) * sizeof(float) + m.samples.size() * sizeof(float);
  write_file_atomically(dir + "/metrics.h5", [&](const std::string& tmp) {
    H5File f(tmp, H5File::Create);
    std::vector<double> loss, probe;
    for (const auto& r : m.loss) loss.insert(loss.end(), r.begin(), r.end());
    for (const auto& r : m.probe) probe.insert(probe.end(), r.begin(), r.end());
    f.write("train/loss", loss, {m.loss.size(), 3});
    f.write("probe/curve", probe, {m.probe.size(), 4});
    f.set_attr("probe_top1", m.top1);
    f.set_attr("probe_top5", m.top5);
    f.set_attr("tokenizer_recon_mse", m.recon_mse);
    f.set_attr("columns_train_loss", std::string("step, loss, lr"));
    f.set_attr("columns_probe_curve", std::string("epoch, train_loss, train_acc, test_acc"));
    if (!m.tokenizer_fit.empty()) {
      std::vector<double> fit;
      for (const auto& r : m.tokenizer_fit) fit.insert(fit.end(), r.begin(), r.end());
      f.write("tokenizer/fit_curve", fit, {m.tokenizer_fit.size(), 3});
      f.set_attr("columns_tokenizer_fit", std::string("step, loss, recon_mse"));
    }
    if (m.knn_top1 >= 0) f.set_attr("probe_knn_top1", m.knn_top1);
    if (m.knn_top5 >= 0) f.set_attr("probe_knn_top5", m.knn_top5);
    if (m.fid >= 0) f.set_attr("eval_fid", m.fid);
    if (m.finetune_top1 >= 0) {
      std::vector<double> ft;
      for (const auto& r : m.finetune) ft.insert(ft.end(), r.begin(), r.end());
      f.write("finetune/curve", ft, {m.finetune.size(), 4});
      f.set_attr("finetune_top1", m.finetune_top1);
    }
    for (const auto& [name, v] : {std::pair<const char*, double>{"budget_images_seen", m.images_seen},
                                  {"budget_train_flops", m.train_flops},
                                  {"budget_train_s", m.train_s}})
      if (v >= 0) f.set_attr(name, v);
    if (!m.samples.empty()) f.write("eval/samples", m.samples, m.samples_shape);
    if (features) {
      auto rows = [](const torch::Tensor& t) { return std::vector<uint64_t>{uint64_t(t.size(0)), uint64_t(t.size(1))}; };
      f.write("probe/features_train", train_f.data_ptr<float>(), rows(train_f));
      f.write("probe/features_test", test_f.data_ptr<float>(), rows(test_f));
      if (!m.labels_train.empty()) f.write("probe/labels_train", m.labels_train, {m.labels_train.size()});
      if (!m.labels_test.empty()) f.write("probe/labels_test", m.labels_test, {m.labels_test.size()});
    }
    f.close();
  }, bytes);
}

RunMetrics read_metrics_h5(const std::string& dir) {
  H5File f(dir + "/metrics.h5", H5File::Read);
  RunMetrics m;
  auto loss = f.read_f64("train/loss");
  for (size_t i = 0; i + 2 < loss.size(); i += 3) m.loss.push_back({loss[i], loss[i + 1], loss[i + 2]});
  auto probe = f.read_f64("probe/curve");
  for (size_t i = 0; i + 3 < probe.size(); i += 4)
    m.probe.push_back({probe[i], probe[i + 1], probe[i + 2], probe[i + 3]});
  m.top1 = f.attr_f64("probe_top1");
  m.top5 = f.attr_f64("probe_top5");
  m.recon_mse = f.attr_f64("tokenizer_recon_mse");
  if (f.has("tokenizer/fit_curve")) {
    auto fit = f.read_f64("tokenizer/fit_curve");
    for (size_t i = 0; i + 2 < fit.size(); i += 3) m.tokenizer_fit.push_back({fit[i], fit[i + 1], fit[i + 2]});
  }
  if (f.has_attr("eval_fid")) m.fid = f.attr_f64("eval_fid");
  if (f.has_attr("probe_knn_top1")) m.knn_top1 = f.attr_f64("probe_knn_top1");
  if (f.has_attr("probe_knn_top5")) m.knn_top5 = f.attr_f64("probe_knn_top5");
  if (f.has_attr("finetune_top1")) {
    m.finetune_top1 = f.attr_f64("finetune_top1");
    auto ft = f.read_f64("finetune/curve");
    for (size_t i = 0; i + 3 < ft.size(); i += 4) m.finetune.push_back({ft[i], ft[i + 1], ft[i + 2], ft[i + 3]});
  }
  if (f.has_attr("budget_images_seen")) m.images_seen = f.attr_f64("budget_images_seen");
  if (f.has_attr("budget_train_flops")) m.train_flops = f.attr_f64("budget_train_flops");
  if (f.has_attr("budget_train_s")) m.train_s = f.attr_f64("budget_train_s");
  return m;
}

std::pair<torch::Tensor, torch::Tensor> read_probe_features(const std::string& dir) {
  H5File f(dir + "/metrics.h5", H5File::Read);
  if (!f.has("probe/features_train") || !f.has("probe/features_test")) return {};
  auto load = [&](const std::string& name) {  // read into the tensor itself: 5.4 GB at ImageNet scale, once
    const auto shape = f.shape(name);
    if (shape.size() != 2) throw InputError(fmt::format("{}/metrics.h5: {} is not 2-D", dir, name));
    auto t = torch::empty({int64_t(shape[0]), int64_t(shape[1])}, torch::kFloat32);
    f.read_f32_into(name, t.data_ptr<float>());
    return t;
  };
  return {load("probe/features_train"), load("probe/features_test")};
}

void add_knn_to_metrics_h5(const std::string& dir, double top1, double top5) {
  const std::string path = dir + "/metrics.h5";
  write_file_atomically(path, [&](const std::string& tmp) {
    fs::copy_file(path, tmp, fs::copy_options::overwrite_existing);
    H5File f(tmp, H5File::ReadWrite);
    f.set_attr("probe_knn_top1", top1);
    if (top5 >= 0) f.set_attr("probe_knn_top5", top5);
    f.close();
  }, fs::file_size(path));
}

void write_sweep_json(const std::string& results, const SweepRecord& s) {
  nlohmann::json j = {{"name", s.name}, {"profile", s.profile}, {"title", s.title},
                      {"file", s.file}, {"mode", s.mode}, {"rows", nlohmann::json::array()}};
  for (const auto& r : s.rows)
    j["rows"].push_back({{"row", r.row}, {"label", r.label}, {"seed", r.seed},
                         {"run_id", r.run_id}, {"paper", r.paper}, {"parent", r.parent}});
  if (!s.overrides.empty()) j["overrides"] = s.overrides;  // absent: the file's own plan, as before
  write_text_atomically(sweep_json_path(results, s.name, s.profile), record_text(j));
}

std::string sweep_json_path(const std::string& results, const std::string& name, const std::string& profile) {
  return fmt::format("{}/sweeps/{}.{}.json", results, name, profile);
}

std::optional<SweepRecord> read_sweep_json(const std::string& path) {
  if (!fs::exists(path)) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(read_text(path));
    if (!j.is_object()) throw nlohmann::json::type_error::create(302, "not a JSON object", nullptr);
    SweepRecord s{j.at("name"), j.at("profile"), j.at("title"), j.at("file"), j.at("mode"), {}, {}};
    s.overrides = j.value("overrides", std::vector<std::string>{});
    for (const auto& r : j.at("rows"))
      s.rows.push_back({r.at("row"), r.at("label"), r.at("seed"), r.at("run_id"),
                        r.at("paper").get<std::map<std::string, double>>(), r.value("parent", 0)});
    return s;
  } catch (const nlohmann::json::exception& ex) {
    // One damaged plan costs its own table, not every other sweep's.
    fmt::print(stderr, "warning: {}: unreadable sweep record ({}); run its sweep file with run_sweep again to "
                       "rewrite it (finished runs are skipped, not retrained), or delete it (a --reindex then "
                       "leaves its table out)\n",
               path, json_error(ex));
    return std::nullopt;
  }
}

std::vector<SweepRecord> read_sweep_jsons(const std::string& results) {
  std::vector<SweepRecord> out;
  if (!fs::exists(results + "/sweeps")) return out;
  for (const auto& e : fs::directory_iterator(results + "/sweeps"))
    if (e.path().extension() == ".json")
      if (auto s = read_sweep_json(e.path().string())) out.push_back(std::move(*s));
  return out;
}

void check_sweep_name_free(const std::string& results, const SweepRecord& s) {
  const std::string path = sweep_json_path(results, s.name, s.profile);
  if (!fs::exists(path)) return;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(path));
  } catch (const std::exception&) {
    return;  // damaged: this sweep's record replaces it
  }
  const std::string before = j.value("file", "");
  std::error_code e1, e2;
  if (before.empty() || fs::weakly_canonical(before, e1) == fs::weakly_canonical(s.file, e2)) return;
  std::vector<std::string> ids_before, ids_now;
  for (const auto& r : j.value("rows", nlohmann::json::array())) ids_before.push_back(r.value("run_id", ""));
  for (const auto& r : s.rows) ids_now.push_back(r.run_id);
  if (ids_before == ids_now) return;  // the same sweep, its file moved or copied
  throw InputError(fmt::format(
      "{}: [sweep] name = \"{}\" (profile {}) is already recorded in {} from {}, a different sweep; "
      "recording this one would drop that file's runs from every table. Give one of them another "
      "[sweep] name, use another --results, or delete {} to replace the record",
      s.file, s.name, s.profile, results, before, path));
}

namespace {
// A run folder as the index stores it; nullopt without run.json. Throws
// InputError (naming the file) when a record cannot be read.
struct IndexedRun {
  RunRow row;
  std::map<std::string, std::string> params;
  std::map<std::string, std::vector<MetricPoint>> metrics;
};

std::optional<IndexedRun> load_run(const std::string& dir) {
  auto j = read_run_json(dir);
  if (j.empty()) return std::nullopt;
  IndexedRun out;
  RunRow& r = out.row;
  try {
    r.id = j.value("id", fs::path(dir).filename().string());
    r.status = effective_status(dir, j);
    if (r.status == "damaged") r.error = damage_of(dir, j) + "; the next run_sweep reruns it";
    r.seed = j.value("seed", int64_t(0));
    r.label = j.value("label", "");
    r.created = j.value("created", "");
    r.updated = j.value("updated", "");
    r.git = j.value("git_commit", "");
    r.host = j.value("host", "");
    if (r.error.empty()) r.error = j.value("error", "");
    r.wall_s = j.contains("timings") ? j["timings"].value("wall_s", 0.0) : 0.0;
    if (j.contains("params"))
      for (auto& [k, v] : j["params"].items()) out.params[k] = v.get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}/run.json: unexpected content ({}); delete the run folder to "
                                 "rerun it", dir, json_error(e)));
  }
  if (r.status == "done") {
    if (!fs::exists(dir + "/metrics.h5"))
      throw InputError(fmt::format("{}: run.json says done but metrics.h5 is missing; delete the "
                                   "run folder to rerun it", dir));
    try {
      out.metrics = metric_series(read_metrics_h5(dir));
    } catch (const std::exception& e) {
      throw InputError(fmt::format("{}/metrics.h5: unreadable ({}); delete the run folder to rerun "
                                   "it", dir, e.what()));
    }
  }
  return out;
}

// A run folder whose records cannot be read, as the index lists it: damaged,
// with why (make_tables then shows "damaged", not "pending").
IndexedRun unreadable_run(const std::string& dir, const std::string& why) {
  IndexedRun out;
  out.row.id = fs::path(dir).filename().string();
  out.row.status = "damaged";
  out.row.error = why;  // it already says what to do
  return out;
}

std::vector<std::string> run_folders(const std::string& results) {
  std::vector<std::string> out;
  std::error_code ec;
  if (fs::exists(results + "/runs"))
    for (const auto& e : fs::directory_iterator(results + "/runs", ec))
      if (e.is_directory() && fs::exists(e.path() / "run.json")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

void index_run(Store& store, const std::string& dir) {
  if (auto run = load_run(dir)) store.put_run(run->row, run->params, run->metrics);
}

bool index_run_or_defer(Store& store, const std::string& dir,
                        const std::function<void(const std::string&)>& warn) {
  try {
    index_run(store, dir);
    return true;
  } catch (const SQLite::Exception& e) {
    if (warn)
      warn(fmt::format("index not updated ({}); the run folder holds the record and the next "
                       "run_sweep or make_tables indexes it", store_error(store.path(), e).what()));
  } catch (const InputError& e) {
    if (warn) warn(fmt::format("index not updated: {}", e.what()));
  }
  return false;
}

void record_sweep_plan(const std::string& results, Store* store, const SweepRecord& rec) {
  write_sweep_json(results, rec);
  try {
    if (store) store->put_sweep(rec);
  } catch (const SQLite::Exception& e) {
    fmt::print(stderr, "run_sweep: warning: sweep plan not indexed yet ({}); the next run_sweep or make_tables "
               "indexes it\n", store_error(store->path(), e).what());
  }
}

void sync_index(Store& store, const std::string& results, const char* program) {
  std::vector<std::string> bad;
  size_t n = 0;
  try {
    n = store.sync(results, &bad);
  } catch (const SQLite::Exception& e) {  // a locked index: the folders stay the truth
    fmt::print(stderr, "{}: warning: index not brought up to date ({})\n", program,
               store_error(results + "/results.db", e).what());
  }
  if (n > 0 && store.in_memory())
    fmt::print(stderr, "{}: read {} the read-only index lacks (into its copy in memory; the "
               "file is unchanged)\n", program, count_of(int64_t(n), "run folder"));
  else if (n > 0)
    fmt::print(stderr, "{}: indexed {} the index had not caught up with\n", program, count_of(int64_t(n), "run folder"));
  for (const auto& b : bad) fmt::print(stderr, "{}: warning: indexed as damaged: {}\n", program, b);
}

size_t Store::rebuild(const std::string& results, std::vector<std::string>* bad) {
  // Read everything first: nothing in the index changes until all is known.
  std::vector<IndexedRun> runs;
  for (const auto& dir : run_folders(results)) {
    try {
      if (auto r = load_run(dir)) {
        // Indexed as damaged (so tables say so), and named: it needs a rerun.
        if (bad && r->row.status == "damaged") bad->push_back(dir + ": " + r->row.error);
        runs.push_back(std::move(*r));
      }
    } catch (const InputError& e) {
      if (!bad) throw;
      bad->push_back(e.what());
      runs.push_back(unreadable_run(dir, e.what()));
    }
  }
  const auto sweeps = read_sweep_jsons(results);
  WriteTx tx(*this);
  db_.exec("DELETE FROM sweep_rows; DELETE FROM sweeps; DELETE FROM metrics; "
           "DELETE FROM params; DELETE FROM runs;");
  for (const auto& r : runs) put_run(r.row, r.params, r.metrics);
  for (const auto& s : sweeps) put_sweep(s);
  tx.commit();
  return runs.size();
}

size_t Store::sync(const std::string& results, std::vector<std::string>* bad) {
  std::map<std::string, std::pair<std::string, std::string>> indexed;  // id -> (status, updated)
  {  // finalised before any write: a live read statement can hold its WAL
     // snapshot open, and a write begun on a stale snapshot fails at once
     // (SQLITE_BUSY_SNAPSHOT) without waiting out the busy timeout
    SQLite::Statement q(db_, "SELECT id, status, updated FROM runs");
    while (q.executeStep())
      indexed[q.getColumn(0).getString()] = {q.getColumn(1).getString(), q.getColumn(2).getString()};
  }
  size_t n = 0;
  for (const auto& dir : run_folders(results)) {
    try {
      const auto j = read_run_json(dir);
      const std::string id = j.value("id", fs::path(dir).filename().string());
      auto it = indexed.find(id);
      if (it != indexed.end() && it->second.first == effective_status(dir, j) &&
          it->second.second == j.value("updated", ""))
        continue;
      if (auto r = load_run(dir)) {
        put_run(r->row, r->params, r->metrics);
        ++n;
      }
    } catch (const InputError& e) {
      if (!bad) throw;
      bad->push_back(e.what());
      const auto r = unreadable_run(dir, e.what());
      put_run(r.row, r.params, r.metrics);
    }
  }
  // Sweep plans: a plan recorded while the index was locked is added now.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> have;
  for (const auto& sw : sweeps()) {
    auto& ids = have[{sw.name, sw.profile}];
    for (const auto& r : sw.rows) ids.push_back(fmt::format("{}/{}/{}", r.row, r.seed, r.run_id));
    for (const auto& o : sw.overrides) ids.push_back("--set " + o);
  }
  for (const auto& sw : read_sweep_jsons(results)) {
    std::vector<std::string> ids;
    for (const auto& r : sw.rows) ids.push_back(fmt::format("{}/{}/{}", r.row, r.seed, r.run_id));
    for (const auto& o : sw.overrides) ids.push_back("--set " + o);
    auto it = have.find({sw.name, sw.profile});
    if (it == have.end() || it->second != ids) put_sweep(sw);
  }
  return n;
}

}  // namespace ldae
