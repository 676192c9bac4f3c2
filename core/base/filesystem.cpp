#include "core/base/filesystem.hpp"
#include "core/base/errors.hpp"

#include <fmt/core.h>
#include <ftw.h>

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

}  // namespace ldae
