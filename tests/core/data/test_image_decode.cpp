// decode_image against known colours: one file per JPEG colour space and per
// PNG colour type, each written here with libjpeg / libpng, decoded, and every
// pixel compared with the RGB it must give (JPEG: quality 100, flat colours,
// within a few levels; PNG: exact).
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "core/data/data.hpp"
#include "core/data/prepared_store.hpp"
#include "core/base/filesystem.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/data/image_files.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {

struct Rgb {
  int r, g, b;
  int operator[](int c) const { return c == 0 ? r : c == 1 ? g : b; }
};

fs::path temp_dir(const char* what) {
  auto dir = fs::path(test::temp_dir(what));
  fs::create_directories(dir);
  return dir;
}

// Every pixel of a decoded (3, H, W) image within `tol` of `want`.
void expect_flat(const ImageSet& im, Rgb want, int tol, const std::string& what) {
  ASSERT_EQ(im.c, 3) << what;
  const size_t hw = size_t(im.h) * im.w;
  int worst = 0;
  for (size_t i = 0; i < hw; ++i)
    for (int c = 0; c < 3; ++c)
      worst = std::max(worst, std::abs(int(im.pixels[c * hw + i]) - want[c]));
  EXPECT_LE(worst, tol) << what << ": pixel 0 = (" << int(im.pixels[0]) << ", "
                        << int(im.pixels[hw]) << ", " << int(im.pixels[2 * hw]) << "), want ("
                        << want.r << ", " << want.g << ", " << want.b << ")";
}

// ---- JPEG ------------------------------------------------------------------

struct JpegSpec {
  J_COLOR_SPACE in;    // what the samples are: JCS_GRAYSCALE, JCS_RGB, JCS_CMYK
  J_COLOR_SPACE file;  // what the file stores: + JCS_YCbCr, JCS_YCCK
  bool adobe_marker;   // override of what jpeg_set_colorspace chose
};

// A 16 x 16 JPEG of one colour (`sample`, in the spec's input colour space).
void write_flat_jpeg(const std::string& path, const JpegSpec& spec, std::vector<uint8_t> sample) {
  const int W = 16, H = 16, K = int(sample.size());
  std::vector<uint8_t> px(size_t(W) * H * K);
  for (size_t i = 0; i < px.size(); ++i) px[i] = sample[i % K];
  test_images::write_jpeg_pixels(path, W, H, K, px, spec.in, spec.file, spec.adobe_marker, 100);
}

// What a reader sees in the file's header.
struct JpegHeader {
  J_COLOR_SPACE space;
  bool adobe;
  int components;
};
JpegHeader read_jpeg_header(const std::string& path) {
  jpeg_decompress_struct d;
  jpeg_error_mgr err;
  d.err = jpeg_std_error(&err);
  jpeg_create_decompress(&d);
  FILE* f = std::fopen(path.c_str(), "rb");
  jpeg_stdio_src(&d, f);
  jpeg_read_header(&d, TRUE);
  JpegHeader h{d.jpeg_color_space, bool(d.saw_Adobe_marker), d.num_components};
  jpeg_destroy_decompress(&d);
  std::fclose(f);
  return h;
}

// Stored CMYK samples used by every CMYK/YCCK case, and the two readings.
const std::vector<uint8_t> kCmyk = {200, 120, 60, 220};
int inverted(int ink, int k) { return (ink * k + 127) / 255; }              // R = C K / 255
int plain(int ink, int k) { return ((255 - ink) * (255 - k) + 127) / 255; }  // (255-C)(255-K)/255

}  // namespace

