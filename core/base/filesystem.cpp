#include "core/base/filesystem.hpp"
#include "core/base/errors.hpp"

#include <fmt/core.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace ldae {
namespace {
thread_local uint64_t removed = 0;
thread_local std::string failed;

int remove_entry(const char* p, const struct stat*, int, struct FTW*) {
  if (std::remove(p) != 0) {
    failed = fmt::format("{}: {}", p, std::strerror(errno));
    return 1;  // stops the walk
  }
  ++removed;
  return 0;
}
}  // namespace

uint64_t remove_tree(const std::string& path) {
  removed = 0;
  failed.clear();
  // Depth first (children before their folder), physical (links not followed).
  const int rc = nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (rc != 0) {
    if (failed.empty() && errno == ENOENT) return 0;  // nothing there
    throw InputError(fmt::format("cannot remove {}; check its permissions", failed.empty()
        ? fmt::format("{}: {}", path, std::strerror(errno)) : failed));
  }
  return removed;
}

bool writable_dir(const std::string& path) {
  std::string p = path.empty() ? "." : path;
  struct stat st {};
  // The nearest existing folder on the way up decides (run_sweep creates the rest).
  while (::stat(p.c_str(), &st) != 0) {
    const auto slash = p.find_last_of('/');
    if (slash == std::string::npos) {
      p = ".";
      break;
    }
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
  return ::access(p.c_str(), W_OK) == 0;
}

}  // namespace ldae
