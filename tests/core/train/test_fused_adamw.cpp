// FusedAdamW (core/train/fused_adamw.hpp): LibTorch's fused AdamW kernel behind
// the C++ frontend's optimizer interface. Checked against a hand-computed
// step, against torch::optim::AdamW over several steps, and for archive
// compatibility both ways.
#include <gtest/gtest.h>

#include <cmath>

#include "core/train/fused_adamw.hpp"

using namespace ldae;

TEST(FusedAdamW, OneStepByHand) {
  // p = 1, g = 0.5, lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8:
  // m = 0.05, v = 0.00025; bias-corrected m^ = 0.5, v^ = 0.25;
  // p <- p (1 - lr wd) - lr m^ / (sqrt(v^) + eps) = 0.999 - 0.1 * 0.5 / 0.50000001.
  auto p = torch::ones({1}, torch::requires_grad());
  FusedAdamW opt({p}, torch::optim::AdamWOptions(0.1).weight_decay(0.01));
  p.mutable_grad() = torch::full({1}, 0.5);
  opt.step();
  EXPECT_NEAR(p.item<double>(), 0.999 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-7);
  const auto& s = static_cast<const torch::optim::AdamWParamState&>(*opt.state().at(p.unsafeGetTensorImpl()));
  EXPECT_EQ(s.step(), 1);
  EXPECT_NEAR(s.exp_avg().item<double>(), 0.05, 1e-9);
  EXPECT_NEAR(s.exp_avg_sq().item<double>(), 0.00025, 1e-10);
}

namespace {
// Two copies of a small model, one per optimizer, stepped on the same
// gradients for `steps` steps with a changing lr; params without a gradient
// are skipped by both.
struct Pair {
  std::vector<torch::Tensor> a, b;
};
Pair twins() {
  torch::manual_seed(3);
  Pair p;
  for (auto shape : {std::vector<int64_t>{7, 5}, {5}, {3, 3}}) {
    auto w = torch::randn(shape);
    p.a.push_back(w.clone().requires_grad_());
    p.b.push_back(w.clone().requires_grad_());
  }
  return p;
}
void grads(Pair& p, int step) {
  torch::manual_seed(100 + step);
  for (size_t k = 0; k < p.a.size(); ++k) {
    if (k == 2 && step % 3 == 1) {  // no gradient this step
      p.a[k].mutable_grad() = torch::Tensor(), p.b[k].mutable_grad() = torch::Tensor();
      continue;
    }
    auto g = torch::randn(p.a[k].sizes());
    p.a[k].mutable_grad() = g.clone(), p.b[k].mutable_grad() = g.clone();
  }
}
const auto kOptions = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).weight_decay(0.05);
}  // namespace

TEST(FusedAdamW, MatchesLibTorchAdamWToFloatRounding) {
  Pair p = twins();
  torch::optim::AdamW ref(p.a, kOptions);
  FusedAdamW fused(p.b, kOptions);
  for (int step = 0; step < 8; ++step) {
    grads(p, step);
    for (auto* o : std::initializer_list<torch::optim::Optimizer*>{&ref, &fused})
      for (auto& g : o->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(1e-2 / (1 + step));
    ref.step();
    fused.step();
  }
  for (size_t k = 0; k < p.a.size(); ++k) {
    EXPECT_TRUE(torch::allclose(p.a[k], p.b[k], 1e-5, 1e-6)) << "parameter " << k << " differs by "
                                                             << (p.a[k] - p.b[k]).abs().max().item<float>();
    const auto& sa = static_cast<const torch::optim::AdamWParamState&>(*ref.state().at(p.a[k].unsafeGetTensorImpl()));
    const auto& sb = static_cast<const torch::optim::AdamWParamState&>(*fused.state().at(p.b[k].unsafeGetTensorImpl()));
    EXPECT_EQ(sa.step(), sb.step()) << k;  // parameter 2 skipped its gradient-less steps in both
    EXPECT_TRUE(torch::allclose(sa.exp_avg_sq(), sb.exp_avg_sq(), 1e-5, 1e-9)) << k;
  }
}

TEST(FusedAdamW, ArchivesLoadEitherWayAndResumeExactly) {
  // Fused, saved after 4 steps, loaded into a fresh fused optimizer (and
  // into the frontend's AdamW): 4 more steps equal an uninterrupted run.
  Pair p = twins(), q = twins();
  FusedAdamW straight(p.a, kOptions);
  FusedAdamW first(q.a, kOptions);
  for (int step = 0; step < 4; ++step) {
    grads(p, step), grads(q, step);
    straight.step(), first.step();
  }
  torch::serialize::OutputArchive out;
  first.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  for (size_t k = 0; k < q.a.size(); ++k) {
    torch::NoGradGuard ng;
    q.b[k].copy_(q.a[k]);
  }
  torch::serialize::InputArchive in, in2;
  std::istringstream is(bytes.str()), is2(bytes.str());
  in.load_from(is);
  in2.load_from(is2);
  FusedAdamW resumed(q.b, kOptions);
  resumed.load(in);
  torch::optim::AdamW frontend(q.a, kOptions);  // q.a continues under the frontend's AdamW
  frontend.load(in2);
  for (int step = 4; step < 8; ++step) {
    grads(p, step), grads(q, step);
    straight.step(), resumed.step(), frontend.step();
  }
  for (size_t k = 0; k < p.a.size(); ++k) {
    EXPECT_TRUE(torch::equal(p.a[k], q.b[k])) << "parameter " << k;
    EXPECT_TRUE(torch::allclose(p.a[k], q.a[k], 1e-5, 1e-6)) << "parameter " << k;
  }
}
