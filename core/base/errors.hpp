// Errors that reach the user. Each says what went wrong, where (file:line and
// key, or a path) and how to fix it; programs map them to exit code 2.
#pragma once
#include <stdexcept>
#include <string>

namespace ldae {

// Bad input: sweep file, CLI flag, dataset file, checkpoint. Exit code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The byte offset of the first byte that is not part of well-formed UTF-8
// (RFC 3629: no overlongs, no surrogates, at most U+10FFFF), or npos.
inline size_t first_bad_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) return i;
    for (size_t k = 1; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    const unsigned cp = len == 1 ? c
                        : len == 2 ? ((c & 0x1F) << 6) | (p[i + 1] & 0x3F)
                        : len == 3 ? ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F)
                                   : ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) |
                                         (p[i + 3] & 0x3F);
    const unsigned min = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string::npos;
}

// The first sentence of a library's message (its first non-empty line, up
// to its first ". "), at most `max` bytes ("..." when cut, at a character
// boundary): LibTorch's archive and loading errors go on for paragraphs
// that a log line or an error message quoting them cannot hold, and may
// quote a damaged file's bytes, so control characters and bytes that are
// not UTF-8 are shown as \xHH (a log stays text).
inline std::string first_sentence(const std::string& msg, std::size_t max = 200) {
  const auto start = msg.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  std::string s = msg.substr(start, msg.find('\n', start) - start);
  if (const auto dot = s.find(". "); dot != std::string::npos) s.resize(dot);
  std::string out;
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;  // if it is a lead byte
    if (c < 0x20 || c == 0x7F || first_bad_utf8(s.substr(i, len)) != std::string::npos) {
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
      ++i;
    } else {
      out += s.substr(i, len);
      i += len;
    }
  }
  if (out.size() > max) {
    size_t cut = max - 3;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

// What an InputError about `path` says is wrong with it: its message
// without the leading "<path>: " and without the advice after "; delete it"
// (for a caller that says what it does itself: "... not used (<why>):
// fitted again").
inline std::string reason_about(const std::string& what, const std::string& path) {
  std::string why = what.substr(0, what.find("; delete it"));
  while (!path.empty() && why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
  return why;
}

// Where a setting came from, printed as "file:line" ("--set" for the CLI).
struct Origin {
  std::string file;
  int line = 0;
  std::string str() const {
    return line > 0 ? file + ":" + std::to_string(line) : file;
  }
};

// An input error about one configuration key.
inline InputError config_error(const Origin& where, const std::string& key,
                               const std::string& what) {
  return InputError(where.str() + ": key '" + key + "': " + what);
}

}  // namespace ldae
