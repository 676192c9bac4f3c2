// The evaluation stage of a run (core/run/run_stages.hpp): generation quality
// (FID), end-to-end fine-tuning, and the linear and kNN probes on the
// encoder's features.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <Eigen/Core>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>

#include "backbones/dit.hpp"
#include "probes/fid.hpp"
#include "core/records/h5.hpp"
#include "core/records/module_h5.hpp"
#include "core/data/augment.hpp"
#include "core/plugin/hooks.hpp"
#include "core/run/run_stages.hpp"
#include "core/diffusion/sampler.hpp"
#include "core/base/atomic_file.hpp"
#include "core/base/file_digest.hpp"
#include "core/base/plural.hpp"
#include "core/base/progress.hpp"
#include "core/base/stop.hpp"
#include "probes/linear_probe.hpp"

namespace ldae {
namespace fs = std::filesystem;
namespace {

// The features of `net` for images (B, C, H, W) in [-1, 1], 512 at a time,
// added to `fit`.
void add_features(FeatureNet& net, const torch::Tensor& images, GaussianFit& fit) {
  for (int64_t i = 0; i < images.size(0); i += 512) {
    check_stop("FID feature extraction");
    auto f = net.pooled(images.slice(0, i, std::min(i + 512, images.size(0)))).to(torch::kFloat64).cpu().contiguous();
    fit.add(Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        f.data_ptr<double>(), f.size(0), f.size(1)));
  }
}

// The Gaussian of the reference images' features: rows [0, n) of `ref`, read
// kStreamRows at a time. Memory: one chunk of images, F^2 doubles.
Gaussian reference_gaussian(const ImageBatches& ref, int64_t n, FeatureNet& net, const Log& log) {
  GaussianFit fit;
  // Counted in chunks, so the plain log lines (every tenth) fall on chunk ends.
  const int64_t chunks = (n + kStreamRows - 1) / kStreamRows;
  Progress progress("FID reference", chunks, std::max<int64_t>(1, chunks / 10), kStreamRows, log);
  for (int64_t k = 0; k < chunks; ++k) {
    add_features(net, ref.rows(k * kStreamRows, std::min((k + 1) * kStreamRows, n)), fit);
    progress.update(k + 1, 0, "");
  }
  return fit.gaussian();
}

// FID of `n` generated images against the reference Gaussian, in the
// features of the frozen network. Images are sampled, decoded and featured one
// sampler batch at a time (memory: one batch, F^2 doubles, the first 64
// samples, which are returned in *samples_out).
double generation_fid(Backbone& model, const Schedule& schedule, const Objective& obj, const Tokenizer& tok,
                      const Gaussian& reference, int64_t n, FeatureNet& net, const RunConfig& cfg,
                      int64_t classes, int64_t L, int64_t d, torch::Device device, torch::Tensor* samples_out,
                      const Log& log) {
  SampleOptions so;
  so.n = n;
  so.steps = cfg.eval.sample_steps;
  so.eta = cfg.eval.sampler == "ddpm" ? 1.0 : 0.0;
  so.classes = cfg.model.class_cond ? classes : 0;
  so.seed = step_seed(uint64_t(cfg.seed), 1ull << 50);
  // On a GPU: bf16 (train.bf16) and 4x the CPU's batch of 256 images.
  so.bf16 = cfg.train.bf16;
  if (device.is_cuda()) so.batch = 1024;
  GaussianFit generated;
  std::vector<torch::Tensor> kept;  // the first 64 samples, for the run's figure
  int64_t kept_n = 0;
  // Counted in sampler batches, so the plain log lines (every tenth) fall on batch ends.
  const int64_t batches = (n + so.batch - 1) / so.batch;
  int64_t done = 0;
  Progress progress("FID samples", batches, std::max<int64_t>(1, batches / 10), so.batch, log);
  sample_latent_batches(model, schedule, obj, L, d, so, device, [&](const torch::Tensor& z) {
    torch::NoGradGuard ng;
    auto images = tok.decode(z).clamp(-1.0, 1.0);
    if (kept_n < 64) {
      kept.push_back(images.slice(0, 0, 64 - kept_n).clone());
      kept_n += kept.back().size(0);
    }
    add_features(net, images, generated);
    progress.update(++done, 0, "");
  });
  *samples_out = torch::cat(kept);
  return frechet_distance(generated.gaussian(), reference);
}

// The reference Gaussian, computed once per (data, feature network, split,
// count) and kept in results/fid_reference/<key>.h5 (mean (F), cov (F, F),
// float64; written whole or not at all): every run of a sweep that scores
// FID against the same images reads it (Table 1's paper profile: the 1.28 M
// training images, featured once instead of once per row). The key holds the
// data section with its fingerprint, the network (the harness classifier's
// epochs, or the TorchScript file's content digest), the split and the count.
// A kept file is used only when it says so itself (its images, split and
// network attributes), its shapes are the network's width and its values
// finite; otherwise (damaged, another version's) it is computed again and
// replaced. A folder it cannot be written to costs only the keeping.
Gaussian cached_reference(const RunConfig& cfg, const std::string& results, bool train_split, const ImageBatches& ref,
                          int64_t n, FeatureNet& net, const Log& log) {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const std::string net_id = cfg.eval.fid_net == "classifier"
                                 ? fmt::format("classifier e{}", cfg.eval.classifier_epochs)
                                 : "torchscript " + file_digest(cfg.eval.fid_net);
  const std::string split = train_split ? "train" : "test", words = train_split ? "training" : "test";
  const std::string key =
      fnv1a_hex(fmt::format("{}\n{}\n{} {}", data_cache_text(cfg), net_id, split, n));
  const std::string path = fmt::format("{}/fid_reference/{}.h5", results, key);
  if (fs::exists(path)) {
    const int64_t F = net.pooled(ref.rows(0, 1)).size(1);  // the network's feature width
    std::string why;
    try {
      H5File f(path, H5File::Mode::Read);
      std::vector<uint64_t> ms, cs;
      auto mean = f.read_f64("mean", &ms);
      auto cov = f.read_f64("cov", &cs);
      if (f.attr_i64("images") != n || f.attr_str("split") != split || f.attr_str("feature_net") != net_id)
        why = "kept for other images or another network";
      else if (ms != std::vector<uint64_t>{uint64_t(F)} || cs != std::vector<uint64_t>{uint64_t(F), uint64_t(F)})
        why = fmt::format("shapes {} and {}x{} where the network gives {} features", ms.empty() ? 0 : ms[0],
                          cs.empty() ? 0 : cs[0], cs.size() > 1 ? cs[1] : 0, F);
      else if (!std::all_of(mean.begin(), mean.end(), [](double v) { return std::isfinite(v); }) ||
               !std::all_of(cov.begin(), cov.end(), [](double v) { return std::isfinite(v); }))
        why = "values that are not finite";
      if (why.empty()) {
        Gaussian g;
        g.mean = Eigen::Map<Eigen::VectorXd>(mean.data(), F);
        g.cov = Eigen::Map<RowMajor>(cov.data(), F, F);
        log(fmt::format("FID reference loaded from {} ({} {} images)", path, n, words));
        return g;
      }
    } catch (const std::exception& e) {
      why = reason_about(first_sentence(e.what(), 400), path);
    }
    log(fmt::format("FID reference {} not used ({}): computed again", path, why));
  }
  Gaussian g = reference_gaussian(ref, n, net, log);
  const auto F = uint64_t(g.mean.size());
  std::vector<double> mean(g.mean.data(), g.mean.data() + F), cov(F * F);
  Eigen::Map<RowMajor>(cov.data(), Eigen::Index(F), Eigen::Index(F)) = g.cov;
  try {
    write_file_atomically(path, [&](const std::string& tmp) {
      H5File f(tmp, H5File::Mode::Create);
      f.write("mean", mean, {F});
      f.write("cov", cov, {F, F});
      f.set_attr("images", n);
      f.set_attr("split", split);
      f.set_attr("feature_net", net_id);
    });
    log(fmt::format("FID reference ({} {} images) kept in {}", n, words, path));
  } catch (const std::exception& e) {
    log(fmt::format("warning: FID reference not kept in {} ({}); the next run computes it again", path, e.what()));
  }
  return g;
}

}  // namespace

