// A file's content digest: XXH3-128 of its bytes (32 hex digits), read in
// 1 MiB pieces (memory flat whatever the file's size). For keys of caches
// that depend on a file a user brings (a TorchScript feature network).
#pragma once
#include <string>

namespace ldae {

// InputError naming the path when it cannot be read.
std::string file_digest(const std::string& path);

}  // namespace ldae