TEST(ImageDecode, JpegEveryColourSpaceGivesTheExpectedRgb) {
  struct Case {
    const char* name;
    JpegSpec spec;
    std::vector<uint8_t> sample;
    J_COLOR_SPACE seen;  // what a reader must find in the header
    bool seen_adobe;
    Rgb want;
  };
  const int C = kCmyk[0], M = kCmyk[1], Y = kCmyk[2], K = kCmyk[3];
  const Rgb adobe{inverted(C, K), inverted(M, K), inverted(Y, K)};  // (173, 104, 52)
  const Rgb ink{plain(C, K), plain(M, K), plain(Y, K)};             // (8, 19, 27)
  const std::vector<Case> cases = {
      {"grayscale", {JCS_GRAYSCALE, JCS_GRAYSCALE, false}, {90}, JCS_GRAYSCALE, false, {90, 90, 90}},
      {"ycbcr", {JCS_RGB, JCS_YCbCr, false}, {200, 30, 100}, JCS_YCbCr, false, {200, 30, 100}},
      // RGB stored as is: libjpeg flags it with an Adobe marker, transform 0.
      {"rgb", {JCS_RGB, JCS_RGB, true}, {200, 30, 100}, JCS_RGB, true, {200, 30, 100}},
      {"cmyk_plain", {JCS_CMYK, JCS_CMYK, false}, kCmyk, JCS_CMYK, false, ink},
      {"cmyk_adobe", {JCS_CMYK, JCS_CMYK, true}, kCmyk, JCS_CMYK, true, adobe},
      // CMYK samples, stored as YCCK (Adobe transform 2; the marker is how a
      // reader knows): decoded back to the same CMYK, read Adobe-inverted.
      {"ycck_adobe", {JCS_CMYK, JCS_YCCK, true}, kCmyk, JCS_YCCK, true, adobe},
  };
  const auto dir = temp_dir("jpeg-spaces");
  for (const auto& k : cases) {
    const std::string path = (dir / (std::string(k.name) + ".jpg")).string();
    write_flat_jpeg(path, k.spec, k.sample);
    const JpegHeader h = read_jpeg_header(path);
    ASSERT_EQ(h.space, k.seen) << k.name;
    ASSERT_EQ(h.adobe, k.seen_adobe) << k.name;
    ASSERT_EQ(h.components, int(k.sample.size())) << k.name;
    ImageSet im;
    ASSERT_NO_THROW(im = decode_image(path)) << k.name;
    EXPECT_EQ(im.h, 16);
    EXPECT_EQ(im.w, 16);
    expect_flat(im, k.want, /*tol=*/4, k.name);
  }
  remove_tree(dir);
}

TEST(ImageDecode, CmykJpegWritesTheAdobeMarkerByDefault) {
  // What the case table above relies on: jpeg_set_colorspace(JCS_CMYK) turns
  // write_Adobe_marker on, so a plain CMYK file needs it turned off.
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  c.in_color_space = JCS_CMYK, c.input_components = 4;
  jpeg_set_defaults(&c);
  EXPECT_EQ(c.jpeg_color_space, JCS_CMYK);
  EXPECT_TRUE(c.write_Adobe_marker);
  jpeg_set_colorspace(&c, JCS_YCCK);
  EXPECT_TRUE(c.write_Adobe_marker);
  jpeg_destroy_compress(&c);
}

TEST(ImageDecode, SkipBadKeepsCmykJpegs) {
  const auto root = temp_dir("cmyk-folder");
  for (const char* split : {"train/a", "val/a", "train/b", "val/b"}) fs::create_directories(root / split);
  write_flat_jpeg((root / "train/a/cmyk.jpg").string(), {JCS_CMYK, JCS_CMYK, true}, kCmyk);
  write_flat_jpeg((root / "train/b/ycck.jpg").string(), {JCS_CMYK, JCS_YCCK, true}, kCmyk);
  write_flat_jpeg((root / "val/a/rgb.jpg").string(), {JCS_RGB, JCS_YCbCr, false}, {10, 20, 30});
  DataConfig c;
  c.name = "image_folder";
  c.path = root.string();
  c.pad = 0;
  c.resolution = 8;
  c.skip_bad = true;
  auto d = load_dataset(c, LoadContext{0, (root / "cache").string()});
  EXPECT_EQ(d.train.n, 2) << "a CMYK or YCCK JPEG was skipped as unreadable";
  EXPECT_EQ(d.test.n, 1);
  remove_tree(root);
}

// ---- PNG -------------------------------------------------------------------

