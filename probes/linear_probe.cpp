#include "probes/linear_probe.hpp"
#include "core/base/stop.hpp"

#include <fmt/core.h>

#include <cmath>

#include "core/base/progress.hpp"
#include "core/nn/autocast.hpp"
#include "core/nn/linear.hpp"
#include "core/base/seeds.hpp"
#include "probes/lars.hpp"

namespace ldae {

torch::Tensor encoder_features(Backbone& model, const torch::Tensor& tokens, const torch::Tensor& V,
                               int64_t blocks, int64_t t, double gamma, double sigma, bool noisy,
                               int64_t batch, torch::Device device, uint64_t seed,
                               std::pair<int64_t, int64_t> rows, const std::string& pool, bool bf16) {
  return encoder_features(
      model, [&tokens](int64_t lo, int64_t hi) { return tokens.slice(0, lo, hi); }, tokens.size(0), V, blocks, t,
      gamma, sigma, noisy, batch, device, seed, rows, pool, bf16);
}

torch::Tensor encoder_features(Backbone& model, const TokenRows& tokens, int64_t n, const torch::Tensor& V,
                               int64_t blocks, int64_t t, double gamma, double sigma, bool noisy,
                               int64_t batch, torch::Device device, uint64_t seed,
                               std::pair<int64_t, int64_t> rows, const std::string& pool, bool bf16,
                               int64_t forward_rows) {
  const int64_t end = rows.second < 0 ? n : rows.second;
  const auto Vd = V.defined() ? V.to(device) : V;
  torch::NoGradGuard ng;
  model->eval();
  // (rows, C) on the host, filled in place: one allocation, not a small
  // tensor per batch left between the freed activations (with glibc's
  // allocator those pinned its heap, which grew with the rows read).
  auto out = torch::empty({std::max<int64_t>(0, end - rows.first), pooled_width(model->feature_width(blocks), pool)});
  for (int64_t i = rows.first; i < end; i += batch) {
    check_stop("probe feature extraction");
    auto z = tokens(i, std::min(i + batch, end)).to(device);
    torch::Tensor noise;  // drawn for the whole batch: the same noise whatever forward_rows
    if (noisy) {
      auto gen = at::detail::createCPUGenerator(step_seed(seed, uint64_t(i / batch)));
      noise = torch::randn(z.sizes(), gen, torch::kFloat32).to(device);
    }
    const int64_t step = forward_rows > 0 ? forward_rows : z.size(0);
    for (int64_t j = 0; j < z.size(0); j += step) {
      auto zj = z.slice(0, j, j + step);
      auto in = gamma * zj;
      if (noisy) in = in + sigma * noise.slice(0, j, j + step);
      if (Vd.defined()) in = torch::matmul(in, Vd);  // (b, L, d) -> (b, L, D)
      auto ts = torch::full({zj.size(0)}, double(t), zj.options());
      torch::Tensor f;
      {
        Autocast ac(bf16 && device.is_cuda(), device);
        f = model->features(in, ts, blocks);  // (b, N, C)
      }
      // Pooled in fp32 (a mean over 256 tokens in bf16 would lose digits).
      out.slice(0, i - rows.first + j, i - rows.first + j + zj.size(0))
          .copy_(pool_features(f.to(torch::kFloat32), pool, model->has_cls_token()));  // (b, C)
    }
  }
  return out;
}

namespace {
// Top-k accuracy (%) of the head on the rows of x with labels y, evaluated in
// eval mode, a block of rows at a time (4,096 held rows, as recorded runs
// read them; fewer when wide rows are made on demand).
double accuracy(torch::nn::Sequential& head, const FeatureRows& x, const torch::Tensor& y, int64_t k = 1) {
  torch::NoGradGuard ng;
  head->eval();
  const int64_t block = x.held() ? 4096 : x.block();
  int64_t correct = 0;
  for (int64_t i = 0; i < x.n; i += block) {
    if (!x.held()) check_stop("the linear probe's evaluation");
    const int64_t end = std::min(i + block, x.n);
    auto top = std::get<1>(head->forward(x.rows(i, end)).topk(k, /*dim=*/1));  // (b, k)
    correct += top.eq(y.slice(0, i, end).unsqueeze(1)).any(/*dim=*/1).sum().item<int64_t>();
  }
  return 100.0 * double(correct) / double(std::max<int64_t>(1, x.n));
}

// BatchNorm1d without affine + Linear (init std 0.01, zero bias): MAE's
// main_linprobe.py head, on `device`.
torch::nn::Sequential probe_head(int64_t F, int64_t classes, torch::Device device) {
  auto head = torch::nn::Sequential(
      torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(F).affine(false).eps(1e-6)),
      FusedLinear(F, classes));
  {
    torch::NoGradGuard ng;
    auto* lin = head[1]->as<torch::nn::Linear>();
    torch::nn::init::normal_(lin->weight, 0.0, 0.01);  // MAE: trunc_normal std 0.01
    torch::nn::init::zeros_(lin->bias);
  }
  head->to(device);  // the probe runs where its features are
  return head;
}

// One optimizer step on `loss` at learning rate lr: LARS, AdamW or SGD
// (momentum 0.9) after probe.optimizer.
class ProbeUpdate {
 public:
  ProbeUpdate(torch::nn::Sequential& head, const ProbeConfig& cfg, double peak) {
    if (cfg.optimizer == "lars")
      lars_ = std::make_unique<Lars>(head->parameters(), cfg.weight_decay);
    else if (cfg.optimizer == "adamw")
      opt_ = std::make_unique<torch::optim::AdamW>(
          head->parameters(), torch::optim::AdamWOptions(peak).weight_decay(cfg.weight_decay));
    else
      opt_ = std::make_unique<torch::optim::SGD>(
          head->parameters(), torch::optim::SGDOptions(peak).momentum(0.9).weight_decay(cfg.weight_decay));
  }
  void operator()(const torch::Tensor& loss, double lr) {
    if (lars_) {
      lars_->zero_grad();
      loss.backward();
      lars_->step(lr);
      return;
    }
    for (auto& g : opt_->param_groups()) g.options().set_lr(lr);
    opt_->zero_grad();
    loss.backward();
    opt_->step();
  }

