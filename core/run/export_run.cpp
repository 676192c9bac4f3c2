// A run's encoder out to Python (core/export/encoder_export.hpp): written as
// each run finishes its encoder stage, and by `run_sweep --export ID` for
// runs recorded before.
#include <filesystem>
#include <fstream>

#include "core/base/filesystem.hpp"
#include "core/diffusion/noise.hpp"
#include "core/export/encoder_export.hpp"
#include "core/run/run_stages.hpp"

namespace ldae {
namespace fs = std::filesystem;

void record_encoder(const RunConfig& cfg, const EncoderStage& st, const Tokenizer& tok, const std::string& dir,
                    nlohmann::json& rec, const Log& log) {
  if (!cfg.eval.export_encoder) return;
  ProbedEncoder enc{st.model, st.options, st.block, st.t_read, st.gamma, cfg.probe.noisy ? st.sigma : 0.0, st.V};
  std::string why;
  auto e = export_encoder(dir, cfg, run_id(cfg), tok, enc, &why);
  if (e.is_null()) {
    log(why);
    return;
  }
  rec["encoder"] = e;
  log(fmt::format("encoder for Python: encoder.safetensors ({} parameters, {:.1f} MB) + encoder.json",
                  e["parameters"].get<int64_t>(), double(e["bytes"].get<uint64_t>()) / 1e6));
}

int export_recorded_run(const std::string& results, const std::string& id, const std::string& out) {
  const RunConfig cfg = read_run_config(results, id);
  const std::string dir = run_dir(results, id);
  if (read_run_json(dir).value("status", "") != "done")
    throw InputError(fmt::format("--export {}: the run in {} is not done; finish it with run_sweep first", id, dir));
  if (cfg.probe.features != "encoder")
    throw InputError(fmt::format(
        "--export {}: probe.features = \"{}\": --export remakes an encoder from its trained model, which this run "
        "has none of{}",
        id, cfg.probe.features,
        fs::exists(dir + "/encoder.safetensors")
            ? fmt::format("; the run wrote its encoder when it finished: {}/encoder.safetensors and encoder.json "
                          "(copy them where you need them)",
                          dir)
            : ""));
  // A done run is never retrained by run_sweep: a missing model is remade
  // by deleting the run too (a damaged one: load_run_model says so).
  // Checked before anything is fitted.
  if (!fs::exists(trained_model_path(cfg, results)))
    throw InputError(fmt::format("--export {}: its trained model {} is gone; the run is done, so run_sweep will not "
                                 "retrain it: delete {}, then rerun its sweep", id, trained_model_path(cfg, results),
                                 dir));
  const Log say = [](const std::string& s) { fmt::print("  {}\n", s); };
  RunParts parts = load_run_parts(cfg, results, say);
  EncoderStage st;
  try {
    st.model = load_run_model(cfg, parts, results);
  } catch (const InputError& e) {
    throw InputError(fmt::format("--export {}: {}", id, e.what()));
  }
  st.objective = make_objective(cfg.objective);
  st.schedule = make_schedule(cfg.noise);
  TrainData td = prepare_train_data(*parts.tok, parts.train.rows(0, 2), parts.train_y.slice(0, 0, 2));
  st.options = run_backbone_options(cfg, st.objective, td, parts.train.h, parts.train.w, parts.classes);
  set_probe_reading(cfg, st);  // as the probe read it
  if (st.objective.image_space) st.V = td.V;
  RunConfig forced = cfg;
  forced.eval.export_encoder = true;
  const std::string target = out.empty() ? dir : out;
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec || !fs::is_directory(target))
    throw InputError(fmt::format("--out {}: cannot make that folder ({}); give a writable folder", target,
                                 ec ? ec.message() : "a file is in the way"));
  nlohmann::json rec;
  record_encoder(forced, st, *parts.tok, target, rec, say);
  if (!rec.contains("encoder")) return 2;
  if (out.empty()) {  // named in run.json, under the run's lock
    RunLock lock(dir);
    if (!lock.try_lock())
      throw InputError(fmt::format("--export {}: another process holds the run's lock; try again when it ends", id));
    auto run = read_run_json(dir);
    run["encoder"] = rec["encoder"];
    write_run_json(dir, run);
  }
  fmt::print("exported {} to {}/encoder.safetensors and encoder.json\n", id, target);
  return 0;
}

}  // namespace ldae
