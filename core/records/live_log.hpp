// Metrics while a run trains: RUN/metrics.jsonl, one JSON object per line
// ({"phase": "train", "step": 50, "time": 1733466000.1, "loss": ..., "lr":
// ..., "images_per_s": ...}; "probe" and "finetune" lines per epoch), flushed
// as each is written, so `tail -f` and pandas.read_json(path, lines=True)
// follow a running job; and TensorBoard event files in RUN/tb/ with the same
// values as scalars "PHASE/NAME", so `tensorboard --logdir results/runs`
// shows every run live and `wandb sync --sync-tensorboard` uploads them.
// metrics.h5 remains the record; this is the view while it is being made.
// A resumed run appends: a step logged before the stop may appear twice.
// Turned off by train.live_log = false.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ldae {

using LiveValues = std::vector<std::pair<std::string, double>>;
// What the training loops call with each logged point: phase ("train",
// "probe", "finetune"), step (optimizer steps; epochs for the probes) and
// the named values. Empty: nothing is written.
using LiveSink = std::function<void(const std::string& phase, int64_t step, const LiveValues& values)>;

// TensorBoard's record framing (TFRecord): length (uint64 LE), masked
// CRC-32C of the length, the bytes, masked CRC-32C of the bytes; the mask
// is ((crc >> 15) | (crc << 17)) + 0xa282ead8. CRC-32C by Boost.CRC.
std::string tfrecord_frame(const std::string& bytes);
uint32_t masked_crc32c(const void* data, size_t n);

class LiveLog {
 public:
  // Opens DIR/metrics.jsonl (append) and a new DIR/tb/events.out.tfevents.
  // <seconds>.<host>.<pid> file when `enabled`; otherwise does nothing.
  LiveLog(const std::string& dir, bool enabled);
  ~LiveLog();
  LiveLog(const LiveLog&) = delete;
  LiveLog& operator=(const LiveLog&) = delete;
  // A sink writing to this log (empty when disabled). A write that fails (a
  // full disk) is reported once through `warn` and the live log stops; the
  // run and its records go on.
  LiveSink sink(std::function<void(const std::string&)> warn);
  void write(const std::string& phase, int64_t step, const LiveValues& values);

 private:
  void fail(const std::string& what);
  FILE* jsonl_ = nullptr;
  FILE* tb_ = nullptr;
  std::string dir_;
  std::function<void(const std::string&)> warn_;
};

}  // namespace ldae
