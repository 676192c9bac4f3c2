// The live log: metrics.jsonl lines and TensorBoard's record framing (its
// reader parses the files in CTest python_ldae_package).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/records/live_log.hpp"
#include "tests/core/base/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace ldae;

TEST(LiveLog, Crc32cMaskAndFrameAsTensorBoardReadsThem) {
  // CRC-32C's check value (RFC 3720, B.4: "123456789" -> 0xE3069283), masked.
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(masked_crc32c("123456789", 9), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
  const auto frame = tfrecord_frame("abc");
  ASSERT_EQ(frame.size(), 8u + 4 + 3 + 4);
  uint64_t n = 0;
  std::memcpy(&n, frame.data(), 8);
  EXPECT_EQ(n, 3u);
  uint32_t c = 0;
  std::memcpy(&c, frame.data() + 8, 4);
  EXPECT_EQ(c, masked_crc32c(frame.data(), 8));
  std::memcpy(&c, frame.data() + 15, 4);
  EXPECT_EQ(c, masked_crc32c("abc", 3));
}

TEST(LiveLog, OneJsonLinePerPointFlushedAsWrittenAndOffByTheKey) {
  const auto d = test::temp_dir("live");
  {
    LiveLog live(d, true);
    auto sink = live.sink({});
    ASSERT_TRUE(bool(sink));
    sink("train", 50, {{"loss", 0.25}, {"lr", 1e-4}});
    // Flushed: readable while the run goes on.
    std::ifstream in(d + "/metrics.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line.rfind(R"({"phase":"train","step":50,"time":)", 0), 0u) << line;
    EXPECT_NE(line.find(R"("loss":0.25,"lr":0.0001})"), std::string::npos) << line;
    EXPECT_EQ(std::distance(fs::directory_iterator(d + "/tb"), fs::directory_iterator()), 1);
  }
  const auto e = (d + "/off");
  fs::create_directories(e);
  LiveLog off(e, false);
  EXPECT_FALSE(bool(off.sink({})));
  EXPECT_FALSE(fs::exists(e + "/metrics.jsonl"));
  fs::remove_all(d);
}
