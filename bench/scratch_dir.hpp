// A bench's scratch folder (its prepared store) under the temporary
// folder, named by the bench and the process, removed on every way out.
#pragma once
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ldae {

inline std::filesystem::path bench_scratch(const std::string& tag) {
  return std::filesystem::temp_directory_path() / fmt::format("ldae-bench-{}-{}", tag, getpid());
}

// Removes `path` when it goes out of scope (a return, an exception).
struct RemoveOnExit {
  std::filesystem::path path;
  ~RemoveOnExit() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace ldae