namespace {

// A PNG colour type and depth with its samples per pixel and the RGB they
// must decode to. The 4 x 3 image's pixels all differ, so the (3, H, W)
// layout is checked too.
struct PngCase {
  std::string name;
  int color_type, depth;
  bool interlace = false;
  std::vector<png_color> palette;
  std::vector<png_byte> trns_alpha;  // palette: alpha per entry
  bool trns_colour = false;          // grey / RGB: one colour marked transparent
  std::function<std::vector<int>(int x, int y)> samples;
  std::function<Rgb(int x, int y)> want;
};

constexpr int kW = 4, kH = 3;

void write_png_case(const std::string& path, const PngCase& k) {
  FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, kW, kH, k.depth, k.color_type,
               k.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!k.palette.empty()) png_set_PLTE(png, info, k.palette.data(), int(k.palette.size()));
  if (!k.trns_alpha.empty())
    png_set_tRNS(png, info, k.trns_alpha.data(), int(k.trns_alpha.size()), nullptr);
  if (k.trns_colour) {
    auto s = k.samples(0, 0);  // pixel (0, 0)'s colour is the transparent one
    png_color_16 t{};
    t.gray = png_uint_16(s[0]);
    if (s.size() >= 3) t.red = png_uint_16(s[0]), t.green = png_uint_16(s[1]), t.blue = png_uint_16(s[2]);
    png_set_tRNS(png, info, nullptr, 0, &t);
  }
  png_write_info(png, info);
  // Pack the samples: depth < 8 bits big-endian within a byte, 16 bits as two bytes.
  const int per = int(k.samples(0, 0).size());
  const size_t row_bytes = (size_t(kW) * per * k.depth + 7) / 8;
  std::vector<std::vector<png_byte>> rows(kH, std::vector<png_byte>(row_bytes, 0));
  for (int y = 0; y < kH; ++y) {
    size_t bit = 0;
    for (int x = 0; x < kW; ++x)
      for (int v : k.samples(x, y)) {
        if (k.depth == 16) {
          rows[y][bit / 8] = png_byte(v >> 8), rows[y][bit / 8 + 1] = png_byte(v & 255);
        } else {
          rows[y][bit / 8] |= png_byte(v << (8 - k.depth - bit % 8));
        }
        bit += size_t(k.depth);
      }
  }
  std::vector<png_bytep> ptrs;
  for (auto& r : rows) ptrs.push_back(r.data());
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

std::vector<PngCase> png_cases() {
  // 8-bit colour per pixel; 16-bit colour files store v * 257, whose high byte is v.
  auto r8 = [](int x, int y) { return 20 + 60 * x + y; };
  auto g8 = [](int x, int y) { return 250 - 70 * y - x; };
  auto b8 = [](int x, int y) { return 17 * (x + 4 * y); };
  auto grey8 = [](int x, int y) { return 7 + 21 * (x + 4 * y); };
  auto rgb = [=](int x, int y) { return Rgb{r8(x, y), g8(x, y), b8(x, y)}; };
  auto grey_rgb = [=](int x, int y) { return Rgb{grey8(x, y), grey8(x, y), grey8(x, y)}; };
  auto alpha = [](int x, int y) { return (x * 85 + y * 40) % 256; };
  std::vector<PngCase> v;
  // Grey at 1, 2 and 4 bits: level l of 2^d - 1 scales to l * 255 / (2^d - 1).
  for (int d : {1, 2, 4}) {
    const int top = (1 << d) - 1;
    v.push_back({fmt::format("grey{}", d), PNG_COLOR_TYPE_GRAY, d, false, {}, {}, false,
                 [=](int x, int y) { return std::vector<int>{(x + 2 * y) % (top + 1)}; },
                 [=](int x, int y) {
                   const int l = (x + 2 * y) % (top + 1) * 255 / top;
                   return Rgb{l, l, l};
                 }});
  }
  v.push_back({"grey8", PNG_COLOR_TYPE_GRAY, 8, false, {}, {}, false,
               [=](int x, int y) { return std::vector<int>{grey8(x, y)}; }, grey_rgb});
  // 16-bit grey is Pillow's "I;16": converted to RGB a sample saturates at
  // 255 (Convert.c I16_RGB), so even columns hold v <= 255 (kept) and odd
  // ones v * 257 (255), with and without a transparent colour.
  auto grey16 = [=](int x, int y) { return std::vector<int>{grey8(x, y) * (x % 2 ? 257 : 1)}; };
  auto grey16_rgb = [=](int x, int y) {
    const int v = x % 2 ? 255 : grey8(x, y);
    return Rgb{v, v, v};
  };
  v.push_back({"grey16", PNG_COLOR_TYPE_GRAY, 16, false, {}, {}, false, grey16, grey16_rgb});
  v.push_back({"grey16_trns", PNG_COLOR_TYPE_GRAY, 16, false, {}, {}, true, grey16, grey16_rgb});
  v.push_back({"grey16_interlaced", PNG_COLOR_TYPE_GRAY, 16, true, {}, {}, false, grey16, grey16_rgb});
  v.push_back({"grey8_trns", PNG_COLOR_TYPE_GRAY, 8, false, {}, {}, true,
               [=](int x, int y) { return std::vector<int>{grey8(x, y)}; }, grey_rgb});
  v.push_back({"grey_alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, false, {}, {}, false,
               [=](int x, int y) { return std::vector<int>{grey8(x, y), alpha(x, y)}; }, grey_rgb});
  v.push_back({"grey_alpha16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, false, {}, {}, false,
               [=](int x, int y) { return std::vector<int>{grey8(x, y) * 257, alpha(x, y) * 257}; },
               grey_rgb});
  v.push_back({"rgb8", PNG_COLOR_TYPE_RGB, 8, false, {}, {}, false,
               [=](int x, int y) { return std::vector<int>{r8(x, y), g8(x, y), b8(x, y)}; }, rgb});
  v.push_back({"rgb8_interlaced", PNG_COLOR_TYPE_RGB, 8, true, {}, {}, false,
               [=](int x, int y) { return std::vector<int>{r8(x, y), g8(x, y), b8(x, y)}; }, rgb});
  v.push_back({"rgb16", PNG_COLOR_TYPE_RGB, 16, false, {}, {}, false,
               [=](int x, int y) {
                 return std::vector<int>{r8(x, y) * 257, g8(x, y) * 257, b8(x, y) * 257};
               },
               rgb});
  v.push_back({"rgb8_trns", PNG_COLOR_TYPE_RGB, 8, false, {}, {}, true,
               [=](int x, int y) { return std::vector<int>{r8(x, y), g8(x, y), b8(x, y)}; }, rgb});
  v.push_back({"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, false, {}, {}, false,
               [=](int x, int y) {
                 return std::vector<int>{r8(x, y), g8(x, y), b8(x, y), alpha(x, y)};
               },
               rgb});
  v.push_back({"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, false, {}, {}, false,
               [=](int x, int y) {
                 return std::vector<int>{r8(x, y) * 257, g8(x, y) * 257, b8(x, y) * 257,
                                         alpha(x, y) * 257};
               },
               rgb});
  // Palettes: one entry per pixel at 8 bits, four entries at 2 bits.
  std::vector<png_color> pal12, pal4;
  for (int i = 0; i < kW * kH; ++i) {
    const Rgb c = rgb(i % kW, i / kW);
    pal12.push_back({png_byte(c.r), png_byte(c.g), png_byte(c.b)});
  }
  for (int i = 0; i < 4; ++i) pal4.push_back({png_byte(60 * i), png_byte(255 - 50 * i), png_byte(33 * i + 9)});
  auto by_index = [](const std::vector<png_color>& p, std::function<int(int, int)> index) {
    return [=](int x, int y) {
      const png_color& c = p[size_t(index(x, y))];
      return Rgb{c.red, c.green, c.blue};
    };
  };
  auto idx12 = [](int x, int y) { return x + kW * y; };
  auto idx4 = [](int x, int y) { return (x + y) % 4; };
  v.push_back({"palette8", PNG_COLOR_TYPE_PALETTE, 8, false, pal12, {}, false,
               [=](int x, int y) { return std::vector<int>{idx12(x, y)}; }, by_index(pal12, idx12)});
  v.push_back({"palette2", PNG_COLOR_TYPE_PALETTE, 2, false, pal4, {}, false,
               [=](int x, int y) { return std::vector<int>{idx4(x, y)}; }, by_index(pal4, idx4)});
  // tRNS shorter than the palette, as writers emit it: later entries opaque.
  v.push_back({"palette8_trns", PNG_COLOR_TYPE_PALETTE, 8, false, pal12, {0, 128, 255, 7}, false,
               [=](int x, int y) { return std::vector<int>{idx12(x, y)}; }, by_index(pal12, idx12)});
  v.push_back({"palette2_trns_interlaced", PNG_COLOR_TYPE_PALETTE, 2, true, pal4, {0, 100}, false,
               [=](int x, int y) { return std::vector<int>{idx4(x, y)}; }, by_index(pal4, idx4)});
  return v;
}

}  // namespace

