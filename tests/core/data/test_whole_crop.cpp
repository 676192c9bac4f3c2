// Crops cut from whole images (data.whole_images; core/data/whole_crop.hpp,
// read_crops in core/data/image_source.hpp): Pillow's bicubic resize to the
// byte, torchvision's crop rules, a store of whole images whose centre
// reads are a centre-crop store's pixels, and crops seeded per image.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include "core/base/errors.hpp"
#include "core/base/seeds.hpp"
#include "core/data/batch_loader.hpp"
#include "core/data/data.hpp"
#include "core/data/image_source.hpp"
#include "core/data/prepared_store.hpp"
#include "core/data/whole_crop.hpp"
#include "core/records/h5.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/data/chunk_files.hpp"

namespace ldae {
namespace {
namespace fs = std::filesystem;

// torchvision's resized_crop on PIL images, bicubic, then hflip where asked
// (pil_resized_crop.py wrote the file): equal byte for byte.
TEST(WholeCrop, MatchesPillowsBicubicResizedCrop) {
  H5File f(std::string(LDAE_SOURCE_DIR) + "/tests/core/data/pil_resized_crop.h5", H5File::Mode::Read);
  const int64_t cases = f.attr_i64("cases");
  ASSERT_EQ(cases, 13);
  for (int64_t k = 0; k < cases; ++k) {
    const std::string g = "case" + std::to_string(k);
    std::vector<uint64_t> in_shape, out_shape;
    const auto image = f.read_u8(g + "/image", &in_shape);
    const auto want = f.read_u8(g + "/out", &out_shape);
    const auto b = f.read_i64(g + "/box");
    const CropBox box{int(b[0]), int(b[1]), int(b[2]), int(b[3]), b[4] != 0};
    std::vector<uint8_t> got(want.size());
    pil_bicubic_resized_crop(image.data(), int(in_shape[0]), int(in_shape[1]), int(in_shape[2]), box,
                             int(out_shape[1]), int(out_shape[2]), got.data());
    int differ = 0;
    for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
    EXPECT_EQ(differ, 0) << g << ": " << differ << " of " << got.size() << " samples differ from Pillow's";
  }
}

TEST(WholeCrop, BoxesFollowTorchvisionsRules) {
  // 1 x 100: no try fits (a side of 1 admits only areas near 1), so the
  // centre crop with its ratio clamped to 4/3: height 1, width round(4/3) = 1.
  CropDraws thin(7);
  const CropBox c = draw_crop_box(1, 100, 0.08, 1.0, thin);
  EXPECT_EQ(c.top, 0);
  EXPECT_EQ(c.left, 49);
  EXPECT_EQ(c.height, 1);
  EXPECT_EQ(c.width, 1);
  // 300 x 400 at scale 1: only ratio 4/3 fits, so nearly always the whole image.
  CropDraws all(3);
  const CropBox whole = draw_crop_box(300, 400, 1.0, 1.0, all);
  EXPECT_EQ(whole.height, 300);
  EXPECT_NEAR(whole.width, 400, 1);  // a try with a ratio within 0.3% of 4/3 fits too
  // Every box inside the image, its area within the scale range (rounding
  // aside) and its ratio within [3/4, 4/3]; half of them flipped.
  CropDraws d(11);
  int flips = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const CropBox b = draw_crop_box(256, 341, 0.2, 1.0, d);
    ASSERT_GE(b.top, 0);
    ASSERT_GE(b.left, 0);
    ASSERT_LE(b.top + b.height, 256);
    ASSERT_LE(b.left + b.width, 341);
    const double area = double(b.height) * b.width / (256.0 * 341.0), ratio = double(b.width) / b.height;
    EXPECT_GT(area, 0.19);
    EXPECT_LE(area, 1.0);
    EXPECT_GT(ratio, 0.74);
    EXPECT_LT(ratio, 1.35);
    flips += b.flip;
  }
  EXPECT_NEAR(double(flips) / n, 0.5, 0.03);
  // Seeded: the same seed, the same boxes.
  CropDraws a(99), a2(99);
  for (int i = 0; i < 5; ++i) {
    const CropBox x = draw_crop_box(64, 80, 0.08, 1.0, a), y = draw_crop_box(64, 80, 0.08, 1.0, a2);
    EXPECT_EQ(x.top, y.top);
    EXPECT_EQ(x.left, y.left);
    EXPECT_EQ(x.height, y.height);
    EXPECT_EQ(x.width, y.width);
    EXPECT_EQ(x.flip, y.flip);
  }
}

// Whole "decoded" images of file i: 3 x 6 x (6 + i % 5), or tall for every
// third file, every pixel depending on the file and its place.
ImageSet whole_of(const std::string& name) {
  const int i = std::stoi(name);
  ImageSet one;
  one.n = 1, one.c = 3;
  one.h = i % 3 == 0 ? 6 + i % 4 : 6;
  one.w = i % 3 == 0 ? 6 : 6 + i % 5;
  for (int k = 0; k < 3 * one.h * one.w; ++k) one.pixels.push_back(uint8_t(i * 37 + k * 11));
  return one;
}
// Its centre 6 x 6, as resize_center_crop cuts one.
ImageSet centre_of(const std::string& name) {
  const ImageSet w = whole_of(name);
  ImageSet one;
  one.n = 1, one.c = 3, one.h = 6, one.w = 6;
  const int y0 = (w.h - 6) / 2, x0 = (w.w - 6) / 2;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) one.pixels.push_back(w.pixels[size_t((c * w.h + y0 + y) * w.w + x0 + x)]);
  return one;
}

