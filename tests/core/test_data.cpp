// IDX loading on files the test writes, its errors, padding and subsets.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>

#include "core/data.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}
std::vector<uint8_t> be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}
std::string make_idx_dir(int n, bool truncate) {
  auto dir = fs::temp_directory_path() / fmt::format("ldae-idx-{}-{}", getpid(), truncate);
  fs::create_directories(dir);
  for (const char* prefix : {"train", "t10k"}) {
    std::vector<uint8_t> img = be32(2051), lab = be32(2049);
    for (auto v : {be32(n), be32(4), be32(3)}) img.insert(img.end(), v.begin(), v.end());
    auto nl = be32(n);
    lab.insert(lab.end(), nl.begin(), nl.end());
    for (int i = 0; i < n * 12; ++i) img.push_back(uint8_t(i % 251));
    for (int i = 0; i < n; ++i) lab.push_back(uint8_t(i % 10));
    if (truncate) img.resize(img.size() - 5);
    write_gz((dir / fmt::format("{}-images-idx3-ubyte.gz", prefix)).string(), img);
    write_gz((dir / fmt::format("{}-labels-idx1-ubyte.gz", prefix)).string(), lab);
  }
  return dir.string();
}
}  // namespace

TEST(Data, ReadsIdxFiles) {
  DataConfig c;
  c.path = make_idx_dir(7, false);
  c.pad = 0;
  auto d = load_fashion_mnist(c);
  EXPECT_EQ(d.train.n, 7);
  EXPECT_EQ(d.train.h, 4);
  EXPECT_EQ(d.train.w, 3);
  EXPECT_EQ(d.train.pixels[13], 13);
  EXPECT_EQ(d.test.labels[6], 6);
}

TEST(Data, TruncatedAndMissingFilesNameThePathAndPackage) {
  DataConfig c;
  c.path = make_idx_dir(7, true);
  try {
    load_fashion_mnist(c);
    FAIL();
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("train-images-idx3-ubyte.gz"), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
    EXPECT_NE(m.find("dataset-fashion-mnist"), std::string::npos) << m;
  }
  c.path = "/nonexistent/fmnist";
  try {
    load_fashion_mnist(c);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fmnist/train-images"), std::string::npos);
  }
}

TEST(Data, PaddingAndSubsets) {
  ImageSet s;
  s.n = 3, s.c = 1, s.h = 2, s.w = 2;
  s.pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  s.labels = {0, 1, 2};
  auto p = pad_images(s, 1);
  EXPECT_EQ(p.h, 4);
  EXPECT_EQ(p.pixels[0], 0);
  EXPECT_EQ(p.pixels[5], 1);  // row 1, col 1
  EXPECT_EQ(p.pixels[16 + 10], 8);
  auto first = take_subset(s, 2, "first", 0);
  EXPECT_EQ(first.labels, (std::vector<int64_t>{0, 1}));
  auto r1 = take_subset(s, 2, "random", 4), r2 = take_subset(s, 2, "random", 4);
  EXPECT_EQ(r1.labels, r2.labels);  // seeded
  EXPECT_LT(r1.labels[0], r1.labels[1]);  // order kept
}

TEST(Data, FashionMnistPackageWhenInstalled) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed (make deps)";
  DataConfig c;
  c.test_subset = 100;
  c.subset = 100;
  auto d = load_dataset(c);
  EXPECT_EQ(d.train.h, 32);  // 28 + 2 x 2
  EXPECT_EQ(d.test.n, 100);
  EXPECT_EQ(d.classes, 10);
}
