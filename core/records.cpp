#include "core/records.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.hpp"
#include "core/h5.hpp"

namespace ldae {
namespace fs = std::filesystem;

std::string run_dir(const std::string& results, const std::string& id) {
  return results + "/runs/" + id;
}

namespace {
void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
// Rename tmp over path after flushing it, then flush the folder entry.
void commit_file(const std::string& tmp, const std::string& path) {
  fsync_path(tmp);
  fs::rename(tmp, path);
  fsync_path(fs::path(path).parent_path().string());
}
}  // namespace

void write_atomic(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp);
    f << content;
  }
  commit_file(tmp, path);
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
  try {
    return nlohmann::json::parse(read_text(p));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: unreadable run record ({}); delete the run folder to "
                                 "rerun it",
                                 p, e.what()));
  }
}

void write_run_json(const std::string& dir, const nlohmann::json& j) {
  write_atomic(dir + "/run.json", j.dump(2) + "\n");
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
  return out;
}

void write_metrics_h5(const std::string& dir, const RunMetrics& m,
                      const std::vector<float>& train_f, const std::vector<float>& test_f,
                      uint64_t dim) {
  const std::string path = dir + "/metrics.h5", tmp = path + ".tmp";
  {
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
    if (!m.samples.empty()) f.write("eval/samples", m.samples, m.samples_shape);
    if (dim > 0) {
      f.write("probe/features_train", train_f, {train_f.size() / dim, dim});
      f.write("probe/features_test", test_f, {test_f.size() / dim, dim});
    }
  }
  commit_file(tmp, path);
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
  return m;
}

std::pair<torch::Tensor, torch::Tensor> read_probe_features(const std::string& dir) {
  H5File f(dir + "/metrics.h5", H5File::Read);
  if (!f.has("probe/features_train") || !f.has("probe/features_test")) return {};
  auto load = [&](const std::string& name) {
    std::vector<uint64_t> shape;
    auto v = f.read_f32(name, &shape);
    if (shape.size() != 2) throw InputError(fmt::format("{}/metrics.h5: {} is not 2-D", dir, name));
    return torch::from_blob(v.data(), {int64_t(shape[0]), int64_t(shape[1])}, torch::kFloat32).clone();
  };
  return {load("probe/features_train"), load("probe/features_test")};
}

void add_knn_to_metrics_h5(const std::string& dir, double top1, double top5) {
  const std::string path = dir + "/metrics.h5", tmp = path + ".tmp";
  fs::copy_file(path, tmp, fs::copy_options::overwrite_existing);
  {
    H5File f(tmp, H5File::ReadWrite);
    f.set_attr("probe_knn_top1", top1);
    if (top5 >= 0) f.set_attr("probe_knn_top5", top5);
  }
  commit_file(tmp, path);
}

void write_sweep_json(const std::string& results, const SweepRecord& s) {
  nlohmann::json j = {{"name", s.name}, {"profile", s.profile}, {"title", s.title},
                      {"file", s.file}, {"mode", s.mode}, {"rows", nlohmann::json::array()}};
  for (const auto& r : s.rows)
    j["rows"].push_back({{"row", r.row}, {"label", r.label}, {"seed", r.seed},
                         {"run_id", r.run_id}, {"paper", r.paper}, {"parent", r.parent}});
  write_atomic(fmt::format("{}/sweeps/{}.{}.json", results, s.name, s.profile), j.dump(2) + "\n");
}

std::vector<SweepRecord> read_sweep_jsons(const std::string& results) {
  std::vector<SweepRecord> out;
  if (!fs::exists(results + "/sweeps")) return out;
  for (const auto& e : fs::directory_iterator(results + "/sweeps")) {
    if (e.path().extension() != ".json") continue;
    auto j = nlohmann::json::parse(read_text(e.path().string()));
    SweepRecord s{j["name"], j["profile"], j["title"], j["file"], j["mode"], {}};
    for (const auto& r : j["rows"])
      s.rows.push_back({r["row"], r["label"], r["seed"], r["run_id"],
                        r["paper"].get<std::map<std::string, double>>(), r.value("parent", 0)});
    out.push_back(std::move(s));
  }
  return out;
}

void index_run(Store& store, const std::string& dir) {
  auto j = read_run_json(dir);
  if (j.empty()) return;
  RunRow r;
  r.id = j.value("id", fs::path(dir).filename().string());
  r.status = j.value("status", "unknown");
  r.seed = j.value("seed", int64_t(0));
  r.label = j.value("label", "");
  r.created = j.value("created", "");
  r.updated = j.value("updated", "");
  r.git = j.value("git_commit", "");
  r.host = j.value("host", "");
  r.error = j.value("error", "");
  r.wall_s = j.contains("timings") ? j["timings"].value("wall_s", 0.0) : 0.0;
  std::map<std::string, std::string> params;
  if (j.contains("params"))
    for (auto& [k, v] : j["params"].items()) params[k] = v.get<std::string>();
  std::map<std::string, std::vector<MetricPoint>> metrics;
  if (r.status == "done" && fs::exists(dir + "/metrics.h5"))
    metrics = metric_series(read_metrics_h5(dir));
  store.put_run(r, params, metrics);
}

size_t Store::rebuild(const std::string& results) {
  {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    db_.exec("DELETE FROM sweep_rows; DELETE FROM sweeps; DELETE FROM metrics; "
             "DELETE FROM params; DELETE FROM runs;");
    tx.commit();
  }
  size_t n = 0;
  if (fs::exists(results + "/runs"))
    for (const auto& e : fs::directory_iterator(results + "/runs"))
      if (e.is_directory() && fs::exists(e.path() / "run.json")) {
        index_run(*this, e.path().string());
        ++n;
      }
  for (const auto& s : read_sweep_jsons(results)) put_sweep(s);
  return n;
}

}  // namespace ldae
