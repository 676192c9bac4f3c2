// The HDF5 layer: shapes checked before allocating, and every dataset's
// bytes checked on read (Fletcher-32 per chunk), so a damaged kept file
// fails its read instead of loading other numbers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/base/errors.hpp"
#include "core/base/filesystem.hpp"
#include "core/records/h5.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

namespace {
using test::temp_dir;

// Flips (xor `bits`) byte `offset` of the first place in the file at `path`
// holding `size` bytes equal to those at `value`; false when none does.
bool flip_in_file(const std::string& path, const void* value, size_t size, size_t offset, char bits) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  const auto pos = bytes.find(std::string(static_cast<const char*>(value), size));
  if (pos == std::string::npos) return false;
  bytes[pos + offset] = char(bytes[pos + offset] ^ bits);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return true;
}
}  // namespace

// An HDF5 file whose dataset declares far more than the file holds (a
// header that lies): an input error naming the dataset and its shape,
// before anything is allocated for it; an honest dataset reads back.
TEST(H5, ADatasetDeclaringMoreThanItsFileHoldsIsRefusedBeforeAllocating) {
  const std::string dir = temp_dir("h5lies"), path = dir + "/lies.h5";
  {
    H5File f(path, H5File::Create);
    f.write("ok", std::vector<float>{1, 2, 3}, {3});
  }
  {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t dims[2] = {1000000, 1000000};  // 4 TB of floats, never written (late allocation)
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t ds = H5Dcreate2(file, "huge", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(file);
  }
  H5File f(path, H5File::Read);
  EXPECT_EQ(f.read_f32("ok"), (std::vector<float>{1, 2, 3}));
  try {
    f.read_f32("huge");
    FAIL() << "a 4 TB dataset in a small file was read";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dataset huge declares 1000000 x 1000000 elements of 4 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
  remove_tree(dir);
}

// One flipped byte inside a dataset's raw data (its third 4 MiB chunk) fails
// the read with a message saying so; before the checksums it read back as
// other numbers. Datasets of every rank and type the harness writes read
// back equal, and a dataset written without checksums (files kept before
// them) still reads.
TEST(H5, AFlippedByteInADatasetFailsItsRead) {
  const std::string dir = temp_dir("h5flip"), path = dir + "/flip.h5";
  std::vector<float> big(2'500'000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = 0.25f + 1.5f * float(i);
  const std::vector<double> matrix{1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> labels{7, 8, 9};
  const std::vector<uint8_t> pixels(2 * 3 * 5 * 5, 200);
  {
    H5File f(path, H5File::Create);
    f.write("big", big, {big.size()});
    f.write("group/matrix", matrix, {2, 3});
    f.write("labels", labels, {3});
    f.write("pixels", pixels, {2, 3, 5, 5});
    f.write("empty", std::vector<float>{}, {0, 4});
    f.close();
  }
  {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t dims[1] = {3};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    hid_t ds = H5Dcreate2(file, "unchecked", H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()), 0);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(file);
  }
  {
    H5File f(path, H5File::Read);
    std::vector<uint64_t> shape;
    EXPECT_EQ(f.read_f32("big"), big);
    EXPECT_EQ(f.read_f64("group/matrix", &shape), matrix);
    EXPECT_EQ(shape, (std::vector<uint64_t>{2, 3}));
    EXPECT_EQ(f.read_i64("labels"), labels);
    EXPECT_EQ(f.read_u8("pixels", &shape), pixels);
    EXPECT_EQ(shape, (std::vector<uint64_t>{2, 3, 5, 5}));
    EXPECT_TRUE(f.read_f32("empty", &shape).empty());
    EXPECT_EQ(shape, (std::vector<uint64_t>{0, 4}));
    EXPECT_EQ(f.read_i64("unchecked"), labels);
  }
  // Flip one byte of element 2,400,000 (in the third chunk of 1,048,576 floats).
  const size_t at = 2'400'000;
  ASSERT_TRUE(flip_in_file(path, &big[at], 64, 1, 0x10));
  H5File f(path, H5File::Read);
  EXPECT_EQ(f.read_f64("group/matrix"), matrix);  // other datasets still read
  try {
    const auto got = f.read_f32("big");
    FAIL() << "a flipped byte read back as " << got[at] << " against " << big[at];
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot read dataset big: the file is truncated or damaged (a checksum differs)"),
              std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
  remove_tree(dir);
}

// The file's metadata carries checksums too (HDF5 1.10's format): one
// flipped byte of an attribute's value fails its read, where the default
// format read it back as another number.
TEST(H5, AFlippedByteInAnAttributeFailsItsRead) {
  const std::string dir = temp_dir("h5attr"), path = dir + "/attr.h5";
  const double scale = 1.2345678901234567;
  {
    H5File f(path, H5File::Create);
    f.set_attr("scale", scale);
    f.set_attr("count", int64_t(7));
    f.write("step", std::vector<double>{2.7182818284590452}, {});  // a scalar: in its object header
    f.write("basis", std::vector<double>{1, 2, 3, 4}, {2, 2});
    f.close();
  }
  {
    H5File f(path, H5File::Read);
    EXPECT_EQ(f.attr_f64("scale"), scale);
    EXPECT_EQ(f.attr_i64("count"), 7);
    std::vector<uint64_t> shape{9};
    EXPECT_EQ(f.read_f64("step", &shape), (std::vector<double>{2.7182818284590452}));
    EXPECT_TRUE(shape.empty());
  }
  ASSERT_TRUE(flip_in_file(path, &scale, 8, 2, 0x01));
  try {
    H5File f(path, H5File::Read);
    const double got = f.attr_f64("scale");
    FAIL() << "a flipped byte read back as " << got << " against " << scale;
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("damaged (a checksum differs)"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
  }
  remove_tree(dir);
}

// A scalar dataset lives in its object header (compact layout), under the
// metadata checksum: one flipped byte of its value fails the read.
TEST(H5, AFlippedByteInAScalarDatasetFailsItsRead) {
  const std::string dir = temp_dir("h5scalar"), path = dir + "/scalar.h5";
  const double step = 2.7182818284590452;
  {
    H5File f(path, H5File::Create);
    f.write("step", std::vector<double>{step}, {});
    f.close();
  }
  ASSERT_TRUE(flip_in_file(path, &step, 8, 5, 0x01));
  try {
    H5File f(path, H5File::Read);
    const auto got = f.read_f64("step");
    FAIL() << "a flipped byte read back as " << got.at(0) << " against " << step;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
  }
  remove_tree(dir);
}
