#include "core/records/module_h5.hpp"

#include <fmt/core.h>

#include "core/base/errors.hpp"

namespace ldae {

std::vector<float> to_f32(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<uint64_t> shape_of(const torch::Tensor& t) {
  std::vector<uint64_t> s;
  for (auto d : t.sizes()) s.push_back(uint64_t(d));
  if (s.empty()) s.push_back(1);  // scalars as (1,)
  return s;
}

void save_module(H5File& f, const std::string& prefix, const torch::nn::Module& m) {
  for (const auto& kv : m.named_parameters(/*recurse=*/true))
    f.write(prefix + "/" + kv.key(), to_f32(kv.value()), shape_of(kv.value()));
  for (const auto& kv : m.named_buffers(/*recurse=*/true))
    f.write(prefix + "/" + kv.key(), to_f32(kv.value()), shape_of(kv.value()));
}

void load_module(const H5File& f, const std::string& prefix, torch::nn::Module& m) {
  torch::NoGradGuard ng;
  auto load_one = [&](const std::string& name, torch::Tensor& t) {
    const std::string key = prefix + "/" + name;
    if (!f.has(key))
      throw InputError(fmt::format("{}: missing tensor '{}'; the file was written by another "
                                   "version or config; delete it to refit",
                                   f.path(), key));
    std::vector<uint64_t> shape;
    auto v = f.read_f32(key, &shape);
    if (shape != shape_of(t))
      throw InputError(fmt::format("{}: tensor '{}' has the wrong shape for this config; delete "
                                   "the file to refit",
                                   f.path(), key));
    t.copy_(torch::from_blob(v.data(), t.sizes(), torch::kFloat32).to(t.dtype()));
  };
  for (auto& kv : m.named_parameters(true)) load_one(kv.key(), kv.value());
  for (auto& kv : m.named_buffers(true)) load_one(kv.key(), kv.value());
}

}  // namespace ldae
