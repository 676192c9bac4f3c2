// Dataset loaders on files the tests write (IDX, CIFAR-10 batches, JPEG/PNG
// folders), their errors, padding, resizing and subsets.
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/base/filesystem.hpp"
#include "core/data/data.hpp"
#include "core/records/h5.hpp"
#include "core/run/run.hpp"
#include "tests/core/base/temp_dir.hpp"
#include "tests/core/data/image_files.hpp"

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
  auto dir = fs::path(test::temp_dir(fmt::format("idx-{}", truncate)));
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

namespace {
void expect_names(const InputError& e, std::initializer_list<const char*> parts) {
  const std::string m = e.what();
  for (const char* p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' in: " << m;
}
}  // namespace

TEST(Data, IdxLabelOutOfRangeNamesTheFileIndexAndValue) {
  DataConfig c;
  c.path = make_idx_dir(7, false);
  for (const char* prefix : {"train", "t10k"}) {
    const std::string lp = c.path + "/" + prefix + "-labels-idx1-ubyte.gz";
    std::vector<uint8_t> lab = be32(2049), n = be32(7);
    lab.insert(lab.end(), n.begin(), n.end());
    for (int i = 0; i < 7; ++i) lab.push_back(uint8_t(i == 3 ? 200 : i));
    write_gz(lp, lab);
    try {
      load_fashion_mnist(c);
      FAIL() << "label 200 must be an error";
    } catch (const InputError& e) {
      expect_names(e, {lp.c_str(), "label 200", "index 3", "0..9", "data.path"});
    }
    lab[8 + 3] = 3;  // repaired: the next prefix is the only bad file
    write_gz(lp, lab);
  }
  EXPECT_NO_THROW(load_fashion_mnist(c));
  remove_tree(c.path);
}

TEST(Data, LoadDatasetChecksEveryLabelOfEveryLoader) {
  Dataset d;
  d.name = "plugin_set";
  d.classes = 3;
  d.train.n = 2, d.train.labels = {0, 2};
  d.test.n = 3, d.test.labels = {1, 3, 0};
  try {
    check_labels(d);
    FAIL() << "label 3 of 3 classes must be an error";
  } catch (const InputError& e) {
    expect_names(e, {"dataset 'plugin_set'", "test split", "label 3", "index 1", "0..2"});
  }
  d.test.labels = {1, -1, 0};
  EXPECT_THROW(check_labels(d), InputError);
  d.test.labels = {1, 2};  // 2 labels for 3 images
  EXPECT_THROW(check_labels(d), InputError);
  d.test.labels = {1, 2, 0};
  EXPECT_NO_THROW(check_labels(d));
  d.classes = 0;
  EXPECT_THROW(check_labels(d), InputError);
  // Every registered loader passes it on its own data.
  DataConfig c;
  c.name = "synthetic";
  c.synthetic_train = 50, c.synthetic_test = 20, c.synthetic_classes = 3;
  EXPECT_NO_THROW(check_labels(load_dataset(c)));
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

// ---- CIFAR-10 binary batches ---------------------------------------------

namespace {
std::string write_cifar_dir(int n, int cut_bytes) {
  auto dir = fs::path(test::temp_dir(fmt::format("cifar-{}", cut_bytes)));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, int records, int cut) {
    std::vector<uint8_t> b;
    for (int i = 0; i < records; ++i) {
      b.push_back(uint8_t(i % 10));
      for (int k = 0; k < 3072; ++k) b.push_back(uint8_t((i + k) % 256));
    }
    b.resize(b.size() - size_t(cut));
    FILE* f = std::fopen((dir / name).c_str(), "wb");
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  };
  for (int k = 1; k <= 5; ++k) write(fmt::format("data_batch_{}.bin", k), n, k == 3 ? cut_bytes : 0);
  write("test_batch.bin", n, 0);
  return dir.string();
}
}  // namespace

TEST(Cifar10, ReadsBatchesAndNamesATruncatedFile) {
  DataConfig c;
  c.name = "cifar10";
  c.pad = 0;
  c.path = write_cifar_dir(3, 0);
  auto d = load_dataset(c);
  EXPECT_EQ(d.classes, 10);
  EXPECT_EQ(d.train.n, 15);
  EXPECT_EQ(d.test.n, 3);
  EXPECT_EQ(d.train.c, 3);
  EXPECT_EQ(d.train.labels[4], 1);                     // record 1 of batch 2
  EXPECT_EQ(d.test.pixels[3072 + 5], uint8_t(1 + 5));  // record 1, byte 5 (red channel)
  c.path = write_cifar_dir(3, 100);
  try {
    load_dataset(c);
    FAIL() << "a truncated batch must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("data_batch_3.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  c.path = "/nonexistent/cifar";
  EXPECT_THROW(check_data_available(c), InputError);
}

TEST(Cifar10, LabelOutOfRangeNamesTheBatchRecordAndValue) {
  DataConfig c;
  c.name = "cifar10";
  c.pad = 0;
  c.path = write_cifar_dir(3, 0);
  const std::string batch = c.path + "/data_batch_2.bin";
  {
    std::fstream f(batch, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3073 * 2);  // record 2's label byte
    f.put(char(200));
  }
  try {
    load_dataset(c);
    FAIL() << "label 200 must be an error";
  } catch (const InputError& e) {
    expect_names(e, {batch.c_str(), "label 200", "record 2", "0..9", "data.path"});
  }
  remove_tree(c.path);
}

// The legacy fingerprint (FNV-1a over 64-bit words) cancels two flipped top
// bits of adjacent words: two datasets share it. The strong digest (XXH3-128)
// tells them apart, and a results root gives the second one an id of its
// own while the first keeps the legacy value every recorded id carries.
TEST(Data, TwoDatasetsSharingTheLegacyFingerprintGetTwoIdentities) {
  auto one = [](uint8_t top) {
    Dataset d;
    d.classes = 2;
    for (ImageSet* s : {&d.train, &d.test}) {
      s->n = 1, s->c = 1, s->h = 4, s->w = 4;
      s->pixels.assign(16, 7);
      s->pixels[7] = s->pixels[15] = top;  // the top byte of both 8-byte words
      s->labels = {1};
    }
    return d;
  };
  const DataDigests a = dataset_digests(one(7)), b = dataset_digests(one(7 + 128));
  EXPECT_EQ(a.legacy, b.legacy);  // the weakness, pinned
  EXPECT_EQ(a.legacy, dataset_fingerprint(one(7)));
  EXPECT_NE(a.strong, b.strong);
  EXPECT_EQ(a.strong.size(), 32u);
  const std::string root = test::temp_dir("digests");
  remove_tree(root);
  EXPECT_EQ(data_fingerprint_in_root(a, root), a.legacy);             // first: the legacy value
  EXPECT_EQ(data_fingerprint_in_root(b, root), "xxh3-" + b.strong);  // other data, same legacy hash
  EXPECT_EQ(data_fingerprint_in_root(a, root), a.legacy);             // stable, in any order
  EXPECT_EQ(data_fingerprint_in_root(b, root), "xxh3-" + b.strong);
  std::ifstream in(root + "/cache/data_digests.tsv");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 2);
  remove_tree(root);
}

// ---- image folders (JPEG, PNG) -------------------------------------------

namespace {
// A w x h RGB test image: a colour ramp.
std::vector<uint8_t> ramp(int w, int h) {
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      rgb[(size_t(y) * w + x) * 3 + 0] = uint8_t(255 * x / std::max(1, w - 1));
      rgb[(size_t(y) * w + x) * 3 + 1] = uint8_t(255 * y / std::max(1, h - 1));
      rgb[(size_t(y) * w + x) * 3 + 2] = 128;
    }
  return rgb;
}
void write_png(const std::string& path, int w, int h) {
  FILE* f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  auto rgb = ramp(w, h);
  for (int y = 0; y < h; ++y) png_write_row(png, rgb.data() + size_t(y) * w * 3);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}
void write_jpeg(const std::string& path, int w, int h) {
  test_images::write_jpeg_pixels(path, w, h, 3, ramp(w, h), JCS_RGB, JCS_YCbCr, -1, 95);
}
// An image_folder config over `root` at side x side, its cache under root.
std::pair<DataConfig, LoadContext> folder_config(const fs::path& root, int side) {
  DataConfig c;
  c.name = "image_folder";
  c.path = root.string();
  c.pad = 0;
  c.resolution = side;
  return {c, LoadContext{0, (root / "cache").string()}};
}
}  // namespace