void generation_stage(const RunConfig& cfg, const EncoderStage& st, const Tokenizer& tok, const TrainData& td,
                      const RunData& data, torch::Device device, const FeatureNetSource& feature_net,
                      const std::string& results, RunMetrics& metrics, nlohmann::json& rec, const Log& log) {
  const auto t_gen = clk::now();
  torch::Tensor samples;
  auto net = feature_net(cfg.eval.fid_net);
  Backbone model = st.model;
  // The reference: every training image (ADM's reference statistics, which
  // DiT's FID-50K uses, are over the whole training set), or the first
  // fid_samples test images. fid_samples images are generated either way
  // (as many as the test split holds, when it is the reference).
  const bool train_ref = cfg.eval.fid_reference == "train";
  const auto [n, reference_n] = cfg.eval.fid_counts(data.train.n, data.test.n);
  const Gaussian reference =
      cached_reference(cfg, results, train_ref, train_ref ? data.train : data.test, reference_n, *net, log);
  metrics.fid = generation_fid(model, st.schedule, st.objective, tok, reference, n, *net, cfg, data.classes,
                               td.z0.size(1), td.z0.size(2), device, &samples, log);
  metrics.samples = to_f32(samples);
  metrics.samples_shape = shape_of(samples);
  rec["eval_fid"] = metrics.fid;
  rec["timings"]["eval_s"] = secs_since(t_gen);
  const std::string sampler = cfg.objective.target == "velocity" ? "Heun ODE"
                              : cfg.objective.learn_sigma && cfg.eval.sampler == "ddpm"
                                  ? "ddpm (learned variance)"
                                  : cfg.eval.sampler;
  log(fmt::format("FID {:.3f} ({} samples against {} {} images, {} {} steps, features: {}) in {:.1f} s",
                  metrics.fid, n, reference_n, train_ref ? "training" : "test", sampler, cfg.eval.sample_steps,
                  net->describe(), secs_since(t_gen)));
}

