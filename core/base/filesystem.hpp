// File-system helpers that must not go through the std::filesystem functions
// PyPI's libtorch.so re-exports (BUILD-NOTES: it carries GCC 13's copies,
// e.g. remove_all, which crash when they win symbol lookup; the link-order
// guard in CMakeLists.txt does not hold on every machine's linker).
#pragma once
#include <cstdint>
#include <string>

namespace ldae {

// Remove `path` and everything under it (symbolic links are removed, never
// followed), like `rm -rf`. A missing path is not an error. Returns the
// number of entries removed. Throws std::runtime_error naming the entry that
// could not be removed and the reason (errno text).
uint64_t remove_tree(const std::string& path);

// Whether this process may create and change files in the folder `path`
// (access(2) W_OK: false on a read-only mount, or without the permission).
// A missing folder is writable when its nearest existing parent is.
bool writable_dir(const std::string& path);

}  // namespace ldae
