#include "core/base/file_lock.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/base/errors.hpp"
#include "core/base/stop.hpp"

namespace ldae {

FileLock::FileLock(std::string path, const std::string& fix) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(fmt::format("cannot create the lock file {} ({}); {}", path_, std::strerror(errno), fix));
}

FileLock::~FileLock() { ::close(fd_); }

bool FileLock::try_lock() {
  if (!held_) held_ = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  return held_;
}

void FileLock::wait(const std::string& waiting_for) {
  while (!try_lock()) {
    check_stop(waiting_for.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void FileLock::unlock() {
  if (held_) ::flock(fd_, LOCK_UN);
  held_ = false;
}

}  // namespace ldae
