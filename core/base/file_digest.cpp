#include "core/base/file_digest.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>
// libxxhash's header, inlined (XXH3 needs no library to link).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <fstream>
#include <memory>
#include <vector>

#include "core/base/errors.hpp"

namespace ldae {
namespace {

// An XXH3-128 stream: update with bytes, then its 32 hex digits.
class Xxh128 {
 public:
  Xxh128() : state_(XXH3_createState(), &XXH3_freeState) { XXH3_128bits_reset(state_.get()); }
  void update(const void* data, size_t n) { XXH3_128bits_update(state_.get(), data, n); }
  std::string hex() const {
    const XXH128_hash_t h = XXH3_128bits_digest(state_.get());
    return fmt::format("{:016x}{:016x}", h.high64, h.low64);
  }

 private:
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state_;
};

}  // namespace

std::string file_digest(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(fmt::format("{}: cannot be read to compute its digest", path));
  Xxh128 h;
  std::vector<char> buf(1 << 20);
  while (f.read(buf.data(), std::streamsize(buf.size())) || f.gcount() > 0) h.update(buf.data(), size_t(f.gcount()));
  return h.hex();
}

std::string tensors_digest(const NamedTensors& named) {
  Xxh128 h;
  for (const auto& [name, t] : named) {
    const auto host = t.detach().to(torch::kCPU).contiguous();
    const std::string head = fmt::format("{} {} [{}]\n", name, c10::toString(host.scalar_type()),
                                         fmt::join(host.sizes(), ","));
    h.update(head.data(), head.size());
    h.update(host.data_ptr(), host.nbytes());
  }
  return h.hex();
}

NamedTensors module_tensors(const torch::nn::Module& m, const std::string& prefix) {
  NamedTensors named;
  for (const auto& kv : m.named_parameters(true)) named.emplace_back(prefix + kv.key(), kv.value());
  for (const auto& kv : m.named_buffers(true)) named.emplace_back(prefix + kv.key(), kv.value());
  return named;
}

std::string module_digest(const torch::nn::Module& m) { return tensors_digest(module_tensors(m)); }

}  // namespace ldae
