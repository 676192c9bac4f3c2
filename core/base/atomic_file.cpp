#include "core/base/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/errors.hpp"

namespace ldae {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kMargin = 16ull << 20;  // kept free beyond a file's size

std::string human(uint64_t b) {
  if (b == UINT64_MAX) return "unknown";
  if (b >= (1ull << 30)) return fmt::format("{:.1f} GiB", double(b) / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.1f} MiB", double(b) / double(1ull << 20));
  return fmt::format("{} KiB", (b + 1023) / 1024);
}

std::string host() {
  char h[HOST_NAME_MAX + 1] = {0};
  if (gethostname(h, sizeof h - 1) != 0) return "host";
  return h;
}

// Errors of the storage itself, as opposed to bugs or bad data.
bool storage_errno(int e) { return e == ENOSPC || e == EDQUOT || e == EROFS || e == EFBIG; }
bool storage_message(const std::string& m) {
  for (const char* s : {"No space left", "Disk quota", "Read-only file system", "File too large",
                        "disk is full", "out of space"})
    if (m.find(s) != std::string::npos) return true;
  return false;
}

// A folder this user may not write in: theirs to fix, not a bug (exit 2).
[[noreturn]] void not_writable(const std::string& path, const std::string& reason) {
  const std::string dir = fs::path(path).parent_path().string();
  throw InputError(fmt::format("{}: cannot write ({}): this user may not write in {}; make it writable or write "
                               "elsewhere (another --results folder, or --out where the command takes one)",
                               path, reason, dir.empty() ? "." : dir));
}

[[noreturn]] void storage_error(const std::string& path, const std::string& reason, uint64_t need) {
  const std::string dir = fs::path(path).parent_path().string();
  // A read-only file system is not fixed by freeing space.
  if (reason.find(std::strerror(EROFS)) != std::string::npos)  // "Read-only file system"
    throw InputError(fmt::format("{}: cannot write ({}): the file system holding {} is mounted read-only. Nothing "
                                 "was replaced: give a folder on a writable file system (the --results or --out "
                                 "folder) and rerun the same command",
                                 path, reason, dir.empty() ? "." : dir));
  throw InputError(fmt::format(
      "{}: cannot write ({}); {} available on the file system holding {}{}. Nothing was "
      "replaced: free space (or raise the quota / file size limit) and rerun the same "
      "command, or write elsewhere (another --results folder, or --out where the command takes one)",
      path, reason, human(free_bytes(dir)), dir.empty() ? "." : dir,
      need > 0 ? fmt::format(", about {} needed", human(need + kMargin)) : ""));
}

void fsync_checked(const std::string& p, bool folder) {
  const int fd = ::open(p.c_str(), folder ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) {
    if (folder) return;  // some file systems refuse to open folders: nothing to flush
    throw std::runtime_error(fmt::format("{}: {}", p, std::strerror(errno)));
  }
  const int rc = ::fsync(fd), e = errno;
  ::close(fd);
  // EINVAL: the file system does not flush (pipes, some FUSE); not an error.
  if (rc != 0 && e != EINVAL && !folder) {
    errno = e;
    throw std::system_error(e, std::generic_category(), "fsync " + p);
  }
}

}  // namespace

uint64_t free_bytes(const std::string& path) {
  fs::path p = path.empty() ? fs::path(".") : fs::path(path);
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
  if (p.empty()) p = ".";
  struct statvfs s{};
  if (statvfs(p.c_str(), &s) != 0) return UINT64_MAX;
  return uint64_t(s.f_bavail) * uint64_t(s.f_frsize);
}

std::string temp_name(const std::string& path) {
  static std::atomic<uint64_t> n{0};
  return fmt::format("{}.tmp.{}.{}.{}", path, host(), getpid(), n++);
}

size_t remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  size_t removed = 0;
  const std::string me = host();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const auto at = name.rfind(".tmp.");
    if (at == std::string::npos) continue;
    // "<host>.<pid>.<n>": the host may hold dots, pid and n do not.
    const std::string rest = name.substr(at + 5);
    const auto dot_n = rest.rfind('.');
    const auto dot_pid = dot_n == std::string::npos || dot_n == 0 ? std::string::npos : rest.rfind('.', dot_n - 1);
    if (dot_pid == std::string::npos || rest.substr(0, dot_pid) != me) continue;
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str() + dot_pid + 1, &end, 10);
    if (end != rest.c_str() + dot_n || pid <= 0) continue;
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    if (fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

void require_free_space(const std::string& dir, uint64_t bytes, const std::string& what) {
  const uint64_t avail = free_bytes(dir);
  if (avail != UINT64_MAX && avail < bytes + kMargin)
    throw InputError(fmt::format(
        "{}: not enough space for {} ({} needed with a {} margin, {} available); free space "
        "and rerun the same command (finished runs are kept), or write elsewhere (another --results folder, or "
        "--out where the command takes one)",
        dir, what, human(bytes), human(kMargin), human(avail)));
}

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& tmp)>& write,
                           uint64_t expected_bytes) {
  const std::string dir = fs::path(path).parent_path().string();
  std::error_code ec;
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec) {
      if (storage_errno(ec.value())) storage_error(path, ec.message(), expected_bytes);
      throw InputError(fmt::format("{}: cannot create the folder ({})", dir, ec.message()));
    }
  }
  // Read-only before full: the free-space check would otherwise speak first.
  if (::access(dir.empty() ? "." : dir.c_str(), W_OK) != 0) {
    const int err = errno;
    if (err == EROFS) storage_error(path, std::strerror(EROFS), expected_bytes);
    if (err == EACCES || err == EPERM) not_writable(path, std::strerror(err));
  }
  if (expected_bytes > 0) require_free_space(dir.empty() ? "." : dir, expected_bytes, path);
  if (fs::is_directory(path, ec))
    throw InputError(fmt::format("{}: cannot replace it: it is a folder, not a file; move it away and rerun", path));
  const std::string tmp = temp_name(path);
  try {
    write(tmp);
    fsync_checked(tmp, false);
    fs::rename(tmp, path);
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    // Streams and fsync report the errno; LibTorch and HDF5 report a full
    // disk in words, or not at all: a nearly full file system after a failed
    // write says the rest. Anything else is rethrown as it was.
    const auto* sys = dynamic_cast<const std::system_error*>(&e);
    if ((sys && storage_errno(sys->code().value())) || storage_message(e.what()) ||
        free_bytes(dir) < kMargin)
      storage_error(path, e.what(), expected_bytes);
    // A folder the user may not write in: theirs to fix, not a bug.
    if (sys && (sys->code().value() == EACCES || sys->code().value() == EPERM)) not_writable(path, e.what());
    // Any other error the system reported (an I/O error, too many open
    // files, the folder removed meanwhile): the environment, not a bug.
    if (sys)
      throw InputError(fmt::format("{}: cannot write ({}). Nothing was replaced: check the disk and the folder "
                                   "holding it, then rerun the same command", path, e.what()));
    throw;
  }
  fsync_checked(dir.empty() ? "." : dir, true);
}

void write_text_atomically(const std::string& path, const std::string& content,
                           uint64_t expected_bytes) {
  write_file_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::system_error(errno, std::generic_category(), "cannot create " + tmp);
    f << content;
    f.flush();
    if (!f) throw std::system_error(errno ? errno : EIO, std::generic_category(), "cannot write " + tmp);
    f.close();
    if (f.fail()) throw std::system_error(errno ? errno : EIO, std::generic_category(), "cannot close " + tmp);
  }, expected_bytes);
}

}  // namespace ldae
