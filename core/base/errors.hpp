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

// The first sentence of a library's message (its first line, up to its
// first ". "), at most `max` characters ("..." when cut): LibTorch's
// archive and loading errors go on for paragraphs that a log line or an
// error message quoting them cannot hold.
inline std::string first_sentence(const std::string& msg, std::size_t max = 200) {
  std::string s = msg.substr(0, msg.find('\n'));
  if (const auto dot = s.find(". "); dot != std::string::npos) s.resize(dot);
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
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
