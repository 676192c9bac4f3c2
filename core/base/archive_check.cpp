#include "core/base/archive_check.hpp"

#include <caffe2/serialize/inline_container.h>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <map>
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

std::string load_failure(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return first_sentence(c->what_without_backtrace());
  return first_sentence(e.what());
}

}  // namespace ldae