// Fine-tuning (probes/finetune.hpp) of a copy of the run's encoder, read as
// the probe reads it: the tokenizer's tokens (mapped to image space when the
// objective works there), scaled by gamma_t, at the probe's t.
FinetuneResult finetune_stage(const RunConfig& cfg, EncoderStage& st, Tokenizer& tok, const RunData& data,
                              torch::Device device, const Log& log, const LiveSink& live) {
  FinetuneData fd;
  fd.train = data.train, fd.train_y = data.train_y, fd.test = data.test, fd.test_y = data.test_y;
  fd.normalized = cfg.data.normalize;
  fd.classes = data.classes;
  const torch::Tensor V = st.V.defined() ? st.V.cpu() : st.V;
  fd.tokens = [&tok, V](const torch::Tensor& images) {
    torch::NoGradGuard ng;
    auto z = tok.encode(images);
    return V.defined() ? torch::matmul(z, V) : z;
  };
  const auto& e = cfg.eval;
  const std::string pool = e.finetune_pool == "probe" ? cfg.probe.pool : e.finetune_pool;
  log(fmt::format("fine-tuning {} through {} for {} epochs (batch {}, base lr {}, layer decay {}, drop path {}, "
                  "crops from {} of the area, {}, random erasing {}, head on the {})", cfg.model.name, st.model->block_name(st.block),
                  e.finetune_epochs, e.finetune_batch, e.finetune_lr, e.finetune_layer_decay, e.finetune_drop_path,
                  e.finetune_crop_min,
                  e.finetune_randaug_n > 0 ? fmt::format("RandAugment n {} m {} mstd {}", e.finetune_randaug_n,
                                                         e.finetune_randaug_m, e.finetune_randaug_mstd)
                                           : std::string("no RandAugment"),
                  e.finetune_reprob,
                  pool == "cls" ? "class token" : pool == "cls_mean" ? "class token and the tokens' mean" : "tokens' mean"));
  Backbone copy = copy_backbone(cfg.model.name, st.options, st.model);
  // The copy alone drops paths (the probed encoder stays as it was), over the
  // blocks fine-tuning runs: the encoder's.
  if (cfg.eval.finetune_drop_path > 0)
    set_drop_path(*copy, cfg.eval.finetune_drop_path, st.block, "eval.finetune_drop_path");
  return finetune(copy, st.block, st.t_read, st.gamma, pool,
                  fd, cfg.eval, cfg.train.bf16, uint64_t(cfg.seed) + 3, device, log, live);
}

