#include "core/base/file_digest.hpp"

#include <fmt/core.h>
// libxxhash's header, inlined (XXH3 needs no library to link).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <fstream>
#include <memory>
#include <vector>

#include "core/base/errors.hpp"

namespace ldae {

std::string file_digest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(fmt::format("{}: cannot be read to compute its digest", path));
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  XXH3_128bits_reset(state.get());
  std::vector<char> buf(1 << 20);
  while (f.read(buf.data(), std::streamsize(buf.size())) || f.gcount() > 0)
    XXH3_128bits_update(state.get(), buf.data(), size_t(f.gcount()));
  const XXH128_hash_t h = XXH3_128bits_digest(state.get());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

}  // namespace ldae