TEST(ImageFolder, DecodesResizesCropsAndCaches) {
  auto root = fs::path(test::temp_dir("folder"));
  for (const char* split : {"train", "val"})
    for (const char* cls : {"cat", "dog"}) fs::create_directories(root / split / cls);
  write_jpeg((root / "train/cat/a.jpg").string(), 40, 20);
  write_png((root / "train/cat/b.png").string(), 20, 30);
  write_jpeg((root / "train/dog/c.JPEG").string(), 16, 16);
  write_png((root / "val/dog/d.png").string(), 24, 24);
  auto [c, ctx] = folder_config(root, 8);
  auto d = load_dataset(c, ctx);
  EXPECT_EQ(d.classes, 2);
  EXPECT_EQ(d.train.n, 3);
  EXPECT_EQ(d.test.n, 1);
  EXPECT_EQ(d.train.c, 3);
  EXPECT_EQ(d.train.h, 8);
  EXPECT_EQ((std::vector<int64_t>(d.train.labels)), (std::vector<int64_t>{0, 0, 1}));
  // The 40 x 20 ramp: shorter side 20 -> 8, width 16, centre 8 columns: red
  // rises left to right around the middle, blue stays 128 (JPEG: +-3).
  const auto& px = d.train.pixels;
  EXPECT_LT(px[0 * 64 + 3 * 8 + 0], px[0 * 64 + 3 * 8 + 7]);
  EXPECT_NEAR(px[2 * 64 + 3 * 8 + 4], 128, 3);
  // One prepared store (a folder beside its lock file).
  auto stores = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(root / "cache/prepared")) n += e.is_directory();
    return n;
  };
  ASSERT_EQ(stores(), 1);
  // Second load reads the cache: an image overwritten with garbage of the
  // same size and modification time still loads (it is not decoded again).
  const auto c_jpeg = root / "train/dog/c.JPEG";
  const auto size = fs::file_size(c_jpeg);
  const auto mtime = fs::last_write_time(c_jpeg);
  std::ofstream(c_jpeg, std::ios::binary) << std::string(size, 'x');
  fs::last_write_time(c_jpeg, mtime);
  auto again = load_dataset(c, ctx);
  EXPECT_EQ(again.train.pixels, d.train.pixels);
  EXPECT_EQ(again.classes, 2);
  // The folder changed (the garbage rewritten as an image, another image
  // removed): a new cache, built from the images.
  write_jpeg(c_jpeg.string(), 16, 16);
  fs::remove(root / "train/cat/b.png");
  auto fewer = load_dataset(c, ctx);
  EXPECT_EQ(fewer.train.n, 2);
  EXPECT_EQ(stores(), 2);
  remove_tree(root);
}