struct Stores {
  std::string whole, centre;
  StoreManifest mw, mc;
};

Stores make_stores(const std::string& tag) {
  StoreSource src;
  for (int i = 0; i < 13; ++i) src.train.push_back({std::to_string(i), i % 3});
  for (int i = 13; i < 17; ++i) src.test.push_back({std::to_string(i), i % 3});
  src.classes = 3;
  const auto base = fs::path(test::temp_dir("whole-" + tag));
  Stores s{(base / "whole").string(), (base / "centre").string(), {}, {}};
  s.mw = prepare_store(src, s.whole, 6, false, whole_of, 2, /*chunk_images=*/4, /*whole=*/true);
  s.mc = prepare_store(src, s.centre, 6, false, centre_of, 2, /*chunk_images=*/4);
  return s;
}

TEST(WholeStore, CentreReadsAreACentreCropStoresPixelsBitForBit) {
  const auto st = make_stores("centre");
  EXPECT_TRUE(st.mw.whole);
  EXPECT_FALSE(st.mc.whole);
  StoreManifest again;
  ASSERT_TRUE(read_store_manifest(st.whole, &again));
  EXPECT_TRUE(again.whole);
  for (const char* split : {"train", "test"}) {
    const ImageSet w = read_store_split(st.whole, st.mw, split), c = read_store_split(st.centre, st.mc, split);
    EXPECT_EQ(w.pixels, c.pixels) << split;
    EXPECT_EQ(w.labels, c.labels) << split;
    const ImageSet ws = open_store_split(st.whole, st.mw, split);
    EXPECT_TRUE(ws.whole);
    EXPECT_EQ(ws.h, 6);
    EXPECT_TRUE(torch::equal(read_image_rows(ws, 0, ws.n, 3), read_image_rows(c, 0, c.n)));
  }
  // The whole image itself, as decoded.
  const ImageSet ws = open_store_split(st.whole, st.mw, "train");
  const auto rows = read_whole_rows(ws, 0, ws.n, 3);
  ASSERT_EQ(int64_t(rows.size()), int64_t(ws.n));
  for (int i : {0, 4, 12}) {
    const ImageSet want = whole_of(std::to_string(i));
    EXPECT_EQ(rows[size_t(i)].h, want.h);
    EXPECT_EQ(rows[size_t(i)].w, want.w);
    EXPECT_EQ(rows[size_t(i)].pixels, want.pixels) << i;
  }
  // A store of centre crops has no whole images to crop.
  const ImageSet cs = open_store_split(st.centre, st.mc, "train");
  EXPECT_THROW(read_crops(cs, torch::tensor({0}, torch::kLong), 0.2, 1.0, 0, 1), std::logic_error);
  fs::remove_all(fs::path(st.whole).parent_path());
}

TEST(WholeStore, CropsAreSeededPerImageSoRanksDrawAsOneProcess) {
  const auto st = make_stores("crops");
  const ImageSet ws = open_store_split(st.whole, st.mw, "train");
  const auto idx = torch::tensor({12, 0, 5, 5, 9, 3, 1}, torch::kLong);
  const auto all = read_crops(ws, idx, 0.2, 1.0, 0, 77);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{7, 3, 6, 6}));
  EXPECT_TRUE(torch::equal(all, read_crops(ws, idx, 0.2, 1.0, 0, 77, 0, /*threads=*/3)));
  // Two ranks, each its share with its offset: the same crops.
  const auto a = read_crops(ws, idx.slice(0, 0, 3), 0.2, 1.0, 0, 77, 0);
  const auto b = read_crops(ws, idx.slice(0, 3, 7), 0.2, 1.0, 0, 77, 3);
  EXPECT_TRUE(torch::equal(all, torch::cat({a, b})));
  EXPECT_FALSE(torch::equal(all, read_crops(ws, idx, 0.2, 1.0, 0, 78)));
  // Image k's crop is its own draw, resized as Pillow does.
  const WholeImage nine = read_whole_rows(ws, 9, 10)[0];
  const int h = nine.h, w = nine.w;
  const std::vector<uint8_t>& px = nine.pixels;
  CropDraws draws(step_seed(77, 4));
  const CropBox box = draw_crop_box(h, w, 0.2, 1.0, draws);
  std::vector<uint8_t> want(3 * 10 * 10);
  pil_bicubic_resized_crop(px.data(), 3, h, w, box, 10, 10, want.data());
  const auto side10 = read_crops(ws, idx, 0.2, 1.0, 10, 77);
  EXPECT_TRUE(torch::equal(side10[4].flatten(), torch::tensor(std::vector<int64_t>(want.begin(), want.end()))
                                                    .to(torch::kUInt8)));
  // crop_images: one draw of the global generator seeds the batch.
  const ImageBatches batches = image_batches(ws, true);
  EXPECT_TRUE(batches.whole);
  torch::manual_seed(5);
  const auto x = crop_images(batches, idx, 0.2, 1.0, 0, torch::kCPU);
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(x, crop_images(batches, idx, 0.2, 1.0, 0, torch::kCPU)));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{7, 3, 6, 6}));
  EXPECT_GE(x.min().item<float>(), -1.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
  fs::remove_all(fs::path(st.whole).parent_path());
}