void probe_stage(const RunConfig& cfg, const ProbeRows& rows, const RunData& data, torch::Device device,
                 RunMetrics& metrics, nlohmann::json& rec, const Log& log, const LiveSink& live) {
  const auto t_probe = clk::now();
  // Both probes on the run's device, held features copied there once (cheap
  // there at ImageNet size); rows made on demand come out there.
  auto on_device = [device](const FeatureRows& f) { return f.held() ? held_rows(f.all.to(device)) : f; };
  const auto xtr = on_device(rows.train), xte = on_device(rows.test);
  const auto ytr = data.train_y.to(device), yte = data.test_y.to(device);
  auto pr = linear_probe(xtr, ytr, xte, yte, data.classes, cfg.probe, cfg.seed, log, rows.view, live);
  metrics.probe = pr.curve;
  metrics.top1 = pr.top1;
  metrics.top5 = pr.top5;
  const auto knn = run_knn(cfg, xtr, ytr, xte, yte, data.classes, log);
  metrics.knn_top1 = knn.top1;
  metrics.knn_top5 = knn.top5;
  log(fmt::format("probe top-1 {:.2f}% ({} train / {} test images){}", pr.top1, xtr.n, xte.n,
                  knn.top1 >= 0 ? fmt::format("; kNN top-1 {:.2f}% (k = {}, T = {})", knn.top1, cfg.probe.knn_k,
                                              cfg.probe.knn_t)
                                : ""));
  rec["probe_top1"] = pr.top1;
  rec["probe_top5"] = pr.top5;
  // Rows read on demand: the curve's training accuracy is the trained
  // batches', and metrics.h5 keeps no features (ldae.probe_features: None).
  if (!xtr.held()) rec["probe_rows"] = "on_demand";
  if (knn.top1 >= 0) rec["probe_knn_top1"] = knn.top1, rec["probe_knn_top5"] = knn.top5;
  rec["timings"]["probe_s"] = secs_since(t_probe);
}

namespace {
// Bytes free on a CUDA device, its cache emptied first; unbounded elsewhere.
uint64_t device_free_bytes(torch::Device device) {
  if (!device.is_cuda()) return UINT64_MAX;
  const c10::cuda::CUDAGuard guard(device.index());
  torch::cuda::synchronize(device.index());
  c10::cuda::CUDACachingAllocator::emptyCache();
  size_t free_bytes = 0, total_bytes = 0;
  return cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess ? uint64_t(free_bytes) : UINT64_MAX;
}
}  // namespace

ProbeRows raw_pixel_rows(const RunConfig& cfg, const RunData& data, torch::Device device, const Log& log) {
  // Pixels flattened, through the plugins' probe hooks as any features are.
  auto flat = [&cfg](const torch::Tensor& im) { return plugin_probe_features(cfg, im.reshape({im.size(0), -1})); };
  ProbeRows p;
  if (cfg.probe.augment == "rrc_flip")
    p.view = [train = data.train, device, flat](const torch::Tensor& idx) {
      torch::NoGradGuard ng;
      return flat(crop_images(train, idx.to(torch::kCPU), kProbeCropScale, 1.0, 0, torch::kCPU)).to(device);
    };
  if (!data.streamed || float_gib(data) <= cfg.data.resident_max_gb) {
    // Within the budget both splits are held (whole-image data's centre
    // squares read into memory here), as every recorded anchor was.
    p.train = held_rows(flat(data.streamed ? data.train.rows(0, data.train.n) : data.train_img));
    p.test = held_rows(flat(data.streamed ? data.test.rows(0, data.test.n) : data.test_img));
    return p;
  }
  auto on_demand = [&flat, device](const ImageBatches& b) {
    FeatureRows f;
    f.n = b.n, f.device = device;
    f.range = [b, flat, device](int64_t lo, int64_t hi) { return flat(b.rows(lo, hi)).to(device); };
    f.pick = [b, flat, device](const torch::Tensor& idx) { return flat(b.read(idx.to(torch::kCPU))).to(device); };
    f.width = f.n > 0 ? f.range(0, 1).size(1) : int64_t(b.c) * b.h * b.w;
    return f;
  };
  p.train = on_demand(data.train), p.test = on_demand(data.test);
  log(fmt::format("raw pixels: {:.2f} GiB as float32 > data.resident_max_gb = {}: each image's {} values are read "
                  "from the store as the probes need them (not kept in metrics.h5)",
                  float_gib(data), cfg.data.resident_max_gb, p.train.width));
  return p;
}

