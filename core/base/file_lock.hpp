// An exclusive flock(2) on a file, held by this object: released when it is
// destroyed, unlocked, or its process exits or dies, so a killed holder
// never leaves a lock behind. One process per run folder (RunLock), per
// trained model being trained, per prepared store.
#pragma once
#include <string>

namespace ldae {

class FileLock {
 public:
  // Opens (creates) the lock file at `path`. InputError naming it, and
  // `fix` (what to do: "the results root must be writable ..."), when it
  // cannot be created.
  FileLock(std::string path, const std::string& fix);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  // Takes the lock if it is free; false when another process holds it.
  bool try_lock();
  // Takes the lock, polling every 200 ms while another process holds it;
  // a stop request (Ctrl-C) ends the wait with Interrupted("stopped during
  // <waiting_for>").
  void wait(const std::string& waiting_for);
  // Releases the lock early (idempotent; the destructor releases it too).
  void unlock();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
};

// A run folder's lock (<dir>/.lock): one process per run, so a killed run is
// free to resume and a concurrent sweep leaves a held run alone.
class RunLock : public FileLock {
 public:
  explicit RunLock(const std::string& dir)
      : FileLock(dir + "/.lock", "the results root must be writable (give another --results folder)") {}
};

}  // namespace ldae