// A cache of the format before the prepared store (cache/image_folder-<key>.h5,
// the store's key) is read; one that fails its read or its label check is
// not used: the run goes on with the prepared store, warned on stderr.
TEST(ImageFolder, ALegacyCacheIsReadAndADamagedOneIsPreparedAgain) {
  auto root = fs::path(test::temp_dir("legacy"));
  for (const char* split : {"train", "val"})
    for (const char* cls : {"cat", "dog"}) fs::create_directories(root / split / cls);
  write_png((root / "train/cat/a.png").string(), 12, 12);
  write_png((root / "train/dog/b.png").string(), 12, 12);
  write_png((root / "val/dog/c.png").string(), 12, 12);
  auto [c, ctx] = folder_config(root, 4);
  const auto prepared = load_dataset(c, ctx);
  std::string key;
  for (const auto& e : fs::directory_iterator(root / "cache/prepared"))
    if (e.is_directory()) key = e.path().filename().string();
  ASSERT_FALSE(key.empty());
  const std::string legacy = (root / "cache" / (key + ".h5")).string();
  auto write_legacy = [&](int64_t label) {
    H5File f(legacy, H5File::Create);
    f.write("train/images", std::vector<uint8_t>(2 * 3 * 4 * 4, 77), {2, 3, 4, 4});
    f.write("train/labels", std::vector<int64_t>{0, label}, {2});
    f.write("test/images", std::vector<uint8_t>(3 * 4 * 4, 77), {1, 3, 4, 4});
    f.write("test/labels", std::vector<int64_t>{1}, {1});
    f.close();
  };
  write_legacy(1);
  EXPECT_EQ(load_dataset(c, ctx).train.pixels, std::vector<uint8_t>(2 * 3 * 4 * 4, 77));
  for (const char* damage : {"label", "bytes"}) {
    SCOPED_TRACE(damage);
    if (std::string(damage) == "label") write_legacy(5);
    else std::ofstream(legacy, std::ios::binary | std::ios::trunc) << std::string(3000, 'x');
    testing::internal::CaptureStderr();
    const auto d = load_dataset(c, ctx);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(d.train.pixels, prepared.train.pixels);
    EXPECT_EQ(d.train.labels, prepared.train.labels);
    EXPECT_NE(err.find("cache " + legacy + " not used ("), std::string::npos) << err;
    EXPECT_NE(err.find("): the folder is prepared again"), std::string::npos) << err;
  }
  remove_tree(root);
}