TEST(ImageDecode, PngEveryColourTypeGivesTheExpectedRgb) {
  const auto dir = temp_dir("png-types");
  for (const auto& k : png_cases()) {
    const std::string path = (dir / (k.name + ".png")).string();
    write_png_case(path, k);
    ImageSet im;
    ASSERT_NO_THROW(im = decode_image(path)) << k.name;
    ASSERT_EQ(im.c, 3) << k.name;
    ASSERT_EQ(im.h, kH) << k.name;
    ASSERT_EQ(im.w, kW) << k.name;
    const size_t hw = size_t(kH) * kW;
    for (int y = 0; y < kH; ++y)
      for (int x = 0; x < kW; ++x) {
        const Rgb w = k.want(x, y);
        const size_t i = size_t(y) * kW + x;
        EXPECT_EQ(int(im.pixels[i]), w.r) << k.name << " red at (" << x << ", " << y << ")";
        EXPECT_EQ(int(im.pixels[hw + i]), w.g) << k.name << " green at (" << x << ", " << y << ")";
        EXPECT_EQ(int(im.pixels[2 * hw + i]), w.b) << k.name << " blue at (" << x << ", " << y << ")";
      }
  }
  remove_tree(dir);
}

// A PNG decoding fix reaches stores prepared before it: folders listing a
// .png file carry the decoder's version in their store key; folders of
// JPEGs keep their keys (ImageNet's stores are not prepared again).
TEST(ImageDecode, PngDecodeVersionIsInTheStoreKeyOfFoldersWithPngs) {
  DataConfig c;
  StoreSource jpegs;
  jpegs.train = {{"/f/train/a/x.jpg", 0}, {"/f/train/b/y.JPEG", 1}};
  jpegs.test = {{"/f/val/a/z.jpeg", 0}};
  EXPECT_EQ(store_key_tags(c, jpegs), "");
  StoreSource mixed = jpegs;
  mixed.test.push_back({"/f/val/b/w.PNG", 1});
  EXPECT_EQ(store_key_tags(c, mixed), fmt::format("|png{}", kPngDecodeVersion));
  EXPECT_GE(kPngDecodeVersion, 2);  // 2: 16-bit grey as Pillow's I;16
  c.whole_images = true;
  c.resize = "dit";
  EXPECT_EQ(store_key_tags(c, jpegs), "|whole|dit");
  c.whole_images = false;
  c.resize = "bilinear";
  c.jpeg_draft = true;
  EXPECT_EQ(store_key_tags(c, mixed), fmt::format("|jpeg_draft|png{}", kPngDecodeVersion));
}

