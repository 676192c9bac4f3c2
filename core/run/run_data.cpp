// The data stage of a run (core/run/run_stages.hpp): prepared images and labels
// as tensors, each data config loaded once per process; the data fingerprints
// run ids follow; the parts of a recorded run that figures reuse.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <toml++/toml.h>

#include "core/base/atomic_file.hpp"
#include "core/base/file_lock.hpp"
#include "core/base/filesystem.hpp"
#include "core/run/registry.hpp"
#include "core/run/run_stages.hpp"

namespace ldae {
namespace fs = std::filesystem;

double secs_since(clk::time_point t) {
  return std::chrono::duration<double>(clk::now() - t).count();
}

// Images as float (N, C, H, W) in [-1, 1] (or [0, 1]).
// A streamed set is read whole (programs that ask for the tensors: the
// analysis figures, bench_train).
torch::Tensor to_float(const ImageSet& s, bool normalize) {
  if (s.streamed()) return images_to_float(read_image_rows(s, 0, s.n), normalize);
  return images_to_float(torch::from_blob(const_cast<uint8_t*>(s.pixels.data()), {s.n, s.c, s.h, s.w}, torch::kUInt8),
                         normalize);
}

torch::Tensor to_labels(const ImageSet& s) {
  return torch::tensor(s.labels, torch::kLong);
}

// Lines of canonical(cfg) that start with one of the prefixes.
std::string section_text(const RunConfig& cfg, std::initializer_list<const char*> prefixes) {
  std::string out, line;
  std::istringstream in(canonical(cfg));
  while (std::getline(in, line))
    for (const char* p : prefixes)
      if (line.rfind(p, 0) == 0) out += line + "\n";
  return out;
}

RunConfig cache_key_config(const RunConfig& cfg) {
  RunConfig key = cfg;
  key.data.augment = DataConfig{}.augment;
  key.data.crops_from = DataConfig{}.crops_from;
  return key;
}

std::string data_cache_text(const RunConfig& cfg) { return section_text(cache_key_config(cfg), {"data."}); }

// The canonical lines of plugin axes (keys set away from their defaults).
std::string plugin_text(const RunConfig& cfg) {
  std::string out;
  for (const auto& [key, v] : cfg.ext) out += key + " = " + value_str(v) + "\n";
  return out;
}

// A sweep runs many rows over the same data: load each data config once per
// process. Subsets are sampled with a fixed seed so every seed of a row sees
// the same images and seeds vary only the training.
const Dataset& cached_dataset(const DataConfig& c, const std::string& results) {
  static std::mutex mu;
  static std::map<std::string, Dataset> cache;
  RunConfig key_cfg;
  key_cfg.data = c;
  key_cfg.data.fingerprint.clear();  // the data it names, not its identity
  // Keys that act after loading (how batches are cropped, how pixels become
  // floats) load the same Dataset: rows differing in them share one copy.
  key_cfg.data.augment = DataConfig{}.augment;
  key_cfg.data.normalize = DataConfig{}.normalize;
  // resident_max_gb decides how the data are held (not in ids, so not in
  // section_text): rows that differ in it hold their own copy.
  const std::string key = section_text(key_cfg, {"data."}) + "path = " + c.path +
                          fmt::format("\nresident_max_gb = {}", c.resident_max_gb);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, load_dataset(c, LoadContext{0, results + "/cache"})).first;
  return it->second;
}

RunData run_data(const RunConfig& cfg, const std::string& results) {
  const Dataset& data = cached_dataset(cfg.data, results);
  RunData d;
  d.streamed = data.train.streamed() || data.test.streamed();
  if (d.streamed) {  // the cache keeps `data` for the process's life
    d.train_set = &data.train;
    d.train = image_batches(data.train, cfg.data.normalize);
    d.test = image_batches(data.test, cfg.data.normalize);
  } else {
    d.train_img = to_float(data.train, cfg.data.normalize);
    d.test_img = to_float(data.test, cfg.data.normalize);
    d.train = image_batches(d.train_img);
    d.test = image_batches(d.test_img);
  }
  d.train_y = to_labels(data.train);
  d.test_y = to_labels(data.test);
  d.classes = data.classes;
  return d;
}

double float_gib(const RunData& d) {
  auto bytes = [](const ImageBatches& b) { return 4.0 * double(b.n) * b.c * b.h * b.w; };
  return (bytes(d.train) + bytes(d.test)) / double(int64_t(1) << 30);
}

DataSize prepared_data_size(const DataConfig& c, const std::string& results) {
  const Dataset& d = cached_dataset(c, results);
  return {d.train.n, d.test.n};
}

DataDigests prepared_data_digests(const DataConfig& c, const std::string& results) {
  // Crops from the files change no stored byte: the digests are the store's,
  // hashed once for rows of either kind.
  if (c.crops_from != DataConfig{}.crops_from) {
    DataConfig store = c;
    store.crops_from = DataConfig{}.crops_from;
    return prepared_data_digests(store, results);
  }
  static std::mutex mu;
  static std::map<const Dataset*, DataDigests> memo;
  const Dataset& d = cached_dataset(c, results);
  std::lock_guard<std::mutex> lock(mu);
  auto it = memo.find(&d);
  if (it == memo.end()) it = memo.emplace(&d, dataset_digests(d)).first;
  return it->second;
}

