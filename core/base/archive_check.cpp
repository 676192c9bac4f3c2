#include "core/base/archive_check.hpp"

#include <caffe2/serialize/inline_container.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
// libxxhash's header, inlined (XXH3 needs no library to link).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <filesystem>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/base/errors.hpp"

namespace ldae {

void load_module_checked(torch::nn::Module& m, torch::serialize::InputArchive& ar, const std::string& path,
                         const std::string& what) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> want;
  for (const auto& kv : m.named_parameters(true)) want.emplace_back(kv.key(), kv.value().sizes().vec());
  for (const auto& kv : m.named_buffers(true)) want.emplace_back(kv.key(), kv.value().sizes().vec());
  m.load(ar);
  std::map<std::string, std::vector<int64_t>> got;
  for (const auto& kv : m.named_parameters(true)) got[kv.key()] = kv.value().sizes().vec();
  for (const auto& kv : m.named_buffers(true)) got[kv.key()] = kv.value().sizes().vec();
  for (const auto& [name, shape] : want)
    if (got[name] != shape)
      throw InputError(fmt::format("{}: {} holds '{}' of shape [{}], the run's model has [{}]", path, what, name,
                                   fmt::join(got[name], ", "), fmt::join(shape, ", ")));
}

std::string module_digest(const torch::nn::Module& m) {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  XXH3_128bits_reset(state.get());
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    const auto host = t.detach().to(torch::kCPU).contiguous();
    const std::string head = fmt::format("{} {} [{}]\n", name, c10::toString(host.scalar_type()),
                                         fmt::join(host.sizes(), ","));
    XXH3_128bits_update(state.get(), head.data(), head.size());
    XXH3_128bits_update(state.get(), host.data_ptr(), host.nbytes());
  };
  for (const auto& kv : m.named_parameters(true)) add(kv.key(), kv.value());
  for (const auto& kv : m.named_buffers(true)) add(kv.key(), kv.value());
  const XXH128_hash_t h = XXH3_128bits_digest(state.get());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

void check_archive(const std::string& path, const std::string& what) {
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(fmt::format("{}: {} cannot be read ({})", path, what, ec.message()));
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    for (const auto& name : reader.getAllRecords()) {
      const uint64_t declared = reader.getRecordSize(name);
      if (declared > file_bytes)
        throw InputError(fmt::format("{}: {} record '{}' declares {} bytes in a file of {}: the archive is damaged "
                                     "or not one this harness wrote; delete it (rerunning remakes it)",
                                     path, what, name, declared, file_bytes));
    }
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("{}: {} is not a readable archive ({}); delete it (rerunning remakes it)", path,
                                 what, first_sentence(e.what_without_backtrace())));
  }
}

}  // namespace ldae