TEST(ImageDecode, CorruptPngNamesLibpngsReason) {
  const auto dir = temp_dir("png-corrupt");
  const std::string path = (dir / "bad.png").string();
  for (const auto& k : png_cases())
    if (k.name == "rgb8") write_png_case(path, k);
  {
    // Signature (8 bytes) + IHDR (25) + IDAT's length and type (8): byte 45
    // is IDAT data, so its CRC no longer matches.
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    std::fseek(f, 45, SEEK_SET);
    std::fputc(0x5A, f);
    std::fclose(f);
  }
  try {
    decode_image(path);
    FAIL() << "a corrupt PNG must be an error";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad.png: unreadable PNG ("), std::string::npos) << m;
    EXPECT_NE(m.find("data.skip_bad"), std::string::npos) << m;
  }
  remove_tree(dir);
}

namespace ldae {
namespace {

// data.jpeg_draft: a 1200 x 900 JPEG decoded for a 256-px run comes out at
// libjpeg-turbo's 3/8 scale (450 x 338, the smallest m/8 keeping the shorter
// side >= 256) and, resized and cropped, within a few levels of the full
// decode's; a file already small enough is decoded whole, bit for bit.
TEST(ImageDecode, JpegDraftDecodesAtTheSmallestDctScaleAboveTheSide) {
  const auto dir = temp_dir("jpeg-draft");
  const int W = 1200, H = 900;
  std::vector<uint8_t> px(size_t(W) * H * 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) px[(size_t(y) * W + x) * 3 + c] =
            uint8_t(150.0 * x / W + 60.0 * y / H + 30 * c + 10.0 * std::sin(x / 40.0) * std::cos(y / 30.0));
  const std::string path = (dir / "big.jpg").string();
  test_images::write_jpeg_pixels(path, W, H, 3, px, JCS_RGB, JCS_YCbCr, -1, 95);
  const ImageSet full = decode_image(path), draft = decode_image(path, 256);
  EXPECT_EQ(full.w, 1200);
  EXPECT_EQ(draft.w, 450);
  EXPECT_EQ(draft.h, 338);
  const ImageSet a = resize_center_crop(full, 256), b = resize_center_crop(draft, 256);
  ASSERT_EQ(a.pixels.size(), b.pixels.size());
  double diff = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) diff += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  EXPECT_LT(diff / double(a.pixels.size()), 4.0);
  EXPECT_GT(diff, 0.0);  // other pixels: why the key is in ids and store keys when set
  EXPECT_EQ(decode_image(path, 1000).pixels, full.pixels);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ldae