// The cache key is made of exactly the files the reader decodes: a class
// folder that is a symbolic link counts with the images behind it (replacing
// them makes a new cache, as in a real folder), two class names for one
// folder are refused, and an ordinary folder keeps the key its caches were
// made with (the recursive listing of name|size|mtime lines; a folder of
// PNGs also the decoder's version, kPngDecodeVersion).
TEST(ImageFolder, TheCacheKeySeesThroughSymbolicLinks) {
  auto root = fs::path(test::temp_dir("links"));
  auto elsewhere = fs::path(test::temp_dir("links-target"));
  for (const char* dir : {"train/a", "val/a", "train/b", "val/b"}) fs::create_directories(root / dir);
  fs::create_directories(elsewhere);
  write_png((root / "train/a/x.png").string(), 8, 8);
  write_png((root / "val/a/z.png").string(), 8, 8);
  write_png((root / "train/b/x.png").string(), 8, 8);  // two classes: the probes need them
  write_png((root / "val/b/z.png").string(), 8, 8);
  write_png((elsewhere / "y.png").string(), 8, 8);
  // The key of an ordinary folder (no links), as caches were keyed before.
  auto [c, ctx] = folder_config(root, 4);
  load_dataset(c, ctx);
  std::vector<std::string> lines;
  for (const char* sub : {"train", "val"})
    for (const auto& e : fs::recursive_directory_iterator(root / sub))
      if (e.is_regular_file() && e.path().extension() == ".png")
        lines.push_back(fmt::format("{}|{}|{}", fs::relative(e.path(), root).string(), e.file_size(),
                                    e.last_write_time().time_since_epoch().count()));
  std::sort(lines.begin(), lines.end());
  std::string listing;
  for (const auto& l : lines) listing += l + "\n";
  // Then the PNG decoder's version (store_key_tags): these are PNGs.
  const std::string old_key = fmt::format("{}|{}|{}|{}|png{}", fs::absolute(root).string(), 4, false,
                                          fnv1a_hex(listing), kPngDecodeVersion);
  EXPECT_TRUE(fs::is_directory(root / "cache/prepared" / ("image_folder-" + fnv1a_hex(old_key))));
  // Class c is a link to a folder elsewhere.
  fs::create_directory_symlink(elsewhere, root / "train/c");
  fs::create_directories(root / "val/c");
  write_png((root / "val/c/w.png").string(), 8, 8);
  const auto linked = load_dataset(c, ctx);
  EXPECT_EQ(linked.classes, 3);
  EXPECT_EQ(linked.train.n, 3);
  // The image behind the link replaced by another: a new cache, its pixels.
  write_png((elsewhere / "y.png").string(), 12, 6);
  const auto replaced = load_dataset(c, ctx);
  EXPECT_NE(replaced.train.pixels, linked.train.pixels);
  int stores = 0;
  for (const auto& e : fs::directory_iterator(root / "cache/prepared")) stores += e.is_directory();
  EXPECT_EQ(stores, 3);
  // Two class names for one folder: the same images under two labels.
  fs::create_directory_symlink(elsewhere, root / "train/d");
  try {
    load_dataset(c, ctx);
    FAIL() << "two class links to one folder were accepted";
  } catch (const InputError& e) {
    expect_names(e, {"class folders c and d are the same folder"});
  }
  remove_tree(root);
  remove_tree(elsewhere);
}

