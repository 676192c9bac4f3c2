// probes/finetune_batches.hpp: fine-tuning batches made ahead on a thread
// are the ones made inline; they follow the run's epoch order; a reader's
// error reaches the caller after the batches made before it.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "core/data/epoch_order.hpp"
#include "probes/finetune_batches.hpp"

namespace ldae {
namespace {

struct Images {
  torch::Tensor pixels, labels;  // (N, 3, 16, 16) in [-1, 1]; (N,) = 0 .. N - 1
  ImageBatches batches;
  explicit Images(int64_t n) {
    torch::manual_seed(3);
    pixels = torch::rand({n, 3, 16, 16}) * 2 - 1;
    labels = torch::arange(n, torch::kLong);
    batches = image_batches(pixels);
  }
};

EvalConfig mae_augment() {
  EvalConfig c;
  c.finetune_randaug_n = 2, c.finetune_randaug_m = 9, c.finetune_randaug_mstd = 0.5, c.finetune_reprob = 0.25;
  return c;
}

TEST(FinetuneBatches, MadeAheadOnAThreadEqualsMadeInline) {
  Images d(40);
  const int64_t B = 8, spe = 5, total = 12;  // into a third epoch
  FinetuneBatches inline_(d.batches, d.labels, true, mae_augment(), B, spe, total, 7, 0);
  FinetuneBatches ahead(d.batches, d.labels, true, mae_augment(), B, spe, total, 7, 3);
  EXPECT_FALSE(inline_.ahead());
  EXPECT_TRUE(ahead.ahead());
  for (int64_t s = 0; s < total; ++s) {
    auto a = inline_.next(), b = ahead.next();
    ASSERT_EQ(a.images.sizes(), (std::vector<int64_t>{B, 3, 16, 16}));
    EXPECT_TRUE(torch::equal(a.images, b.images)) << "step " << s;
    EXPECT_TRUE(torch::equal(a.labels, b.labels)) << "step " << s;
  }
  EXPECT_THROW(inline_.next(), std::out_of_range);
  EXPECT_THROW(ahead.next(), std::out_of_range);
}

TEST(FinetuneBatches, FollowTheEpochOrderAndDrawPerStep) {
  Images d(40);
  const int64_t B = 8, spe = 5;
  FinetuneBatches made(d.batches, d.labels, true, mae_augment(), B, spe, 10, 7, 2);
  EpochOrder order(40, B, spe, 7);
  std::vector<torch::Tensor> imgs;
  for (int64_t s = 0; s < 10; ++s) {
    auto b = made.next();
    EXPECT_TRUE(torch::equal(b.labels, order.batch(s, 0, B).first)) << "step " << s;  // labels are indices
    imgs.push_back(b.images);
  }
  // The same images at another seed are augmented otherwise; a step's
  // augmentation is not a copy of another step's.
  FinetuneBatches other(d.batches, d.labels, true, mae_augment(), B, spe, 1, 8, 0);
  EXPECT_FALSE(torch::equal(other.next().images, imgs[0]));
  // Augmented: not the stored pixels, mostly in range (erased pixels may leave it).
  auto idx = order.batch(0, 0, B).first;
  EXPECT_FALSE(torch::allclose(imgs[0], d.pixels.index_select(0, idx)));
  EXPECT_GT((imgs[0].abs() <= 1.0001).to(torch::kFloat32).mean().item<double>(), 0.9);
}

TEST(FinetuneBatches, AReadersErrorComesAfterTheBatchesBeforeIt) {
  Images d(40);
  ImageBatches failing = d.batches;
  auto calls = std::make_shared<std::atomic<int>>(0);
  failing.read = [read = d.batches.read, calls](const torch::Tensor& idx) {
    if (++*calls == 3) throw std::runtime_error("disk gone at the third batch");
    return read(idx);
  };
  for (int ahead : {0, 2}) {
    *calls = 0;
    FinetuneBatches made(failing, d.labels, true, mae_augment(), 8, 5, 5, 7, ahead);
    made.next();
    made.next();
    try {
      made.next();
      ADD_FAILURE() << "no error at the third batch (ahead " << ahead << ")";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "disk gone at the third batch");
    }
  }
}

TEST(FinetuneBatches, LeavingEarlyStopsTheThread) {
  // Destroyed with its thread waiting on a full queue: joins, no hang.
  Images d(40);
  FinetuneBatches made(d.batches, d.labels, true, mae_augment(), 8, 5, 1000, 7, 2);
  made.next();
}

}  // namespace
}  // namespace ldae
