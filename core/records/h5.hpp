// A small RAII layer over the HDF5 C API: float64/float32/int64 datasets with
// shapes, scalar attributes, intermediate groups. Every file we write carries
// a root attribute `format_version`, and every dataset with rows a
// Fletcher-32 checksum per chunk that each read checks.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ldae {

inline constexpr int64_t kH5FormatVersion = 1;

class H5File {
 public:
  enum Mode { Read, Create, ReadWrite };
  H5File(const std::string& path, Mode mode);
  ~H5File();  // closes without checking; writers call close()
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;

  // Flush and close, checked: a write the disk refused surfaces here at the
  // latest. Throws InputError naming the file. Idempotent.
  void close();
  bool has(const std::string& name) const;
  // Replace the dataset `name` (groups created as needed).
  void write(const std::string& name, const std::vector<double>& data,
             const std::vector<uint64_t>& shape);
  void write(const std::string& name, const std::vector<float>& data,
             const std::vector<uint64_t>& shape);
  // The same from memory the caller holds (product of shape floats), uncopied.
  void write(const std::string& name, const float* data, const std::vector<uint64_t>& shape);
  void write(const std::string& name, const std::vector<int64_t>& data,
             const std::vector<uint64_t>& shape);
  void write(const std::string& name, const std::vector<uint8_t>& data,
             const std::vector<uint64_t>& shape);
  std::vector<uint8_t> read_u8(const std::string& name, std::vector<uint64_t>* shape = nullptr) const;
  std::vector<double> read_f64(const std::string& name, std::vector<uint64_t>* shape = nullptr) const;
  std::vector<float> read_f32(const std::string& name, std::vector<uint64_t>* shape = nullptr) const;
  // A dataset's shape, checked against the file's size as every read checks it.
  std::vector<uint64_t> shape(const std::string& name) const;
  // The dataset as float32 into memory the caller sized by shape() (a tensor's):
  // read once, uncopied.
  void read_f32_into(const std::string& name, float* out) const;
  std::vector<int64_t> read_i64(const std::string& name, std::vector<uint64_t>* shape = nullptr) const;

  void set_attr(const std::string& name, double v);
  void set_attr(const std::string& name, int64_t v);
  void set_attr(const std::string& name, const std::string& v);
  bool has_attr(const std::string& name) const;
  double attr_f64(const std::string& name) const;
  int64_t attr_i64(const std::string& name) const;
  std::string attr_str(const std::string& name) const;

  const std::string& path() const { return path_; }

 private:
  void write_raw(const std::string& name, hid_t type, const void* data,
                 const std::vector<uint64_t>& shape);
  void read_raw(const std::string& name, hid_t type, void* out, size_t n) const;
  size_t extent(const std::string& name, std::vector<uint64_t>* shape) const;
  hid_t file_ = -1;
  std::string path_;
};

}  // namespace ldae
