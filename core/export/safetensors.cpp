#include "core/export/safetensors.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <set>

#include "core/base/atomic_file.hpp"
#include "core/base/errors.hpp"

namespace ldae {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors stores little-endian bytes");

const std::vector<std::pair<torch::ScalarType, const char*>>& dtype_names() {
  static const std::vector<std::pair<torch::ScalarType, const char*>> names = {
      {torch::kFloat32, "F32"}, {torch::kFloat64, "F64"}, {torch::kBFloat16, "BF16"}, {torch::kFloat16, "F16"},
      {torch::kInt64, "I64"},   {torch::kInt32, "I32"},   {torch::kUInt8, "U8"},      {torch::kBool, "BOOL"}};
  return names;
}

const char* dtype_name(torch::ScalarType t, const std::string& name) {
  for (const auto& [type, text] : dtype_names())
    if (type == t) return text;
  throw InputError(fmt::format("safetensors: tensor '{}' has dtype {}, which is not written (F32, F64, BF16, "
                               "F16, I64, I32, U8, BOOL)", name, c10::toString(t)));
}

}  // namespace

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__" || !seen.insert(name).second)
      throw InputError(fmt::format("safetensors: {}: tensor name '{}' is empty, reserved or repeated", path, name));
    auto c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = uint64_t(c.numel()) * uint64_t(c.element_size());
    header[name] = {{"dtype", dtype_name(c.scalar_type(), name)},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-aligned
  const uint64_t n = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& c : data) out.append(static_cast<const char*>(c.data_ptr()), size_t(c.numel() * c.element_size()));
  write_text_atomically(path, out, out.size());
}

NamedTensors read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the safetensors file", path));
  in.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(in.tellg());
  in.seekg(0);
  uint64_t n = 0;
  if (size < 8 || !in.read(reinterpret_cast<char*>(&n), 8) || n > size - 8)
    throw InputError(fmt::format("{}: not a safetensors file (its header length {} exceeds the file's {} bytes)",
                                 path, n, size));
  std::string text(n, '\0');
  in.read(text.data(), std::streamsize(n));
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: the safetensors header is not JSON ({})", path, e.what()));
  }
  const uint64_t data_bytes = size - 8 - n;
  NamedTensors out;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (metadata)
        for (const auto& [k, s] : v.items()) (*metadata)[k] = s.get<std::string>();
      continue;
    }
    const auto dtype = v.at("dtype").get<std::string>();
    auto found = std::find_if(dtype_names().begin(), dtype_names().end(),
                              [&](const auto& p) { return dtype == p.second; });
    if (found == dtype_names().end())
      throw InputError(fmt::format("{}: tensor '{}' has dtype {}, which is not read", path, name, dtype));
    const auto shape = v.at("shape").get<std::vector<int64_t>>();
    const auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
    uint64_t numel = 1;
    for (int64_t s : shape) {
      if (s < 0 || (s > 0 && numel > data_bytes / uint64_t(s)))
        throw InputError(fmt::format("{}: tensor '{}' declares shape {} larger than the file", path, name, v["shape"].dump()));
      numel *= uint64_t(s);
    }
    const uint64_t bytes = numel * uint64_t(c10::elementSize(found->first));
    if (off.size() != 2 || off[0] > off[1] || off[1] > data_bytes || off[1] - off[0] != bytes)
      throw InputError(fmt::format("{}: tensor '{}' has data_offsets {} that disagree with its shape {} or lie "
                                   "outside the {} data bytes", path, name, v["data_offsets"].dump(),
                                   v["shape"].dump(), data_bytes));
    auto t = torch::empty(shape, torch::TensorOptions(found->first));
    in.seekg(std::streamoff(8 + n + off[0]));
    in.read(static_cast<char*>(t.data_ptr()), std::streamsize(bytes));
    if (!in) throw InputError(fmt::format("{}: tensor '{}' could not be read (file truncated?)", path, name));
    out.emplace_back(name, t);
  }
  return out;
}

}  // namespace ldae
