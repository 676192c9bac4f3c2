// A fresh folder under the system's temporary directory, named by the test
// and the process (so parallel CTest processes never share one).
#pragma once
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/base/filesystem.hpp"

namespace ldae::test {

inline std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / fmt::format("ldae-{}-{}", name, getpid());
  remove_tree(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace ldae::test
