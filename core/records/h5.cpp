#include "core/records/h5.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>

#include "core/base/errors.hpp"

namespace ldae {
namespace {

struct Closer {
  hid_t id;
  herr_t (*fn)(hid_t);
  ~Closer() {
    if (id >= 0) fn(id);
  }
};

// The dataset creation properties of everything this harness writes: a
// Fletcher-32 checksum per chunk (HDF5 checks it on every read, so flipped
// bits in a kept tokenizer, classifier or FID reference fail the read
// instead of loading silently; HDF5 keeps no checksum of raw data
// otherwise). Checksums need the chunked layout: chunks of whole rows
// (dimension 0) of about kChunkBytes each. A scalar, which cannot be
// chunked, is stored in its object header (compact layout), which the file
// format's metadata checksum covers; an empty dataset holds no data.
constexpr uint64_t kChunkBytes = uint64_t(4) << 20;

hid_t checksummed_layout(const std::vector<hsize_t>& dims, size_t elem) {
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (dims.empty()) {
    H5Pset_layout(dcpl, H5D_COMPACT);
    return dcpl;
  }
  uint64_t row = std::max<size_t>(elem, 1);
  for (size_t i = 1; i < dims.size(); ++i) row *= dims[i];
  const bool empty = std::any_of(dims.begin(), dims.end(), [](hsize_t d) { return d == 0; });
  if (empty || row >= (uint64_t(1) << 32)) return dcpl;  // HDF5's chunk limit is 4 GiB
  std::vector<hsize_t> chunk(dims);
  chunk[0] = std::clamp<hsize_t>(kChunkBytes / row, 1, dims[0]);
  H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
  H5Pset_fletcher32(dcpl);
  return dcpl;
}

// Whether a dataset's filters may expand its bytes (a checksum adds 4 bytes
// a chunk; deflate and others, which this harness does not write, compress).
bool compressed(hid_t dcpl) {
  if (dcpl < 0) return false;
  for (int i = 0, n = H5Pget_nfilters(dcpl); i < n; ++i) {
    unsigned flags = 0, config = 0;
    size_t nelems = 0;
    if (H5Pget_filter2(dcpl, unsigned(i), &flags, &nelems, nullptr, 0, nullptr, &config) != H5Z_FILTER_FLETCHER32)
      return true;
  }
  return false;
}

// Why attribute `name` of `file` could not be read: absent, or there and
// unreadable (its object header fails its checksum).
std::string attr_failure(hid_t file, const std::string& name) {
  return H5Aexists(file, name.c_str()) == 0 ? "missing attribute " + name
                                            : "cannot read attribute " + name + ": the file is damaged (a checksum differs)";
}

// Whether the object `name` ("group/dataset") exists: 1, 0, or < 0 when a
// group on the way cannot be read (`*failed`: that group). Each component is
// checked, as H5Lexists fails on a missing intermediate group.
htri_t link_exists(hid_t file, const std::string& name, std::string* failed) {
  for (size_t pos = 0;;) {
    pos = name.find('/', pos + 1);
    const std::string part = name.substr(0, pos);
    const htri_t exists = H5Lexists(file, part.c_str(), H5P_DEFAULT);
    if (exists <= 0) {
      if (failed) *failed = part;
      return exists;
    }
    if (pos == std::string::npos) return 1;
  }
}

// Why dataset `name` of `file` could not be opened: absent, or its links or
// header fail their checksums.
std::string dataset_failure(hid_t file, const std::string& name) {
  return link_exists(file, name, nullptr) == 0
             ? "missing dataset " + name
             : "cannot open dataset " + name + ": the file is damaged (a checksum differs)";
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(fmt::format("{}: HDF5: {}", path, what));
}

}  // namespace

H5File::H5File(const std::string& path, Mode mode) : path_(path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // our errors, not HDF5's stack dumps
  if (mode == Create) {
    // HDF5 1.10's file format: its metadata (superblock, object headers with
    // the attributes they hold, chunk indexes) carries checksums that every
    // open and read checks, as the datasets' chunks carry theirs. The
    // default, the 1.6 format, has none: a flipped byte in an attribute (a
    // tokenizer's scale, a run's probe_top1) read back as another number.
    Closer fapl{H5Pcreate(H5P_FILE_ACCESS), H5Pclose};
    H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id);
    if (file_ < 0) fail(path, "cannot create file (is the folder writable?)");
    set_attr("format_version", kH5FormatVersion);
  } else {
    file_ = H5Fopen(path.c_str(), mode == Read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
    if (file_ < 0) fail(path, "cannot open file: missing, damaged (a checksum differs) or not an HDF5 file");
    if (H5Aexists(file_, "format_version") > 0 && attr_i64("format_version") != kH5FormatVersion)
      fail(path, fmt::format("format_version {} but this build reads {}; rerun the run to "
                             "regenerate it",
                             attr_i64("format_version"), kH5FormatVersion));
  }
}

H5File::~H5File() {
  if (file_ >= 0) H5Fclose(file_);
}

void H5File::close() {
  if (file_ < 0) return;
  const herr_t flushed = H5Fflush(file_, H5F_SCOPE_LOCAL);
  const herr_t closed = H5Fclose(file_);
  file_ = -1;
  if (flushed < 0 || closed < 0) fail(path_, "cannot flush or close the file (disk full?)");
}

bool H5File::has(const std::string& name) const {
  std::string part;
  const htri_t exists = link_exists(file_, name, &part);
  if (exists < 0) fail(path_, "cannot read the group " + part + ": the file is damaged (a checksum differs)");
  return exists > 0;
}

void H5File::write_raw(const std::string& name, hid_t type, const void* data,
                       const std::vector<uint64_t>& shape) {
  if (has(name)) H5Ldelete(file_, name.c_str(), H5P_DEFAULT);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Closer space{H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose};
  Closer lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);
  Closer dcpl{checksummed_layout(dims, H5Tget_size(type)), H5Pclose};
  Closer ds{H5Dcreate2(file_, name.c_str(), type, space.id, lcpl.id, dcpl.id, H5P_DEFAULT), H5Dclose};
  if (ds.id < 0 || H5Dwrite(ds.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail(path_, "cannot write dataset " + name);
}

size_t H5File::extent(const std::string& name, std::vector<uint64_t>* shape) const {
  Closer ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0) fail(path_, dataset_failure(file_, name));
  Closer space{H5Dget_space(ds.id), H5Sclose};
  int rank = H5Sget_simple_extent_ndims(space.id);
  if (rank < 0 || rank > 32) fail(path_, fmt::format("dataset {}: unreadable shape (rank {}); damaged file?", name, rank));
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  // A shape read from the file is checked before anything is allocated for
  // it: its bytes must fit the file (uncompressed, as this harness writes
  // them; a compressed dataset may expand ~1000-fold), and the product of
  // its dimensions must not overflow (H5Dread would fill the whole declared
  // extent into a buffer sized by the wrapped count).
  Closer type{H5Dget_type(ds.id), H5Tclose};
  Closer dcpl{H5Dget_create_plist(ds.id), H5Pclose};
  const uint64_t elem = type.id >= 0 ? std::max<uint64_t>(1, H5Tget_size(type.id)) : 1;
  hsize_t file_bytes = 0;
  H5Fget_filesize(file_, &file_bytes);
  const uint64_t limit = (compressed(dcpl.id) ? 1100 : 1) * uint64_t(file_bytes) + 4096;
  uint64_t n = 1, bytes = 0;
  std::string shown;
  for (auto d : dims) shown += (shown.empty() ? "" : " x ") + std::to_string(d);
  for (auto d : dims)
    if (__builtin_mul_overflow(n, uint64_t(d), &n)) n = UINT64_MAX;
  if (__builtin_mul_overflow(n, elem, &bytes) || bytes > limit)
    fail(path_, fmt::format("dataset {} declares {} elements of {} bytes, more than the file's {} bytes can hold; "
                            "the file is damaged or not one this harness wrote: delete it (a cache or run record "
                            "is remade by rerunning)", name, shown.empty() ? "1" : shown, elem, file_bytes));
  if (shape) shape->assign(dims.begin(), dims.end());
  return size_t(n);
}

void H5File::read_raw(const std::string& name, hid_t type, void* out, size_t) const {
  Closer ds{H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose};
  if (ds.id < 0 || H5Dread(ds.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    fail(path_, "cannot read dataset " + name + ": the file is truncated or damaged (a checksum differs)");
}

void H5File::write(const std::string& n, const std::vector<double>& d,
                   const std::vector<uint64_t>& s) {
  write_raw(n, H5T_NATIVE_DOUBLE, d.data(), s);
}
void H5File::write(const std::string& n, const std::vector<float>& d,
                   const std::vector<uint64_t>& s) {
  write_raw(n, H5T_NATIVE_FLOAT, d.data(), s);
}
void H5File::write(const std::string& n, const float* d, const std::vector<uint64_t>& s) {
  write_raw(n, H5T_NATIVE_FLOAT, d, s);
}
void H5File::write(const std::string& n, const std::vector<int64_t>& d,
                   const std::vector<uint64_t>& s) {
  write_raw(n, H5T_NATIVE_INT64, d.data(), s);
}

std::vector<double> H5File::read_f64(const std::string& n, std::vector<uint64_t>* s) const {
  std::vector<double> v(extent(n, s));
  read_raw(n, H5T_NATIVE_DOUBLE, v.data(), v.size());
  return v;
}
std::vector<uint64_t> H5File::shape(const std::string& n) const {
  std::vector<uint64_t> s;
  extent(n, &s);
  return s;
}
void H5File::read_f32_into(const std::string& n, float* out) const { read_raw(n, H5T_NATIVE_FLOAT, out, 0); }
std::vector<float> H5File::read_f32(const std::string& n, std::vector<uint64_t>* s) const {
  std::vector<float> v(extent(n, s));
  read_raw(n, H5T_NATIVE_FLOAT, v.data(), v.size());
  return v;
}
void H5File::write(const std::string& n, const std::vector<uint8_t>& d,
                   const std::vector<uint64_t>& s) {
  write_raw(n, H5T_NATIVE_UINT8, d.data(), s);
}
std::vector<uint8_t> H5File::read_u8(const std::string& n, std::vector<uint64_t>* s) const {
  std::vector<uint8_t> v(extent(n, s));
  read_raw(n, H5T_NATIVE_UINT8, v.data(), v.size());
  return v;
}

std::vector<int64_t> H5File::read_i64(const std::string& n, std::vector<uint64_t>* s) const {
  std::vector<int64_t> v(extent(n, s));
  read_raw(n, H5T_NATIVE_INT64, v.data(), v.size());
  return v;
}

namespace {
void put_attr(hid_t file, const std::string& name, hid_t type, const void* v) {
  if (H5Aexists(file, name.c_str()) > 0) H5Adelete(file, name.c_str());
  Closer space{H5Screate(H5S_SCALAR), H5Sclose};
  Closer a{H5Acreate2(file, name.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  H5Awrite(a.id, type, v);
}
}  // namespace

void H5File::set_attr(const std::string& n, double v) { put_attr(file_, n, H5T_NATIVE_DOUBLE, &v); }
void H5File::set_attr(const std::string& n, int64_t v) { put_attr(file_, n, H5T_NATIVE_INT64, &v); }
void H5File::set_attr(const std::string& n, const std::string& v) {
  Closer type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<size_t>(v.size(), 1));
  put_attr(file_, n, type.id, v.c_str());
}

bool H5File::has_attr(const std::string& n) const {
  const htri_t exists = H5Aexists(file_, n.c_str());
  if (exists < 0) fail(path_, "cannot read the attributes: the file is damaged (a checksum differs)");
  return exists > 0;
}

double H5File::attr_f64(const std::string& n) const {
  Closer a{H5Aopen(file_, n.c_str(), H5P_DEFAULT), H5Aclose};
  double v = 0;
  if (a.id < 0 || H5Aread(a.id, H5T_NATIVE_DOUBLE, &v) < 0) fail(path_, attr_failure(file_, n));
  return v;
}
int64_t H5File::attr_i64(const std::string& n) const {
  Closer a{H5Aopen(file_, n.c_str(), H5P_DEFAULT), H5Aclose};
  int64_t v = 0;
  if (a.id < 0 || H5Aread(a.id, H5T_NATIVE_INT64, &v) < 0) fail(path_, attr_failure(file_, n));
  return v;
}
std::string H5File::attr_str(const std::string& n) const {
  Closer a{H5Aopen(file_, n.c_str(), H5P_DEFAULT), H5Aclose};
  if (a.id < 0) fail(path_, attr_failure(file_, n));
  Closer type{H5Aget_type(a.id), H5Tclose};
  std::string v(H5Tget_size(type.id), '\0');
  H5Aread(a.id, type.id, v.data());
  return v.substr(0, v.find('\0'));
}

}  // namespace ldae
