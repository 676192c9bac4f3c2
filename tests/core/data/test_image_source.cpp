// Streamed splits (core/data/image_source.hpp): read from the prepared store
// they are the resident images, bit for bit, by index, by rows, as subsets,
// in the dataset's fingerprint and as float; the residency rule.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/data/image_source.hpp"
#include "core/data/prepared_store.hpp"
#include "tests/core/base/temp_dir.hpp"

namespace ldae {
namespace {
namespace fs = std::filesystem;

// 3 x 5 x 5 images (75 bytes: not a multiple of the fingerprint's 8-byte
// words) whose every pixel depends on the file and its place.
ImageSet patterned(const std::string& name) {
  ImageSet one;
  one.n = 1, one.c = 3, one.h = 5, one.w = 5;
  for (int i = 0; i < 75; ++i) one.pixels.push_back(uint8_t(std::stoi(name) * 31 + i * 7));
  return one;
}

struct PatternStore {
  std::string dir;
  StoreManifest m;
};

PatternStore make_store(const std::string& tag) {
  StoreSource src;
  for (int i = 0; i < 23; ++i) src.train.push_back({std::to_string(i), i % 4});
  for (int i = 23; i < 30; ++i) src.test.push_back({std::to_string(i), i % 4});
  src.classes = 4;
  const auto dir = fs::path(test::temp_dir("source-" + tag)) / "store";  // its lock beside it
  PatternStore s{dir.string(), {}};
  s.m = prepare_store(src, s.dir, 5, false, patterned, 2, /*chunk_images=*/4);
  return s;
}

torch::Tensor resident_tensor(const ImageSet& s) {
  return torch::from_blob(const_cast<uint8_t*>(s.pixels.data()), {s.n, s.c, s.h, s.w}, torch::kUInt8).clone();
}

TEST(ImageSource, AStreamedSplitReadsTheResidentImagesByIndexAndRows) {
  const auto st = make_store("read");
  const ImageSet resident = read_store_split(st.dir, st.m, "train");
  const ImageSet streamed = open_store_split(st.dir, st.m, "train");
  ASSERT_TRUE(streamed.streamed());
  EXPECT_TRUE(streamed.pixels.empty());
  EXPECT_EQ(streamed.labels, resident.labels);
  const auto all = resident_tensor(resident);
  auto idx = torch::tensor({22, 0, 5, 5, 13}, torch::kLong);
  for (int threads : {1, 3}) {
    EXPECT_TRUE(torch::equal(read_images(streamed, idx, threads), all.index_select(0, idx)));
    EXPECT_TRUE(torch::equal(read_images(resident, idx, threads), all.index_select(0, idx)));
  }
  EXPECT_TRUE(torch::equal(read_image_rows(streamed, 3, 11), all.slice(0, 3, 11)));
  EXPECT_THROW(read_images(streamed, torch::tensor({23}, torch::kLong)), std::out_of_range);
  const ImageSet back = make_resident(streamed);
  EXPECT_EQ(back.pixels, resident.pixels);
  EXPECT_FALSE(back.streamed());
  fs::remove_all(st.dir);
}

TEST(ImageSource, SubsetsFingerprintsAndFloatsAgreeWithResidentOnes) {
  const auto st = make_store("subset");
  Dataset res, str;
  res.classes = str.classes = 4;
  res.train = read_store_split(st.dir, st.m, "train"), res.test = read_store_split(st.dir, st.m, "test");
  str.train = open_store_split(st.dir, st.m, "train"), str.test = open_store_split(st.dir, st.m, "test");
  EXPECT_EQ(dataset_fingerprint(str), dataset_fingerprint(res));
  // A subset of a subset: rows compose.
  const ImageSet a = take_subset(take_subset(res.train, 15, "random", 3), 6, "random", 4);
  const ImageSet b = take_subset(take_subset(str.train, 15, "random", 3), 6, "random", 4);
  ASSERT_TRUE(b.streamed());
  EXPECT_EQ(make_resident(b).pixels, a.pixels);
  EXPECT_EQ(b.labels, a.labels);
  // One changed pixel changes the streamed fingerprint as the resident one.
  Dataset other = res;
  other.test.pixels[40] ^= 1;
  EXPECT_NE(dataset_fingerprint(other), dataset_fingerprint(str));
  // Float batches are the rows of the whole set converted at once.
  const auto whole = images_to_float(resident_tensor(res.train), true);
  const auto batches = image_batches(str.train, true);
  auto idx = torch::tensor({4, 17, 2}, torch::kLong);
  EXPECT_TRUE(torch::equal(batches.read(idx), whole.index_select(0, idx)));
  EXPECT_TRUE(torch::equal(batches.rows(5, 9), whole.slice(0, 5, 9)));
  EXPECT_EQ(batches.n, 23);
  fs::remove_all(st.dir);
}

TEST(ImageSource, ADatasetIsResidentWhenItsFloatCopyFitsTheBudget) {
  Dataset d;
  d.train.n = 1000, d.train.c = 3, d.train.h = d.train.w = 256;  // 786 MB as float32
  d.test = d.train;
  DataConfig c;
  EXPECT_DOUBLE_EQ(float_bytes(d), 2.0 * 1000 * 3 * 256 * 256 * 4);
  c.resident_max_gb = 1.5;
  EXPECT_TRUE(fits_resident(d, c));  // 1.46 GiB
  c.resident_max_gb = 1.4;
  EXPECT_FALSE(fits_resident(d, c));
  c.resident_max_gb = 0;
  EXPECT_FALSE(fits_resident(d, c));
}

}  // namespace
}  // namespace ldae
