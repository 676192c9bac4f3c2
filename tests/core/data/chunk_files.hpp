// Edits of prepared-store chunk files (core/data/prepared_store.hpp) for the
// fault tests: a flipped byte, and a chunk rewritten in the format written
// before per-image checksums.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace ldae::test {

// Inverts every bit of the byte at `at` (negative: from the file's end).
inline void flip_byte(const std::string& path, int64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (at < 0) at += int64_t(std::filesystem::file_size(path));
  f.seekg(at);
  char b = 0;
  f.read(&b, 1);
  b = char(~b);
  f.seekp(at);
  f.write(&b, 1);
}

// Rewrites a checked chunk ("LDAECHK3"/"4") as one written before the
// checksums ("LDAECHK1"/"2"): the CRC block and the head's CRC removed.
inline void strip_checksums(const std::string& path, bool whole) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  int64_t n = 0;
  std::memcpy(&n, bytes.data() + 8, 8);
  const size_t crcs_at = size_t(40 + (whole ? 8 * n : 0) + 8 * n);
  bytes.erase(crcs_at, size_t(4 * n + 4));
  bytes[7] = whole ? '2' : '1';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace ldae::test
