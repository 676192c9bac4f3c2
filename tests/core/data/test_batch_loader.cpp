// The batch loader (core/data/batch_loader.hpp) against the resident path:
// the same images in the same order, a rank's share of each batch, and a
// resumed loader mid-epoch, whatever its threads and depth.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/data/batch_loader.hpp"
#include "core/data/prepared_store.hpp"
#include "tests/core/base/temp_dir.hpp"

namespace ldae {
namespace {
namespace fs = std::filesystem;

// 37 training images of (3, 4, 4), image i filled with i, label i % 5.
struct Fixture {
  fs::path dir = fs::path(test::temp_dir("loader")) / "store";  // its lock beside it, inside
  StoreManifest m;
  ImageSet resident;
  Fixture() {
    StoreSource src;
    for (int i = 0; i < 37; ++i) src.train.push_back({std::to_string(i), i % 5});
    src.test.push_back({"0", 0});
    src.classes = 5;
    auto decode = [](const std::string& name) {
      ImageSet one;
      one.n = 1, one.c = 3, one.h = 4, one.w = 4;
      one.pixels.assign(48, uint8_t(std::stoi(name)));
      return one;
    };
    m = prepare_store(src, dir.string(), 4, false, decode, 2, /*chunk_images=*/8);
    resident = read_store_split(dir.string(), m, "train");
  }
  ~Fixture() { fs::remove_all(dir.parent_path()); }
  // The resident path's batch: images[idx] (b, 3, 4, 4) and labels[idx].
  std::pair<torch::Tensor, torch::Tensor> expected(const torch::Tensor& idx) {
    auto all = torch::from_blob(resident.pixels.data(), {resident.n, 3, 4, 4}, torch::kUInt8);
    auto labels = torch::from_blob(resident.labels.data(), {resident.n}, torch::kLong);
    return {all.index_select(0, idx), labels.index_select(0, idx)};
  }
};

TEST(BatchLoader, StreamsTheBatchesTheResidentPathTakes) {
  Fixture f;
  const ImageSet reader = open_store_split(f.dir.string(), f.m, "train");
  ASSERT_EQ(reader.n, 37);
  // 4 steps an epoch of 8: three epochs, so the permutation changes twice.
  EpochOrder reference(37, 8, 4, /*seed=*/5);
  BatchLoader loader(reader, EpochOrder(37, 8, 4, 5), 0, 8, 0, /*threads=*/3, /*depth=*/2, false);
  for (int64_t step = 0; step < 12; ++step) {
    auto b = loader.next();
    const auto idx = reference.batch(step, 0, 8).first;
    ASSERT_EQ(b.step, step);
    EXPECT_TRUE(torch::equal(b.idx, idx)) << step;
    auto [images, labels] = f.expected(idx);
    EXPECT_TRUE(torch::equal(b.images, images)) << step;
    EXPECT_TRUE(torch::equal(b.labels, labels)) << step;
  }
}

TEST(BatchLoader, RanksReadTheirSharesAndAResumedLoaderContinuesMidEpoch) {
  Fixture f;
  const ImageSet reader = open_store_split(f.dir.string(), f.m, "train");
  BatchLoader whole(reader, EpochOrder(37, 8, 4, 9), 0, 8, 0, 2, 3, false);
  BatchLoader rank0(reader, EpochOrder(37, 8, 4, 9), 0, 4, 0, 1, 1, false);
  BatchLoader rank1(reader, EpochOrder(37, 8, 4, 9), 4, 4, 0, 2, 4, false);
  std::vector<BatchLoader::Batch> seen;
  for (int64_t step = 0; step < 8; ++step) {
    auto w = whole.next(), a = rank0.next(), b = rank1.next();
    EXPECT_TRUE(torch::equal(torch::cat({a.images, b.images}), w.images)) << step;
    EXPECT_TRUE(torch::equal(torch::cat({a.labels, b.labels}), w.labels)) << step;
    seen.push_back(w);
  }
  // Resumed at step 5 (mid-epoch 1): steps 5, 6, 7 as before.
  BatchLoader resumed(reader, EpochOrder(37, 8, 4, 9), 0, 8, 5, 2, 2, false);
  for (int64_t step = 5; step < 8; ++step) {
    auto r = resumed.next();
    EXPECT_EQ(r.step, step);
    EXPECT_TRUE(torch::equal(r.images, seen[size_t(step)].images)) << step;
  }
}

TEST(BatchLoader, ReadsNothingFromItsEndStepOn) {
  Fixture f;
  const ImageSet reader = open_store_split(f.dir.string(), f.m, "train");
  // Step 0's share of 2 images lies in at most 2 of the 5 chunks: the others
  // are deleted, so a loader reading ahead past its end step would fail.
  const auto idx = EpochOrder(37, 8, 4, 5).batch(0, 0, 2).first;
  std::set<int64_t> needed;
  for (int64_t r = 0; r < 2; ++r) needed.insert(idx[r].item<int64_t>() / 8);
  for (int64_t chunk = 0; chunk < 5; ++chunk)
    if (!needed.count(chunk)) fs::remove(store_chunk_path(f.dir.string(), "train", chunk));
  BatchLoader loader(reader, EpochOrder(37, 8, 4, 5), 0, 2, 0, /*threads=*/3, /*depth=*/4, false, /*end_step=*/1);
  auto b = loader.next();
  EXPECT_TRUE(torch::equal(b.images, f.expected(idx).first));
  EXPECT_THROW(loader.next(), std::out_of_range);
}

TEST(BatchLoader, AMissingChunkIsAnInputErrorNamingIt) {
  Fixture f;
  const ImageSet reader = open_store_split(f.dir.string(), f.m, "train");
  fs::remove(f.dir / "train-00002.chunk");
  BatchLoader loader(reader, EpochOrder(37, 37, 1, 0), 0, 37, 0, 2, 1, false);
  try {
    loader.next();
    FAIL() << "a missing chunk was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train-00002.chunk"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ldae
