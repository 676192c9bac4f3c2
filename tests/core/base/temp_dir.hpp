// Fresh folders for tests. Every test that writes files takes its folder
// from here: mkdtemp(3) makes one no other process has, not even an earlier
// run whose pid this one reuses (a CI machine keeps /tmp between runs, and
// a folder named by pid alone could hold that run's files), and each is
// removed when the test process exits, passed or failed (set
// LDAE_KEEP_TEST_DIRS=1 to keep them for a look).
#pragma once
#include <fmt/core.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "core/base/filesystem.hpp"  // remove_tree, for the tests that include this

namespace ldae::test {

namespace detail {
// The folders this process made, removed at its exit (a static's destructor:
// gtest_main returns from main). std::filesystem::remove_all, not
// remove_tree: the main thread's thread_local objects (remove_tree keeps one)
// are destroyed before any static.
struct TempDirs {
  std::mutex m;
  std::vector<std::string> dirs;
  ~TempDirs() {
    const char* keep = std::getenv("LDAE_KEEP_TEST_DIRS");
    if (keep && *keep && std::string(keep) != "0") return;
    for (const auto& d : dirs) {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
      if (ec) fmt::print(stderr, "temp_dir: {} kept: {}\n", d, ec.message());  // a test left it unremovable
    }
  }
};
inline TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
}  // namespace detail

// A new empty folder <tmp>/ldae-<name>-XXXXXX (tmp: $TMPDIR or /tmp);
// throws std::runtime_error naming the template and errno's reason.
inline std::string temp_dir(const std::string& name) {
  std::string tpl = (std::filesystem::temp_directory_path() / fmt::format("ldae-{}-XXXXXX", name)).string();
  if (::mkdtemp(tpl.data()) == nullptr)
    throw std::runtime_error(fmt::format("mkdtemp {}: {}", tpl, std::strerror(errno)));
  auto& t = detail::temp_dirs();
  const std::lock_guard<std::mutex> lock(t.m);
  t.dirs.push_back(tpl);
  return tpl;
}

}  // namespace ldae::test
