// Progress on a terminal (one redrawn line: bar, rate, loss, ETA) or plain
// periodic log lines when stderr is not a terminal (CI, nohup, Slurm).
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include <fmt/core.h>

namespace ldae {

class Progress {
 public:
  // `log` receives the plain lines (also written to the run's log.txt).
  Progress(std::string what, int64_t total, int64_t every, int64_t items_per_step,
           std::function<void(const std::string&)> log)
      : what_(std::move(what)), total_(total), every_(every), per_step_(items_per_step),
        log_(std::move(log)), tty_(isatty(STDERR_FILENO)), start_(clock::now()) {}

  void update(int64_t done, int64_t first, const std::string& extra) {
    const double secs = std::chrono::duration<double>(clock::now() - start_).count();
    const double rate = secs > 0 ? double(done - first) / secs : 0;  // steps/s
    const double eta = rate > 0 ? double(total_ - done) / rate : 0;
    const bool plain_due = done == total_ || (done % every_ == 0);
    if (tty_) {
      const int width = 24, fill = total_ ? int(width * done / total_) : width;
      std::fprintf(stderr, "\r%s [%s%s] %lld/%lld %.0f img/s %s ETA %s   ", what_.c_str(),
                   std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
                   (long long)done, (long long)total_, rate * per_step_, extra.c_str(),
                   clock_str(eta).c_str());
      if (done == total_) std::fprintf(stderr, "\n");
    }
    if (plain_due && log_)
      log_(fmt::format("{} step {}/{} {:.0f} img/s {} eta {}", what_, done, total_,
                       rate * per_step_, extra, clock_str(eta)));
    if (plain_due && !tty_)
      std::fprintf(stderr, "%s step %lld/%lld %.0f img/s %s eta %s\n", what_.c_str(),
                   (long long)done, (long long)total_, rate * per_step_, extra.c_str(),
                   clock_str(eta).c_str());
  }

  static std::string clock_str(double s) {
    int t = int(s + 0.5);
    return fmt::format("{}:{:02d}:{:02d}", t / 3600, (t / 60) % 60, t % 60);
  }

 private:
  using clock = std::chrono::steady_clock;
  std::string what_;
  int64_t total_, every_, per_step_;
  std::function<void(const std::string&)> log_;
  bool tty_;
  clock::time_point start_;
};

}  // namespace ldae
