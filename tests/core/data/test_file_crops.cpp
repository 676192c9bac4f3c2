// Crops cut from the original files (data.crops_from = "files";
// core/data/source_files.hpp, read_crops in core/data/image_source.hpp):
// each crop is its image's file decoded whole, then cropped and resized as
// crops from the store are; files map to the store's images past the ones
// preparation skipped; the key is checked and stays out of ids and cache
// names at its default.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/base/errors.hpp"
#include "core/base/seeds.hpp"
#include "core/config/config.hpp"
#include "core/data/data.hpp"
#include "core/data/image_source.hpp"
#include "core/data/source_files.hpp"
#include "core/data/whole_crop.hpp"
#include "core/run/run_stages.hpp"
#include "tests/core/base/input_error_of.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/data/image_files.hpp"

namespace ldae {
namespace {
namespace fs = std::filesystem;

// A w x h JPEG whose pixels vary along both axes (salt: another pattern).
void write_photo(const fs::path& path, int w, int h, int salt) {
  std::vector<uint8_t> px(size_t(w) * size_t(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[(size_t(y) * w + x) * 3 + c] = uint8_t((x * (3 + salt) + y * (5 + c) + salt * 40) % 256);
  test_images::write_jpeg_pixels(path.string(), w, h, 3, px, JCS_RGB, JCS_YCbCr, -1, 95);
}

// train/a: big.jpg, wide.jpg; train/b: broken.jpg (skipped), tall.jpg; one
// image per val class.
void make_folder(const fs::path& root) {
  for (const char* dir : {"train/a", "train/b", "val/a", "val/b"}) fs::create_directories(root / dir);
  write_photo(root / "train/a/big.jpg", 120, 90, 1);
  write_photo(root / "train/a/wide.jpg", 200, 50, 2);
  std::ofstream(root / "train/b/broken.jpg", std::ios::binary) << "\xFF\xD8\xFF\xE0 not a JPEG";
  write_photo(root / "train/b/tall.jpg", 40, 100, 3);
  write_photo(root / "val/a/v.jpg", 30, 30, 4);
  write_photo(root / "val/b/w.jpg", 30, 40, 5);
}

Dataset load(const fs::path& root, const std::string& crops_from) {
  DataConfig c;
  c.name = "image_folder", c.path = root.string(), c.pad = 0, c.resolution = 16;
  c.whole_images = true, c.skip_bad = true, c.crops_from = crops_from;
  return load_dataset(c, LoadContext{0, (root / "cache").string()});
}

TEST(FileCrops, AreEachFileDecodedWholeThenCroppedAsFromTheStore) {
  const auto root = fs::path(test::temp_dir("file-crops"));
  make_folder(root);
  const Dataset d = load(root, "files");
  ASSERT_TRUE(d.train.files);
  ASSERT_EQ(d.train.n, 3);
  ASSERT_EQ(d.train.files->size(), 3);
  EXPECT_EQ(d.train.files->path(0), (root / "train/a/big.jpg").string());
  EXPECT_EQ(d.train.files->path(1), (root / "train/a/wide.jpg").string());
  EXPECT_EQ(d.train.files->path(2), (root / "train/b/tall.jpg").string());  // broken.jpg was skipped
  EXPECT_FALSE(d.test.files);  // test images are read as prepared (centre)
  const auto idx = torch::tensor({2, 0, 1, 0}, torch::kLong);
  const uint64_t seed = 1234;
  const auto got = read_crops(d.train, idx, 0.08, 1.0, 16, seed, /*first=*/5);
  auto want = torch::empty({4, 3, 16, 16}, torch::kUInt8);
  for (int r = 0; r < 4; ++r) {
    const ImageSet im = decode_image(d.train.files->path(idx[r].item<int64_t>()));
    CropDraws draws(step_seed(seed, uint64_t(5 + r)));
    const CropBox box = draw_crop_box(im.h, im.w, 0.08, 1.0, draws);
    pil_bicubic_resized_crop(im.pixels.data(), 3, im.h, im.w, box, 16, 16, want[r].data_ptr<uint8_t>());
  }
  EXPECT_TRUE(torch::equal(got, want));
  // The same store (data.crops_from is not in its key), whose crops are cut
  // from the images as prepared: other pixels; centre reads the same.
  const Dataset stored = load(root, "store");
  EXPECT_FALSE(stored.train.files);
  int stores = 0;
  for (const auto& e : fs::directory_iterator(root / "cache/prepared")) stores += e.is_directory();
  EXPECT_EQ(stores, 1);
  EXPECT_FALSE(torch::equal(read_crops(stored.train, idx, 0.08, 1.0, 16, seed, 5), got));
  EXPECT_TRUE(torch::equal(read_image_rows(stored.train, 0, 3), read_image_rows(d.train, 0, 3)));
  // A file gone after preparation: its crop is an error naming it and the key.
  fs::remove(root / "train/b/tall.jpg");
  const std::string e = test::input_error_of([&] { read_crops(d.train, idx, 0.08, 1.0, 16, seed); });
  EXPECT_NE(e.find("tall.jpg"), std::string::npos) << e;
  EXPECT_NE(e.find("data.crops_from = \"files\" decodes each crop from its file"), std::string::npos) << e;
  EXPECT_NE(e.find("the store and the run ids stay as they are"), std::string::npos) << e;
  EXPECT_EQ(e.find("data.skip_bad"), std::string::npos) << e;  // it skips nothing at crop time
}

// A baseline's views of one step (DINO's ten) crop the same images: with
// `reuse` each file is decoded once, the later views cut from the originals
// kept: the crops of decoding each time, and no file read again (shown by
// removing the files: the same idx still crop, other idx fail naming one).
TEST(FileCrops, ViewsOfTheSameImagesDecodeEachFileOnce) {
  const auto root = fs::path(test::temp_dir("file-crops-reuse"));
  make_folder(root);
  const Dataset d = load(root, "files");
  const auto idx = torch::tensor({2, 0, 1, 0}, torch::kLong);
  DecodedRows reuse;
  const auto first = read_crops(d.train, idx, 0.08, 1.0, 16, 11, 0, 2, &reuse);
  EXPECT_TRUE(torch::equal(first, read_crops(d.train, idx, 0.08, 1.0, 16, 11, 0, 2)));
  ASSERT_EQ(reuse.images.size(), 4u);
  for (const auto& f : {"train/a/big.jpg", "train/a/wide.jpg", "train/b/tall.jpg"}) fs::remove(root / f);
  const auto global = read_crops(d.train, idx, 0.35, 1.0, 16, 12, 0, 2, &reuse);  // another view: other draws
  const auto local = read_crops(d.train, idx, 0.05, 0.35, 8, 13, 0, 1, &reuse);
  EXPECT_FALSE(torch::equal(global, first));
  EXPECT_EQ(local.sizes(), (std::vector<int64_t>{4, 3, 8, 8}));
  for (const auto& f : {"train/a/big.jpg", "train/a/wide.jpg", "train/b/tall.jpg"}) EXPECT_FALSE(fs::exists(root / f));
  // Other images (the next step's batch): decoded, so the missing file is named.
  const std::string e =
      test::input_error_of([&] { read_crops(d.train, torch::tensor({1, 2}, torch::kLong), 0.08, 1.0, 16, 14, 0, 2, &reuse); });
  EXPECT_NE(e.find(".jpg: "), std::string::npos) << e;
  // Each view equals the one decoded afresh (the files restored).
  make_folder(root);
  EXPECT_TRUE(torch::equal(global, read_crops(d.train, idx, 0.35, 1.0, 16, 12, 0, 2)));
  EXPECT_TRUE(torch::equal(local, read_crops(d.train, idx, 0.05, 0.35, 8, 13, 0, 1)));
}

TEST(FileCrops, ASkippingChunkWhoseFilesDecodeOtherwiseNowIsAnErrorNamingIt) {
  // The store counts the files it skipped, not which: they are found by
  // decoding the chunk's files again. A file that decoded then and does not
  // now (same size and time, so the same store) cannot be placed.
  const auto root = fs::path(test::temp_dir("file-crops-changed"));
  make_folder(root);
  load(root, "store");
  const auto big = root / "train/a/big.jpg";
  const auto size = fs::file_size(big);
  const auto mtime = fs::last_write_time(big);
  std::ofstream(big, std::ios::binary) << std::string(size, 'x');
  fs::last_write_time(big, mtime);
  const std::string e = test::input_error_of([&] { load(root, "files"); });
  EXPECT_NE(e.find("train-00000.chunk: kept 3 of its 4 files when it was prepared, but 2 of them decode now; the "
                   "first that does not: " + big.string()), std::string::npos) << e;
  EXPECT_NE(e.find("Make them readable, or restore them as they were"), std::string::npos) << e;
}

TEST(FileCrops, SourceFilesKeepPathsAfterTheirSharedFolder) {
  SourceFiles f("/data/imagenet/train");
  f.add("/data/imagenet/train/n01/a.JPEG");
  f.add("/data/imagenet/train/n02/bb.JPEG");
  EXPECT_EQ(f.size(), 2);
  EXPECT_EQ(f.path(0), "/data/imagenet/train/n01/a.JPEG");
  EXPECT_EQ(f.path(1), "/data/imagenet/train/n02/bb.JPEG");
  EXPECT_THROW(f.path(2), std::out_of_range);
  EXPECT_THROW(f.add("/elsewhere/c.JPEG"), std::invalid_argument);
}

TEST(FileCrops, TheKeyIsCheckedAndStaysOutOfIdsAndCachesAtItsDefault) {
  RunConfig c;
  EXPECT_EQ(canonical(c).find("crops_from"), std::string::npos);
  c.data.crops_from = "files";
  EXPECT_NE(canonical(c).find("data.crops_from = \"files\""), std::string::npos);
  EXPECT_EQ(data_cache_text(c), data_cache_text(RunConfig()));  // the tokenizer reads centre images
  std::string e = test::input_error_of([&] { validate(c, "row 1"); });
  EXPECT_NE(e.find("applies to image_folder"), std::string::npos) << e;
  c.data.name = "image_folder", c.data.path = "/data/x", c.data.resolution = 16, c.data.pad = 0;
  e = test::input_error_of([&] { validate(c, "row 1"); });
  EXPECT_NE(e.find("set data.whole_images = true with it"), std::string::npos) << e;
  c.data.whole_images = true;
  EXPECT_NO_THROW(validate(c, "row 1"));
}

}  // namespace
}  // namespace ldae
