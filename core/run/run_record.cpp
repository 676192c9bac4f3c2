// The record stage of a run (core/run/run_stages.hpp): run.json as found
// (finished, damaged), its opening fields, and the RunRecord that keeps it.
#include <unistd.h>

#include "core/base/plural.hpp"
#include "core/base/build_info.hpp"
#include "core/run/plugins.hpp"
#include "core/run/run_stages.hpp"

namespace ldae {
namespace {

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

RunOutcome finished_run(const RunConfig& cfg, const std::string& dir, const nlohmann::json& rec,
                        const RunContext& ctx, Store* store) {
  RunOutcome out;
  out.status = RunOutcome::Skipped;
  out.top1 = rec.value("probe_top1", -1.0);
  try {
    add_missing_knn(cfg, dir, ctx, store);
  } catch (const InputError& e) {
    fmt::print(stderr, "  kNN probe not added: {}\n", e.what());
  }
  return out;
}

nlohmann::json existing_record(const std::string& dir, bool say) {
  nlohmann::json rec;
  std::string damage;
  try {
    rec = read_run_json(dir);
    if (!rec.empty()) damage = damage_of(dir, rec);
  } catch (const InputError& e) {
    damage = e.what();
  }
  if (damage.empty()) return rec;
  if (say) fmt::print(stderr, "  damaged record ({}); rerunning it\n", damage);
  return nlohmann::json::object();
}

void open_record(RunRecord& r, const RunConfig& cfg, const std::string& label, const RunContext& ctx,
                 torch::Device device, int threads) {
  auto& rec = r.json();
  std::map<std::string, std::string> params;
  for (const auto& k : config_keys()) params[k] = value_str(get(cfg, k));
  if (rec.empty()) rec["created"] = now_iso();
  if (!rec.contains("timings")) rec["timings"] = nlohmann::json::object();
  rec["id"] = run_id(cfg);
  rec["label"] = label;
  rec["seed"] = cfg.seed;
  rec["status"] = "running";
  rec["git_commit"] = git_commit();
  rec["host"] = hostname();
  rec["pid"] = getpid();
  rec["versions"] = library_versions();
  rec["plugins"] = nlohmann::json::array();
  for (const auto& p : loaded_plugins())
    rec["plugins"].push_back({{"name", p.name}, {"version", p.version}, {"path", p.path}});
  rec["device"] = device.str();
  rec["threads"] = threads;
  rec["data_parallel"] = {{"world", ctx.comm ? ctx.comm->world() : 1},
                          {"backend", ctx.comm ? ctx.comm->backend() : "none"}};
  rec["params"] = params;
  // The strong digest of the data the run reads (its id carries the
  // fingerprint data_fingerprint_in_root chose for it).
  if (data_needs_fingerprint(cfg.data)) rec["data_xxh3_128"] = prepared_data_digests(cfg.data, ctx.results).strong;
  r.write();
  r.reindex();
  r.log(fmt::format("run {} '{}' seed {} on {} with {}{}", run_id(cfg), label, cfg.seed, device.str(),
                    count_of(threads, "thread"),
                    ctx.comm ? fmt::format(", data parallel over {} {} processes", ctx.comm->world(),
                                           ctx.comm->backend())
                             : ""));
}

}  // namespace ldae