TEST(ImageFolder, CorruptJpegIsAnErrorNamingItOrSkippedAndCounted) {
  auto root = fs::path(test::temp_dir("corrupt"));
  for (const char* dir : {"train/a", "train/b", "val/a", "val/b"}) {
    fs::create_directories(root / dir);
    write_png((root / dir / "good.png").string(), 10, 10);
  }
  {
    std::ofstream bad(root / "train/a/broken.jpg", std::ios::binary);
    const unsigned char header[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};
    bad.write(reinterpret_cast<const char*>(header), sizeof header);
    bad << "this is not the rest of a JPEG";
  }
  auto [c, ctx] = folder_config(root, 4);
  try {
    load_dataset(c, ctx);
    FAIL() << "a corrupt JPEG must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jpg"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("data.skip_bad"), std::string::npos) << e.what();
  }
  c.skip_bad = true;
  auto d = load_dataset(c, ctx);
  EXPECT_EQ(d.train.n, 2);
  remove_tree(root);
}

// A JPEG cut to half its bytes keeps a valid header and decodes with its
// missing rows grey (libjpeg only warns): refused as Pillow refuses it.
TEST(ImageFolder, AJpegCutShortIsAnErrorNamingIt) {
  auto root = fs::path(test::temp_dir("cutjpeg"));
  for (const char* dir : {"train/a", "train/b", "val/a", "val/b"}) {
    fs::create_directories(root / dir);
    write_png((root / dir / "good.png").string(), 10, 10);
  }
  const auto cut = root / "train/a/cut.jpg";
  write_jpeg(cut.string(), 64, 64);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  auto [c, ctx] = folder_config(root, 4);
  try {
    load_dataset(c, ctx);
    FAIL() << "a JPEG cut short must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.jpg"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Premature end"), std::string::npos) << e.what();
  }
  remove_tree(root);
}

TEST(ImageFolder, OneClassIsAnError) {
  auto root = fs::path(test::temp_dir("oneclass"));
  for (const char* dir : {"train/a", "val/a"}) {
    fs::create_directories(root / dir);
    write_png((root / dir / "good.png").string(), 10, 10);
  }
  auto [c, ctx] = folder_config(root, 4);
  try {
    load_dataset(c, ctx);
    FAIL() << "one class must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2 classes"), std::string::npos) << e.what();
  }
  remove_tree(root);
}

TEST(ImageFolder, ValFoldersTrainLacksAndLooseValImagesAreErrors) {
  auto root = fs::path(test::temp_dir("valcls"));
  for (const char* dir : {"train/cat", "train/dog", "val/cat", "val/dgo"})
    fs::create_directories(root / dir);
  write_png((root / "train/cat/a.png").string(), 8, 8);
  write_png((root / "train/dog/b.png").string(), 8, 8);
  write_png((root / "val/cat/c.png").string(), 8, 8);
  write_png((root / "val/dgo/d.png").string(), 8, 8);
  auto [c, ctx] = folder_config(root, 4);
  try {
    load_dataset(c, ctx);
    FAIL() << "val/dgo is not a train/ class";
  } catch (const InputError& e) {
    expect_names(e, {"val/dgo", "'dgo'", "cat, dog", "Rename"});
  }
  remove_tree(root / "val/dgo");
  write_png((root / "val/loose.png").string(), 8, 8);
  try {
    load_dataset(c, ctx);
    FAIL() << "an image directly in val/ has no class";
  } catch (const InputError& e) {
    expect_names(e, {"/val", "1 images lie directly in it"});
  }
  fs::remove(root / "val/loose.png");
  EXPECT_EQ(load_dataset(c, ctx).test.n, 1);
  remove_tree(root);
}

TEST(Resize, ConstantStaysConstantAndDownsamplingIsAntialiased) {
  ImageSet s;
  s.n = 1, s.c = 1, s.h = 4, s.w = 4;
  s.pixels = {0, 0, 200, 200, 0, 0, 200, 200, 0, 0, 200, 200, 0, 0, 200, 200};
  auto r = resize_images(s, 2);
  // Triangle filter widened 2x (PIL's antialiased bilinear): output 0 sees
  // inputs 0, 1, 2 with weights 3/4, 3/4, 1/4 -> 200 / 7 = 28.6; the edge
  // stays symmetric.
  EXPECT_EQ(r.pixels, (std::vector<uint8_t>{29, 171, 29, 171}));
  s.pixels.assign(16, 77);
  EXPECT_EQ(resize_images(s, 3).pixels, std::vector<uint8_t>(9, 77));
}

