#include "probes/finetune.hpp"

#include <fmt/core.h>

#include <cmath>
#include <map>

#include "core/data/augment.hpp"
#include "core/nn/autocast.hpp"
#include "core/base/errors.hpp"
#include "core/base/progress.hpp"
#include "core/base/schedule.hpp"
#include "core/base/stop.hpp"
#include "core/base/threads.hpp"
#include "probes/finetune_batches.hpp"

namespace ldae {
namespace F = torch::nn::functional;

torch::Tensor smoothed_targets(const torch::Tensor& y, int64_t classes, double eps) {
  return F::one_hot(y, classes).to(torch::kFloat32) * (1.0 - eps) + eps / double(classes);
}

double layer_lr_scale(int64_t layer, int64_t n, double decay) {
  if (layer < 0 || layer > n) layer = n + 1;
  return std::pow(decay, double(n + 1 - layer));
}

namespace {

struct Head : torch::nn::Module {
  Head(int64_t width, int64_t classes) {
    norm = register_module("fc_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-6)));
    fc = register_module("head", torch::nn::Linear(width, classes));
    torch::NoGradGuard ng;
    torch::nn::init::normal_(fc->weight, 0.0, 2e-5);  // timm truncates at +-2, 1e5 std away
    torch::nn::init::zeros_(fc->bias);
  }
  torch::Tensor forward(const torch::Tensor& f) { return fc(norm(f)); }
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear fc{nullptr};
};

// Mixup or cutmix of a batch with its reverse: images mixed in place of x,
// soft targets mixed alike. lam ~ Beta(alpha, alpha) (cutmix: lam corrected
// to the box's real area). One of the two per batch when both are on.
void mix(torch::Tensor& x, torch::Tensor& target, const EvalConfig& cfg) {
  const bool use_cutmix = cfg.finetune_cutmix > 0 &&
                          (cfg.finetune_mixup <= 0 || torch::rand({1}).item<double>() < 0.5);
  const double alpha = use_cutmix ? cfg.finetune_cutmix : cfg.finetune_mixup;
  auto g = torch::_standard_gamma(torch::full({2}, alpha));
  double lam = (g[0] / g.sum()).item<double>();
  auto other = x.flip(0);
  if (use_cutmix) {
    const int64_t H = x.size(2), W = x.size(3);
    const double r = std::sqrt(1.0 - lam);
    const int64_t ch = int64_t(H * r), cw = int64_t(W * r);
    const int64_t cy = torch::randint(H, {1}).item<int64_t>(), cx = torch::randint(W, {1}).item<int64_t>();
    const int64_t y0 = std::clamp<int64_t>(cy - ch / 2, 0, H), y1 = std::clamp<int64_t>(cy + ch / 2, 0, H);
    const int64_t x0 = std::clamp<int64_t>(cx - cw / 2, 0, W), x1 = std::clamp<int64_t>(cx + cw / 2, 0, W);
    x = x.clone();
    x.slice(2, y0, y1).slice(3, x0, x1).copy_(other.slice(2, y0, y1).slice(3, x0, x1));
    lam = 1.0 - double((y1 - y0) * (x1 - x0)) / double(H * W);
  } else {
    x = lam * x + (1 - lam) * other;
  }
  target = lam * target + (1 - lam) * target.flip(0);
}

// AdamW over the encoder (through `block`) and the head in parameter groups
// by (layer, weight decay): layer-wise lr scales in *scales, one per group;
// no weight decay on biases, norms, positions and the class token. The
// blocks after `block` take no part.
torch::optim::AdamW finetune_optimizer(BackboneImpl& model, torch::nn::Module& head, int64_t block,
                                       const EvalConfig& cfg, double peak, std::vector<double>* scales) {
  std::map<std::pair<int64_t, bool>, std::vector<torch::Tensor>> groups;
  for (auto& p : model.named_parameters()) {
    const int64_t layer = model.layer_of(p.key());
    if (layer > block || !p.value().requires_grad()) continue;  // not in the encoder
    const bool no_wd = p.value().dim() <= 1 || p.key().find("cls_token") != std::string::npos ||
                       p.key().find("pos_embed") != std::string::npos;
    groups[{layer, !no_wd}].push_back(p.value());
  }
  for (auto& p : head.named_parameters()) groups[{block + 1, p.value().dim() > 1}].push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> pg;
  for (auto& [key, params] : groups) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(peak);
    o->weight_decay(key.second ? cfg.finetune_weight_decay : 0.0);
    pg.emplace_back(params, std::move(o));
    scales->push_back(layer_lr_scale(key.first, block, cfg.finetune_layer_decay));
  }
  return torch::optim::AdamW(pg, torch::optim::AdamWOptions(peak));
}

// Step `step`'s augmented images (B, C, H, W) and labels (B,), asked for in
// step order. With RandAugment or random erasing, made by their own seeded
// draws (probes/finetune_batches.hpp), ahead on another thread where that
// thread has cores to itself (a GPU run; a CPU run given at most half the
// cores); without, from the global stream the runs recorded before them
// drew (the same results as then).
std::function<std::pair<torch::Tensor, torch::Tensor>(int64_t)> batch_source(
    const FinetuneData& data, const EvalConfig& cfg, int64_t B, int64_t spe, int64_t total, uint64_t seed,
    torch::Device device, const std::function<void(const std::string&)>& log) {
  if (cfg.finetune_randaug_n > 0 || cfg.finetune_reprob > 0) {
    const int ahead = data.ahead >= 0                                                         ? data.ahead
                      : device.is_cuda() || 2 * torch::get_num_threads() <= default_threads() ? 2
                                                                                              : 0;
    auto made = std::make_shared<FinetuneBatches>(data.train, data.train_y, data.normalized, cfg, B, spe, total,
                                                  seed, ahead);
    if (log) log(fmt::format("fine-tuning batches augmented {}", made->ahead() ? "ahead on a second thread" : "inline"));
    return [made](int64_t) {
      auto b = made->next();
      return std::make_pair(b.images, b.labels);
    };
  }
  auto perm = std::make_shared<torch::Tensor>();
  return [&data, &cfg, perm, B, spe](int64_t step) {
    const int64_t i = step % spe;
    if (i == 0) *perm = torch::randperm(data.train.n, torch::kLong);
    auto idx = perm->slice(0, i * B, (i + 1) * B);
    return std::make_pair(augment_for_finetuning(data.train, idx, data.normalized, cfg),
                          data.train_y.index_select(0, idx));
  };
}

}  // namespace

FinetuneResult finetune(Backbone model, int64_t block, int64_t t, double gamma, const std::string& pool,
                        const FinetuneData& data, const EvalConfig& cfg, bool bf16, uint64_t seed,
                        torch::Device device, const std::function<void(const std::string&)>& log,
                        const LiveSink& live) {
  torch::manual_seed(seed);
  const int64_t N = data.train.n, B = std::min<int64_t>(cfg.finetune_batch, N);
  const int64_t spe = std::max<int64_t>(1, N / B);
  const int64_t total = std::max<int64_t>(1, std::llround(cfg.finetune_epochs * double(spe)));
  const int64_t warm = std::llround(cfg.finetune_warmup_epochs * double(spe));
  auto head = std::make_shared<Head>(pooled_width(model->feature_width(block), pool), data.classes);
  model->to(device);
  head->to(device);
  const double peak = cfg.finetune_lr * double(B) / 256.0;
  std::vector<double> scales;
  torch::optim::AdamW opt = finetune_optimizer(*model, *head, block, cfg, peak, &scales);
  auto forward = [&](const torch::Tensor& images) {
    auto tok = data.tokens(images).to(device);
    auto ts = torch::full({tok.size(0)}, double(t), tok.options().dtype(torch::kFloat32));
    Autocast ac(bf16, device);
    auto f = pool_features(model->features(gamma * tok, ts, block), pool, model->has_cls_token());
    return head->forward(f).to(torch::kFloat32);
  };
  FinetuneResult res;
  Progress progress("finetune", total, std::max<int64_t>(1, spe), B, log);
  // Summed on the device and read once an epoch (no host synchronisation per step).
  const auto on_dev = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  torch::Tensor loss_sum, correct;
  int64_t seen = 0;
  std::string shown = "loss -";
  const auto next_batch = batch_source(data, cfg, B, spe, total, seed, device, log);
  for (int64_t step = 0; step < total; ++step) {
    check_stop("fine-tuning (not checkpointed: a rerun keeps the pre-trained model and fine-tunes anew)");
    const int64_t i = step % spe;
    if (i == 0) loss_sum = torch::zeros({}, on_dev), correct = torch::zeros({}, on_dev), seen = 0;
    auto [x, y] = next_batch(step);
    auto target = smoothed_targets(y, data.classes, cfg.finetune_label_smoothing);
    if (cfg.finetune_mixup > 0 || cfg.finetune_cutmix > 0) mix(x, target, cfg);
    model->train();
    head->train();
    auto logits = forward(x);
    auto loss = -(target.to(device) * F::log_softmax(logits, F::LogSoftmaxFuncOptions(1))).sum(1).mean();
    opt.zero_grad();
    loss.backward();
    const double lr = warmup_cosine(step, warm, total, peak, cfg.finetune_min_lr);  // MAE's lr_sched
    for (size_t g = 0; g < opt.param_groups().size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[g].options()).lr(lr * scales[g]);
    opt.step();
    loss_sum.add_(loss.detach().to(torch::kFloat64) * double(y.size(0)));
    correct.add_(logits.argmax(1).eq(y.to(device)).sum().to(torch::kFloat64));
    seen += y.size(0);
    if (i == spe - 1 || step == total - 1) {
      const double mean = loss_sum.item<double>() / double(seen);
      res.curve.push_back({double(step + 1) / double(spe), mean, 100.0 * correct.item<double>() / double(seen), -1});
      if (live)
        live("finetune", step + 1, {{"epoch", res.curve.back()[0]}, {"train_loss", mean},
                                    {"train_acc", res.curve.back()[2]}, {"lr", lr}});
      shown = fmt::format("loss {:.4f}", mean);
    }
    progress.update(step + 1, 0, shown);
  }
  torch::NoGradGuard ng;
  model->eval();
  head->eval();
  int64_t right = 0;
  for (int64_t i = 0; i < data.test.n; i += 512) {
    check_stop("fine-tuning evaluation");
    auto x = data.test.rows(i, std::min(i + 512, data.test.n));
    auto y = data.test_y.slice(0, i, std::min(i + 512, data.test_y.size(0)));
    right += forward(x).argmax(1).cpu().eq(y).sum().item<int64_t>();
  }
  res.top1 = 100.0 * double(right) / double(std::max<int64_t>(1, data.test.n));
  res.curve.back()[3] = res.top1;
  if (log) log(fmt::format("fine-tuned {:.2f} epochs ({} steps of {}): top-1 {:.2f}%", cfg.finetune_epochs, total, B, res.top1));
  return res;
}

}  // namespace ldae
