// The one build: LibTorch 2.11 with CUDA compiled in, on every machine.
#include <gtest/gtest.h>

#include <regex>

#include "core/base/build_info.hpp"

using namespace ldae;

TEST(BuildInfo, LibTorchIsThePinnedRelease) {
  EXPECT_EQ(build_info().libtorch, "2.11.0");
}

// Fails on a CPU-only LibTorch: the harness's GPU path (device placement,
// NCCL) must be compiled and linked in every build, GPU or not.
TEST(BuildInfo, CudaIsCompiledIn) {
  const BuildInfo b = build_info();
  ASSERT_TRUE(b.cuda_compiled) << "libtorch_cuda is not linked: this is a CPU-only build";
  EXPECT_EQ(b.cuda, "13.0");
  EXPECT_TRUE(std::regex_match(b.cudnn, std::regex(R"(9\.\d+\.\d+)"))) << b.cudnn;
  EXPECT_TRUE(std::regex_match(b.nccl, std::regex(R"(2\.\d+\.\d+)"))) << b.nccl;
  EXPECT_TRUE(std::regex_match(b.cuda_toolkit, std::regex(R"(13\.\d)"))) << b.cuda_toolkit;
}

TEST(BuildInfo, CpuCapabilityIsOneOfLibTorchsLevels) {
  const std::string c = build_info().cpu_capability;
  EXPECT_TRUE(c == "DEFAULT" || c == "AVX2" || c == "AVX512" || c == "ZVECTOR" || c == "NO AVX") << c;
}

TEST(BuildInfo, VersionReportNamesEveryPart) {
  const std::string r = version_report("prog");
  for (const char* part : {"prog (l-DAE harness", "LibTorch  2.11.0", "CUDA      13.0", "cuDNN 9.",
                           "NCCL 2.", "CPU       ", "GPUs      ", "HDF5 1.", "SQLite 3.", "Eigen 3."})
    EXPECT_NE(r.find(part), std::string::npos) << part << " missing from:\n" << r;
  const std::string one = library_versions();
  EXPECT_EQ(one.rfind("libtorch 2.11.0 (CUDA 13.0, cuDNN 9.", 0), 0u) << one;
}
