// data.resize = "dit": DiT's center_crop_arr (core/data/center_crop_arr.hpp)
// against Pillow (pil_center_crop.py wrote the fixture), the decoder
// against Pillow's decode, and a prepared store of a folder under the rule.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/data/center_crop_arr.hpp"
#include "core/data/data.hpp"
#include "core/data/image_source.hpp"
#include "core/records/h5.hpp"
#include "tests/core/base/temp_dir.hpp"

namespace ldae {
namespace {
namespace fs = std::filesystem;

const std::string kFixture = std::string(LDAE_SOURCE_DIR) + "/tests/core/data/pil_center_crop.h5";

ImageSet read_image(const H5File& f, const std::string& name) {
  std::vector<uint64_t> shape;
  ImageSet s;
  s.pixels = f.read_u8(name, &shape);
  s.n = 1, s.c = int(shape.at(0)), s.h = int(shape.at(1)), s.w = int(shape.at(2));
  return s;
}

int differing(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return -1;
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

// The JPEG case's file written to dir/name.
std::string write_jpeg(const H5File& f, int k, const fs::path& file) {
  const auto bytes = f.read_u8("jpeg" + std::to_string(k) + "/file");
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return file.string();
}

// Resize cases: the whole image before the crop and the crop, byte for byte.
TEST(CenterCropArr, MatchesPillowsBoxHalvingsThenBicubic) {
  H5File f(kFixture, H5File::Mode::Read);
  const int64_t cases = f.attr_i64("resize_cases");
  ASSERT_EQ(cases, 9);
  for (int64_t k = 0; k < cases; ++k) {
    const std::string g = "resize" + std::to_string(k);
    const int side = int(f.read_i64(g + "/side").at(0));
    const ImageSet im = read_image(f, g + "/image"), whole = read_image(f, g + "/whole");
    const ImageSet got = center_crop_arr_resize(im, side);
    ASSERT_EQ(got.h, whole.h) << g;
    ASSERT_EQ(got.w, whole.w) << g;
    EXPECT_EQ(differing(got.pixels, whole.pixels), 0) << g << ": samples differ from Pillow's";
    EXPECT_EQ(resize_shorter_side(im, side, ResizeRule::kDit).pixels, got.pixels) << g;
    EXPECT_EQ(differing(resize_center_crop(im, side, ResizeRule::kDit).pixels, read_image(f, g + "/crop").pixels), 0)
        << g;
  }
}

// JPEG cases: the decoder gives Pillow's convert("RGB") of the file, and
// decode + the rule gives center_crop_arr of Pillow's image.
TEST(CenterCropArr, DecodedJpegsCropAsDiTsLoader) {
  H5File f(kFixture, H5File::Mode::Read);
  const int64_t cases = f.attr_i64("jpeg_cases");
  ASSERT_EQ(cases, 5);
  const fs::path dir = test::temp_dir("center-crop-arr-jpeg");
  for (int64_t k = 0; k < cases; ++k) {
    const std::string g = "jpeg" + std::to_string(k);
    const ImageSet im = decode_image(write_jpeg(f, int(k), dir / (g + ".jpg")));
    EXPECT_EQ(differing(im.pixels, read_image(f, g + "/decoded").pixels), 0) << g << ": decode differs from Pillow's";
    const int side = int(f.read_i64(g + "/side").at(0));
    EXPECT_EQ(differing(resize_center_crop(im, side, ResizeRule::kDit).pixels, read_image(f, g + "/crop").pixels), 0)
        << g;
  }
  fs::remove_all(dir);
}

// A folder prepared with data.resize = "dit" holds center_crop_arr's
// images, in both layouts (whole images: their centre reads); the default
// rule makes other pixels in another store.
TEST(CenterCropArr, AFolderPreparedUnderTheRuleHoldsItsCrops) {
  H5File f(kFixture, H5File::Mode::Read);
  const fs::path root = test::temp_dir("center-crop-arr-folder");
  // JPEG cases 1 and 2 (side 16): class a / b in train, both again in val.
  for (const char* split : {"train", "val"}) {
    write_jpeg(f, 1, root / split / "a" / "one.jpg");
    write_jpeg(f, 2, root / split / "b" / "two.jpg");
  }
  const auto want = [&](int k) { return read_image(f, "jpeg" + std::to_string(k) + "/crop").pixels; };
  const auto load = [&](const std::string& resize, bool whole) {
    DataConfig c;
    c.name = "image_folder";
    c.path = root.string();
    c.pad = 0;
    c.resolution = 16;
    c.resize = resize;
    c.whole_images = whole;
    return load_dataset(c, LoadContext{0, (root / "cache").string()});
  };
  const size_t per = 3 * 16 * 16;
  for (bool whole : {false, true}) {
    const Dataset d = load("dit", whole);
    for (const ImageSet* s : {&d.train, &d.test}) {
      ASSERT_EQ(s->n, 2);
      const auto rows = read_image_rows(*s, 0, 2).contiguous();
      const uint8_t* p = rows.data_ptr<uint8_t>();
      EXPECT_EQ(std::vector<uint8_t>(p, p + per), want(1)) << "whole " << whole;
      EXPECT_EQ(std::vector<uint8_t>(p + per, p + 2 * per), want(2)) << "whole " << whole;
    }
  }
  const Dataset b = load("bilinear", false);
  const auto rows = read_image_rows(b.train, 0, 1).contiguous();
  EXPECT_NE(std::vector<uint8_t>(rows.data_ptr<uint8_t>(), rows.data_ptr<uint8_t>() + per), want(1))
      << "the bilinear rule made DiT's pixels";
  fs::remove_all(root);
}

TEST(CenterCropArr, RuleNamesAreChecked) {
  EXPECT_EQ(resize_rule("bilinear"), ResizeRule::kBilinear);
  EXPECT_EQ(resize_rule("dit"), ResizeRule::kDit);
  EXPECT_THROW(resize_rule("bicubic"), std::invalid_argument);
  ImageSet two;
  two.n = 2, two.c = 3, two.h = two.w = 4;
  two.pixels.assign(2 * 3 * 16, 0);
  EXPECT_THROW(center_crop_arr_resize(two, 2), std::invalid_argument);
}

}  // namespace
}  // namespace ldae
