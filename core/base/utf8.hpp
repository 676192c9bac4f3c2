// Records are JSON, TOML, HDF5 attributes and SQLite text, which hold UTF-8
// only: a user's string (a path, a key's value) that is not UTF-8 (a
// Latin-1 folder name) is refused where it enters, naming it, instead of
// failing in a writer with a run folder half made.
#pragma once
#include <fmt/core.h>

#include <string>

#include "core/base/errors.hpp"

namespace ldae {

// `s` printable whatever its bytes: each byte that is not well-formed UTF-8
// shown as \xHH ("caf\xE9"), the rest as it is.
inline std::string escaped_utf8(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t bad = first_bad_utf8(s.substr(i));
    if (bad == std::string::npos) return out + s.substr(i);
    out += s.substr(i, bad) + fmt::format("\\x{:02X}", unsigned(static_cast<unsigned char>(s[i + bad])));
    i += bad + 1;
  }
  return out;
}

// InputError naming `what` (e.g. "--set data.path"), the string with its
// bad bytes escaped, and the first bad byte.
inline void require_utf8(const std::string& s, const std::string& what) {
  const size_t at = first_bad_utf8(s);
  if (at == std::string::npos) return;
  throw InputError(fmt::format("{}: \"{}\" is not valid UTF-8 (byte 0x{:02X} at offset {}); run records are "
                               "JSON and TOML, which hold UTF-8 only: rename it to UTF-8 (e.g. `convmv -f latin1 "
                               "-t utf8 --notest PATH`)",
                               what, escaped_utf8(s), unsigned(static_cast<unsigned char>(s[at])), at));
}

}  // namespace ldae