// The probe's view cuts a batch's crops in chunks, the next chunk on a
// background thread: the chunks are those of crop_images called chunk by
// chunk (the seeds drawn in the same order), in order; a cut's error
// reaches the caller; a set without whole images crops each chunk in turn.
TEST(WholeStore, CropChunksCutAheadAreTheChunkByChunkCrops) {
  const auto st = make_stores("ahead");
  const ImageSet ws = open_store_split(st.whole, st.mw, "train");
  const ImageBatches batches = image_batches(ws, true);
  const auto idx = torch::tensor({12, 0, 5, 5, 9, 3, 1, 7, 2, 11, 4}, torch::kLong);
  for (int64_t rows : {3, 4, 11, 20}) {
    torch::manual_seed(9);
    std::vector<torch::Tensor> want;
    for (int64_t j = 0; j < idx.size(0); j += rows)
      want.push_back(crop_images(batches, idx.slice(0, j, j + rows), 0.08, 1.0, 0, torch::kCPU));
    const auto after_want = torch::rand({1});
    torch::manual_seed(9);
    std::vector<torch::Tensor> got;
    for_each_crop_chunk(batches, idx, rows, 0.08, 1.0, torch::kCPU,
                        [&](const torch::Tensor& c) { got.push_back(c); });
    ASSERT_EQ(got.size(), want.size()) << rows << " rows a chunk";
    for (size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(torch::equal(got[k], want[k])) << "chunk " << k;
    EXPECT_TRUE(torch::equal(torch::rand({1}), after_want)) << "the generator was left where chunk-by-chunk leaves it";
  }
  // Image 40 does not exist: the third chunk's cut fails, after two were used.
  int used = 0;
  EXPECT_THROW(for_each_crop_chunk(batches, torch::tensor({0, 1, 2, 3, 40, 5}, torch::kLong), 2, 0.2, 1.0,
                                   torch::kCPU, [&](const torch::Tensor&) { ++used; }),
               std::out_of_range);
  EXPECT_EQ(used, 2);
  // Centre images (no whole ones): crop_images per chunk, drawing as it does.
  const ImageSet cs = open_store_split(st.centre, st.mc, "train");  // outlives its batches
  const ImageBatches centre = image_batches(cs, true);
  EXPECT_FALSE(bool(centre.crop_with));
  torch::manual_seed(3);
  const auto a = crop_images(centre, idx.slice(0, 0, 6), 0.2, 1.0, 0, torch::kCPU);
  const auto b = crop_images(centre, idx.slice(0, 6, 11), 0.2, 1.0, 0, torch::kCPU);
  torch::manual_seed(3);
  std::vector<torch::Tensor> got;
  for_each_crop_chunk(centre, idx, 6, 0.2, 1.0, torch::kCPU, [&](const torch::Tensor& c) { got.push_back(c); });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(torch::equal(got[0], a) && torch::equal(got[1], b));
  fs::remove_all(fs::path(st.whole).parent_path());
}

// Pre-training's loader with whole-image crops: each step's batch is
// read_crops with the step's seed, and two ranks' shares put together are
// one process's batch, crop for crop.
TEST(WholeStore, TheLoadersCropsAreTheStepsAndRanksCropAsOneProcess) {
  const auto st = make_stores("loader");
  const ImageSet ws = open_store_split(st.whole, st.mw, "train");
  const BatchLoader::Crops crops{0.2, 1.0, 31, 2};
  BatchLoader one(ws, EpochOrder(13, 6, 2, 9), 0, 6, 0, 2, 2, false, 5, crops);
  BatchLoader rank0(ws, EpochOrder(13, 6, 2, 9), 0, 2, 0, 1, 2, false, 5, crops);
  BatchLoader rank1(ws, EpochOrder(13, 6, 2, 9), 2, 4, 0, 1, 2, false, 5, crops);
  for (int64_t step = 0; step < 5; ++step) {
    const auto b = one.next(), b0 = rank0.next(), b1 = rank1.next();
    EXPECT_TRUE(torch::equal(b.images, read_crops(ws, b.idx, 0.2, 1.0, 0, step_seed(31, uint64_t(step)))));
    EXPECT_TRUE(torch::equal(torch::cat({b0.idx, b1.idx}), b.idx)) << step;
    EXPECT_TRUE(torch::equal(torch::cat({b0.images, b1.images}), b.images)) << step;
  }
  fs::remove_all(fs::path(st.whole).parent_path());
}

// A panorama is kept whole up to kMaxWholeAspect x its shorter side, the
// centre part, whose centre square is the centre-crop store's.
TEST(WholeStore, APanoramaKeepsItsCentrePartAndItsCentreSquare) {
  for (const auto& [h, w] : {std::pair{6, 301}, std::pair{6, 300}, std::pair{251, 5}, std::pair{6, 40}}) {
    ImageSet im;
    im.n = 1, im.c = 3, im.h = h, im.w = w;
    for (int k = 0; k < 3 * h * w; ++k) im.pixels.push_back(uint8_t(k * 13 + k / 7));
    const int side = 3;
    const ImageSet whole = resize_whole(im, side), centre = resize_center_crop(im, side);
    EXPECT_EQ(std::min(whole.h, whole.w), side) << h << " x " << w;
    EXPECT_EQ(std::max(whole.h, whole.w), std::min(kMaxWholeAspect * side, std::max(resize_shorter_side(im, side).h,
                                                                                   resize_shorter_side(im, side).w)));
    std::vector<uint8_t> square;
    const int y0 = (whole.h - side) / 2, x0 = (whole.w - side) / 2;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) square.push_back(whole.pixels[size_t((c * whole.h + y0 + y) * whole.w + x0 + x)]);
    EXPECT_EQ(square, centre.pixels) << h << " x " << w;
  }
}