 private:
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::unique_ptr<Lars> lars_;
};
}  // namespace

double probe_lr(const ProbeConfig& cfg, int64_t batch, int64_t step, int64_t steps_per_epoch) {
  const double peak = cfg.base_lr * double(batch) / 256.0;
  const int64_t total = steps_per_epoch * cfg.epochs;
  // Without warm-up the expression recorded runs used (bit for bit).
  if (cfg.warmup_epochs <= 0) return peak * 0.5 * (1.0 + std::cos(M_PI * double(step) / double(total)));
  const double e = double(step) / double(steps_per_epoch), w = double(cfg.warmup_epochs);
  if (e < w) return peak * e / w;
  return peak * 0.5 * (1.0 + std::cos(M_PI * (e - w) / (double(cfg.epochs) - w)));
}

ProbeResult linear_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                         const torch::Tensor& test_x, const torch::Tensor& test_y,
                         int64_t classes, const ProbeConfig& cfg, uint64_t seed,
                         std::function<void(const std::string&)> log, const TrainView& train_view, const LiveSink& live) {
  return linear_probe(held_rows(train_x), train_y, held_rows(test_x), test_y, classes, cfg, seed, std::move(log),
                      train_view, live);
}

ProbeResult linear_probe(const FeatureRows& train_x, const torch::Tensor& train_y, const FeatureRows& test_x,
                         const torch::Tensor& test_y, int64_t classes, const ProbeConfig& cfg, uint64_t seed,
                         std::function<void(const std::string&)> log, const TrainView& train_view,
                         const LiveSink& live) {
  torch::manual_seed(seed);
  const int64_t N = train_x.n;
  auto head = probe_head(train_x.width, classes, train_x.device);
  const int64_t B = std::min<int64_t>(cfg.batch, N);
  ProbeUpdate update(head, cfg, cfg.base_lr * B / 256.0);
  const int64_t spe = std::max<int64_t>(1, N / B);
  ProbeResult res;
  int64_t step = 0;
  // A bar with ETA on a terminal (a long probe is otherwise silent there); log.txt keeps the lines below.
  Progress progress("probe", cfg.epochs, std::max(1, cfg.epochs / 10), N, nullptr);
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    head->train();
    auto perm = torch::randperm(N, torch::kLong).to(train_x.device);
    // Summed where the loss lives and read once per epoch (no per-step sync).
    auto loss_acc = torch::zeros({}, torch::dtype(torch::kFloat64).device(train_x.device));
    auto hits = torch::zeros({}, torch::dtype(torch::kInt64).device(train_x.device));
    for (int64_t i = 0; i < spe; ++i, ++step) {
      check_stop("the linear probe");
      auto idx = perm.slice(0, i * B, (i + 1) * B);
      const auto x = train_view ? train_view(idx) : train_x.at(idx);
      const auto y = train_y.index_select(0, idx);
      const auto logits = head->forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      if (!train_x.held()) hits.add_(logits.detach().argmax(1).eq(y).sum());
      update(loss, probe_lr(cfg, B, step, spe));
      loss_acc.add_(loss.detach().to(torch::kFloat64));
    }
    const double loss_sum = loss_acc.item<double>();
    // Rows made on demand are not read a second time for the training
    // accuracy: it is then the epoch's batches' as they were trained.
    const double train_acc = train_x.held() ? accuracy(head, train_x, train_y)
                                            : 100.0 * double(hits.item<int64_t>()) / double(spe * B);
    const double test_acc = accuracy(head, test_x, test_y);
    res.curve.push_back({double(epoch), loss_sum / spe, train_acc, test_acc});
    if (live) live("probe", epoch, {{"train_loss", loss_sum / spe}, {"train_acc", train_acc}, {"test_acc", test_acc}});
    progress.update(epoch, 0, fmt::format("test {:.2f}%", test_acc));
    if (log && (epoch % 5 == 0 || epoch == cfg.epochs))
      log(fmt::format("probe epoch {}/{} loss {:.4f} train {:.2f}% test {:.2f}%", epoch,
                      cfg.epochs, loss_sum / spe, train_acc, test_acc));
  }
  res.top1 = res.curve.empty() ? 0 : res.curve.back()[3];
  if (classes > 5) res.top5 = accuracy(head, test_x, test_y, 5);
  return res;
}

}  // namespace ldae
