#include "core/records/live_log.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <boost/crc.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/records/tb_event.pb.h"

namespace ldae {
namespace {

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string event_bytes(double time, int64_t step, const LiveValues* values) {
  tb::Event e;
  e.set_wall_time(time);
  e.set_step(step);
  if (!values) {
    e.set_file_version("brain.Event:2");  // what TensorBoard's readers expect first
  } else {
    for (const auto& [name, v] : *values) {
      auto* sv = e.mutable_summary()->add_value();
      sv->set_tag(name);
      sv->set_simple_value(float(v));
    }
  }
  return e.SerializeAsString();
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t n) {
  // CRC-32C (Castagnoli): polynomial 0x1EDC6F41, reflected, init and final xor all ones.
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, n);
  const uint32_t c = crc.checksum();
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& bytes) {
  const uint64_t n = bytes.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);  // little-endian hosts only (x86-64, aarch64)
  const uint32_t len_crc = masked_crc32c(out.data(), 8);
  out.append(reinterpret_cast<const char*>(&len_crc), 4);
  out += bytes;
  const uint32_t data_crc = masked_crc32c(bytes.data(), bytes.size());
  out.append(reinterpret_cast<const char*>(&data_crc), 4);
  return out;
}

LiveLog::LiveLog(const std::string& dir, bool enabled) : dir_(dir) {
  if (!enabled) return;
  jsonl_ = std::fopen((dir + "/metrics.jsonl").c_str(), "a");
  std::error_code ec;
  std::filesystem::create_directories(dir + "/tb", ec);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const double now = wall_time();
  const std::string tb = fmt::format("{}/tb/events.out.tfevents.{}.{}.{}", dir, int64_t(now), host, getpid());
  if (!ec) tb_ = std::fopen(tb.c_str(), "ab");
  if (tb_) {
    const auto rec = tfrecord_frame(event_bytes(now, 0, nullptr));
    if (std::fwrite(rec.data(), 1, rec.size(), tb_) != rec.size() || std::fflush(tb_) != 0) fail(tb);
  }
}

LiveLog::~LiveLog() {
  if (jsonl_) std::fclose(jsonl_);
  if (tb_) std::fclose(tb_);
}

void LiveLog::fail(const std::string& what) {
  if (warn_) warn_(fmt::format("live log stopped: writing {} failed ({}); metrics.h5 still records the run "
                               "(train.live_log = false turns the live log off)", what, std::strerror(errno)));
  if (jsonl_) std::fclose(jsonl_);
  if (tb_) std::fclose(tb_);
  jsonl_ = tb_ = nullptr;
}

LiveSink LiveLog::sink(std::function<void(const std::string&)> warn) {
  warn_ = std::move(warn);
  if (!jsonl_ && !tb_) return {};
  return [this](const std::string& phase, int64_t step, const LiveValues& values) { write(phase, step, values); };
}

void LiveLog::write(const std::string& phase, int64_t step, const LiveValues& values) {
  const double now = wall_time();
  if (jsonl_) {
    nlohmann::ordered_json j = {{"phase", phase}, {"step", step}, {"time", now}};
    for (const auto& [name, v] : values) j[name] = std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr;
    const std::string line = j.dump() + "\n";
    if (std::fwrite(line.data(), 1, line.size(), jsonl_) != line.size() || std::fflush(jsonl_) != 0)
      return fail(dir_ + "/metrics.jsonl");
  }
  if (tb_) {
    LiveValues tagged;
    for (const auto& [name, v] : values) tagged.emplace_back(phase + "/" + name, v);
    const auto rec = tfrecord_frame(event_bytes(now, step, &tagged));
    if (std::fwrite(rec.data(), 1, rec.size(), tb_) != rec.size() || std::fflush(tb_) != 0)
      return fail(dir_ + "/tb");
  }
}

}  // namespace ldae
