// safetensors files by the format's specification, and the encoder export's
// choice of tensors (Python reads both back: CTest python_ldae_package).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backbones/backbone.hpp"
#include "core/base/errors.hpp"
#include "core/export/encoder_export.hpp"
#include "core/export/safetensors.hpp"
#include "tests/core/base/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace ldae;

namespace {
std::string temp_dir(const char* name) {
  auto d = fs::path(test::temp_dir(name));
  return d.string();
}
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST(Safetensors, HeaderByTheSpecificationAndTensorsRoundTrip) {
  const auto d = temp_dir("st");
  auto a = torch::arange(6, torch::kFloat32).reshape({2, 3});
  auto b = torch::tensor({7, -8}, torch::kInt64);
  write_safetensors(d + "/x.safetensors", {{"a", a}, {"b", b}}, {{"run_id", "abc"}});
  const auto bytes = read_bytes(d + "/x.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);                        // the data starts 8-aligned
  EXPECT_EQ(bytes.size(), 8 + n + 6 * 4 + 2 * 8);  // header, then the raw bytes
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind(R"({"__metadata__":{"run_id":"abc"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                         R"("b":{"dtype":"I64","shape":[2],"data_offsets":[24,40]}})", 0), 0u) << header;
  float first;
  std::memcpy(&first, bytes.data() + 8 + n + 4, 4);
  EXPECT_EQ(first, 1.0f);  // little-endian float32, row-major
  std::map<std::string, std::string> meta;
  auto back = read_safetensors(d + "/x.safetensors", &meta);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "a");
  EXPECT_TRUE(torch::equal(back[0].second, a));
  EXPECT_TRUE(torch::equal(back[1].second, b));
  EXPECT_EQ(meta.at("run_id"), "abc");
  fs::remove_all(d);
}

TEST(Safetensors, AFileThatLiesIsRefusedBeforeAllocating) {
  const auto d = temp_dir("st_bad");
  write_safetensors(d + "/x.safetensors", {{"a", torch::ones({4})}});
  auto bytes = read_bytes(d + "/x.safetensors");
  // A header length beyond the file.
  auto huge = bytes;
  const uint64_t n = uint64_t(1) << 40;
  std::memcpy(huge.data(), &n, 8);
  std::ofstream(d + "/huge.safetensors", std::ios::binary) << huge;
  EXPECT_THROW(read_safetensors(d + "/huge.safetensors"), InputError);
  // A shape declaring more than its offsets (and the file) hold.
  auto lying = bytes;
  const auto at = lying.find("[4]");
  ASSERT_NE(at, std::string::npos);
  lying.replace(at, 3, "[9]");
  std::ofstream(d + "/lying.safetensors", std::ios::binary) << lying;
  try {
    read_safetensors(d + "/lying.safetensors");
    FAIL() << "a shape larger than its data was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("data_offsets"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_safetensors(d + "/dup.safetensors", {{"a", torch::ones({1})}, {"a", torch::ones({1})}}),
               InputError);
  fs::remove_all(d);
}

TEST(EncoderExport, TheTensorsReadAreThoseBeforeTheProbedBlock) {
  BackboneOptions o;
  o.in_dim = 4, o.grid_h = o.grid_w = 4, o.depth = 4, o.width = 16, o.heads = 2;
  auto model = make_backbone("dit", o);
  model->eval();
  const auto names = parameters_read(model, 2, 16, 4, 10);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("x_embedder.weight"));
  EXPECT_TRUE(has("t_embedder.0.weight"));
  EXPECT_TRUE(has("blocks.1.fc2.weight"));
  EXPECT_TRUE(has("pos_embed"));           // a buffer
  EXPECT_FALSE(has("blocks.2.qkv.weight"));  // after the probed block
  EXPECT_FALSE(has("final_linear.weight"));
  // Nothing is left requiring or holding gradients that did not before.
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
}