std::string data_fingerprint_in_root(const DataDigests& dg, const std::string& results) {
  // Once answered, the answer stands (the first holder of a hash never
  // changes): a plan's runs over one dataset read the file once.
  static std::mutex mu;
  static std::map<std::string, std::string> answered;
  std::lock_guard<std::mutex> guard(mu);
  const std::string memo_key = results + "\n" + dg.legacy + "\n" + dg.strong;
  if (auto hit = answered.find(memo_key); hit != answered.end()) return hit->second;
  const std::string dir = results + "/cache", path = dir + "/data_digests.tsv";
  const bool writable = writable_dir(dir);
  std::optional<FileLock> lock;  // concurrent sweeps: one reader-writer at a time
  if (writable) {
    fs::create_directories(dir);
    lock.emplace(dir + "/data_digests.lock", "the results root must be writable (give another --results folder)");
    lock->wait("the wait for another process's record of data digests (" + path + ")");
  }
  std::string text, line;
  std::map<std::string, std::string> first;  // legacy -> the strong digest of the first data that held it
  {
    std::ifstream in(path);
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string legacy, strong;
      if (fields >> legacy >> strong) first.emplace(legacy, strong), text += line + "\n";
    }
  }
  const std::string mine = dg.legacy + " " + dg.strong;
  std::string out = dg.legacy;
  auto it = first.find(dg.legacy);
  if (it != first.end() && it->second != dg.strong) out = "xxh3-" + dg.strong;  // other data held it first
  if (lock && text.find(mine + "\n") == std::string::npos) write_text_atomically(path, text + mine + "\n");
  answered[memo_key] = out;
  return out;
}

std::string prepared_data_fingerprint(const DataConfig& c, const std::string& results) {
  if (!data_needs_fingerprint(c)) return "";
  return data_fingerprint_in_root(prepared_data_digests(c, results), results);
}

size_t attach_data_fingerprints(std::vector<PlannedRun>& plan, const std::string& results,
                                bool skip_absent) {
  size_t skipped = 0;
  for (auto& p : plan) {
    if (!data_needs_fingerprint(p.cfg.data)) continue;
    if (skip_absent) {
      try {
        check_data_available(p.cfg.data);
      } catch (const InputError&) {
        ++skipped;
        continue;
      }
    }
    p.cfg.data.fingerprint = prepared_data_fingerprint(p.cfg.data, results);
    p.id = run_id(p.cfg);
  }
  return skipped;
}

RunParts load_run_parts(const RunConfig& cfg, const std::string& results,
                        const std::function<void(const std::string&)>& log) {
  RunParts p;
  const RunData data = run_data(cfg, results);
  p.train = data.train, p.test = data.test;
  p.train_y = data.train_y, p.test_y = data.test_y;
  p.classes = data.classes;
  auto perceptual = [&] {
    return make_feature_net(cfg.tokenizer.perceptual_net, results, fnv1a_hex(data_cache_text(cfg)), p.train,
                            p.train_y, &p.test, p.test_y, data.classes, cfg.eval.classifier_epochs, log);
  };
  double fit_s = 0;
  p.tok = fitted_tokenizer(cfg, p.train, results, perceptual, log, &fit_s);
  return p;
}

RunConfig read_run_config(const std::string& results, const std::string& id) {
  const std::string path = results + "/runs/" + id + "/config.toml";
  if (!fs::exists(path))
    throw InputError(fmt::format("{}: no such run (see `sqlite3 {}/results.db 'select id, label "
                                 "from runs'` or run_sweep --dry-run for ids)",
                                 path, results));
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}: unreadable run config: {}", path, e.source().begin.line,
                                 e.description()));
  }
  Overrides o;
  for (const auto& [sec, node] : root) {
    auto add = [&](const std::string& key, const toml::node& n) {
      Setting st{std::string(), Origin{path, int(n.source().begin.line)}};
      if (auto b = n.as_boolean()) st.value = b->get();
      else if (auto i = n.as_integer()) st.value = int64_t(i->get());
      else if (auto d = n.as_floating_point()) st.value = d->get();
      else if (auto t = n.as_string()) st.value = t->get();
      o[key] = st;
    };
    if (auto t = node.as_table())
      for (const auto& [k, n] : *t) add(std::string(sec.str()) + "." + std::string(k.str()), n);
    else
      add(std::string(sec.str()), node);
  }
  RunConfig cfg;
  apply_overrides(cfg, o);
  if (run_id(cfg) != id)
    throw InputError(fmt::format("{}: this config gives run id {}, not {} (written by another "
                                 "version of the harness?)",
                                 path, run_id(cfg), id));
  return cfg;
}

}  // namespace ldae