TEST(WholeStore, ADamagedChunkIsAnInputErrorNamingIt) {
  const auto st = make_stores("damaged");
  const std::string chunk = store_chunk_path(st.whole, "train", 1);
  {  // image 0's height listed as 9: no longer a shorter side of 6, nor the file's size
    std::fstream f(chunk, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kChunkHeaderBytes);
    const int32_t h = 9;
    f.write(reinterpret_cast<const char*>(&h), 4);
  }
  try {
    open_store_split(st.whole, st.mw, "train");
    FAIL() << "a damaged chunk was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(chunk), std::string::npos) << e.what();
  }
  fs::resize_file(store_chunk_path(st.whole, "test", 0), 100);  // cut short
  EXPECT_THROW(open_store_split(st.whole, st.mw, "test"), InputError);
  fs::remove_all(fs::path(st.whole).parent_path());
}

TEST(WholeStore, AFlippedPixelFailsCentreAndWholeReadsAndOldChunksStillRead) {
  const auto st = make_stores("checksums");
  const std::string chunk = store_chunk_path(st.whole, "train", 3);  // image 12 alone
  test::flip_byte(chunk, -1);  // a corner: outside the centre square read
  const ImageSet ws = open_store_split(st.whole, st.mw, "train");
  std::vector<uint8_t> px(3 * 6 * 6), whole;
  int64_t label = -1;
  int h = 0, w = 0;
  for (const auto& read : std::vector<std::function<void()>>{[&] { ws.store->read(12, px.data(), &label); },
                                                             [&] { ws.store->read_whole(12, &whole, &h, &w); }}) {
    try {
      read();
      FAIL() << "a damaged image was read";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(chunk + ": image 0 of this chunk fails its checksum"), std::string::npos)
          << e.what();
    }
  }
  // A chunk written before the checksums reads as it did (sides, labels, pixels).
  test::strip_checksums(store_chunk_path(st.whole, "train", 1), true);
  const ImageSet again = open_store_split(st.whole, st.mw, "train");
  for (int i = 4; i < 8; ++i) {
    again.store->read_whole(i, &whole, &h, &w);
    const ImageSet want = whole_of(std::to_string(i));
    EXPECT_EQ(whole, want.pixels) << i;
    EXPECT_EQ(h, want.h) << i;
    again.store->read(i, px.data(), &label);
    EXPECT_EQ(px, centre_of(std::to_string(i)).pixels) << i;
    EXPECT_EQ(label, i % 3) << i;
  }
  fs::remove_all(fs::path(st.whole).parent_path());
}

}  // namespace
}  // namespace ldae
