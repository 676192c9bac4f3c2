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