// ---- files whose headers lie (issue 28, item 1): refused before allocating ----

namespace {
// Replaces the 4 bytes at `at` of a file with `v` big-endian.
void patch_be32(const fs::path& p, size_t at, uint32_t v) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(at));
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  f.write(b, 4);
}
}  // namespace

TEST(ImageFolder, HeadersDeclaringHugeImagesAreRefusedBeforeDecoding) {
  auto root = fs::path(test::temp_dir("bomb"));
  fs::create_directories(root);
  // A PNG whose IHDR declares 60000 x 60000 (3.6 Gpx), its CRC recomputed so
  // libpng reads the header as valid.
  const auto png = root / "bomb.png";
  write_png(png.string(), 8, 8);
  patch_be32(png, 16, 60000);
  patch_be32(png, 20, 60000);
  {
    std::ifstream in(png, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    patch_be32(png, 29, uint32_t(crc32(0, reinterpret_cast<const Bytef*>(bytes.data()) + 12, 17)));
  }
  // A JPEG whose start-of-frame declares 15000 x 15000 (225 Mpx).
  const auto jpg = root / "bomb.jpg";
  write_jpeg(jpg.string(), 8, 8);
  std::ifstream in(jpg, std::ios::binary);
  std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t sof = 0;
  for (size_t i = 2; i + 9 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xC0) sof = i;
  ASSERT_GT(sof, 0u);
  {
    std::fstream f(jpg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(sof + 5));
    const char hw[4] = {char(15000 >> 8), char(15000 & 255), char(15000 >> 8), char(15000 & 255)};
    f.write(hw, 4);
  }
  for (const auto& [path, size] : {std::pair{png, std::string("60000 x 60000")}, {jpg, "15000 x 15000"}}) {
    try {
      decode_image(path.string());
      FAIL() << path << " was decoded";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path.filename().string()), std::string::npos) << what;
      EXPECT_NE(what.find(size), std::string::npos) << what;
      EXPECT_NE(what.find("data.skip_bad"), std::string::npos) << what;
    }
  }
  remove_tree(root);
}

TEST(Data, AnIdxHeaderDeclaringMoreThanItsFileCanHoldIsRefused) {
  DataConfig c;
  c.path = make_idx_dir(7, false);
  // 7 x 4 x 3 images -> 100 x 1000 x 1000 (1e8 bytes, under the old 16 GiB
  // bound) in a gzip file of ~60 bytes.
  const auto f = fs::path(c.path) / "train-images-idx3-ubyte.gz";
  std::vector<uint8_t> img = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 3, 0xE8, 0, 0, 3, 0xE8};
  img.resize(img.size() + 84, 1);
  write_gz(f.string(), img);
  try {
    load_fashion_mnist(c);
    FAIL() << "the lying header was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("more than a"), std::string::npos) << e.what();
  }
}

TEST(ImageFolder, HiddenFoldersAreNotClassesAndEmptyClassesAreErrors) {
  auto root = fs::path(test::temp_dir("hidden"));
  for (const char* dir : {"train/a", "train/b", "train/.ipynb_checkpoints", "train/__MACOSX", "val/a", "val/.cache"})
    fs::create_directories(root / dir);
  write_png((root / "train/a/x.png").string(), 8, 8);
  write_png((root / "train/b/y.png").string(), 8, 8);
  write_png((root / "train/a/._x.png").string(), 8, 8);  // a macOS resource fork named like an image
  write_png((root / "val/a/z.png").string(), 8, 8);
  auto [c, ctx] = folder_config(root, 4);
  const auto d = load_dataset(c, ctx);
  EXPECT_EQ(d.classes, 2);  // a and b; not .ipynb_checkpoints nor __MACOSX
  EXPECT_EQ(d.train.n, 2);
  fs::create_directories(root / "train/c");  // a class folder without images
  try {
    load_dataset(c, ctx);
    FAIL() << "an empty class folder became a label";
  } catch (const InputError& e) {
    expect_names(e, {"train", "class folder(s) c", "no .jpg"});
  }
  remove_tree(root);
}