KnnResult run_knn(const RunConfig& cfg, const FeatureRows& f_train, const torch::Tensor& train_y,
                  const FeatureRows& f_test, const torch::Tensor& test_y, int64_t classes, const Log& log) {
  if (cfg.probe.knn_k <= 0) return {-1, -1};
  if (f_train.held() && f_test.held())  // no passes: nothing to size
    return knn_probe(f_train.all, train_y, f_test.all, test_y, classes, cfg.probe.knn_k, cfg.probe.knn_t,
                     cfg.train.bf16);
  const double budget = cfg.data.resident_max_gb * double(int64_t(1) << 30);
  // The pass is held on the run's device: on a GPU also within half of its
  // free memory. At least a block's rows (data.resident_max_gb = 0 streams
  // everything, and one test row a pass would read the training split once a row).
  const double bytes = std::min(budget, 0.5 * double(device_free_bytes(f_test.device)));
  const int64_t held = std::max(f_test.block(), int64_t(bytes / (4.0 * double(std::max<int64_t>(1, f_test.width)))));
  if (log)
    log(fmt::format("kNN on rows read on demand: {} held at a time (data.resident_max_gb), the {} read {}",
                    count_of(std::min(held, f_test.n), "test row"), count_of(f_train.n, "training row"),
                    (f_test.n + held - 1) / held == 1 ? std::string("once") : count_of((f_test.n + held - 1) / held, "time")));
  return knn_probe(f_train, train_y, f_test, test_y, classes, cfg.probe.knn_k, cfg.probe.knn_t, cfg.train.bf16,
                   held);
}

// A done run recorded before the kNN probe existed: compute it from the probe
// features its metrics.h5 keeps (seconds, no retraining), under the run's
// lock, and re-index the run. Busy or featureless runs are left as they are.
void add_missing_knn(const RunConfig& cfg, const std::string& dir, const RunContext& ctx, Store* store) {
  if (cfg.probe.knn_k <= 0 || !fs::exists(dir + "/metrics.h5")) return;
  if (read_metrics_h5(dir).knn_top1 >= 0) return;
  RunLock lock(dir);
  if (!lock.try_lock() || read_metrics_h5(dir).knn_top1 >= 0) return;
  auto [f_train, f_test] = read_probe_features(dir);
  if (!f_train.defined()) return;
  const Dataset& data = cached_dataset(cfg.data, ctx.results);
  auto train_y = to_labels(data.train), test_y = to_labels(data.test);
  if (f_train.size(0) != train_y.size(0) || f_test.size(0) != test_y.size(0)) return;
  const auto r = run_knn(cfg, held_rows(f_train), train_y, held_rows(f_test), test_y, data.classes);
  add_knn_to_metrics_h5(dir, r.top1, r.top5);
  auto rec = read_run_json(dir);
  rec["probe_knn_top1"] = r.top1, rec["probe_knn_top5"] = r.top5;
  rec["metrics_bytes"] = fs::file_size(dir + "/metrics.h5");
  write_run_json(dir, rec);
  std::ofstream(dir + "/log.txt", std::ios::app)
      << "[" << now_iso() << "] kNN probe added from the stored features: top-1 " << fmt::format("{:.2f}", r.top1)
      << "% (k = " << cfg.probe.knn_k << ", T = " << cfg.probe.knn_t << ")" << std::endl;
  if (store) index_run_or_defer(*store, dir, [&](const std::string& w) {
    fmt::print(stderr, "  {}\n", w);
    std::ofstream(dir + "/log.txt", std::ios::app) << "[" << now_iso() << "] " << w << std::endl;
  });
}

}  // namespace ldae
