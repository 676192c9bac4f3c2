// FileLock: one holder at a time (two opens of one path conflict, as two
// processes' do), released early or with the object, a wait a stop request
// ends, and an error naming the path when the lock file cannot be made.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/base/errors.hpp"
#include "core/base/file_lock.hpp"
#include "core/base/filesystem.hpp"
#include "core/base/stop.hpp"
#include "tests/core/base/temp_dir.hpp"

using namespace ldae;
namespace fs = std::filesystem;

TEST(FileLock, OneHolderAtATimeAndAStopEndsTheWait) {
  const auto dir = fs::path(test::temp_dir("file-lock"));
  remove_tree(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "m.pt.lock").string();
  {
    FileLock a(path, "fix"), b(path, "fix");
    EXPECT_TRUE(a.try_lock());
    EXPECT_TRUE(a.try_lock());  // held: still true
    EXPECT_FALSE(b.try_lock());
    stop_flag() = true;
    try {
      b.wait("the wait for the test's holder");
      ADD_FAILURE() << "the wait went on past a stop request";
    } catch (const Interrupted& e) {
      EXPECT_STREQ(e.what(), "stopped during the wait for the test's holder");
    }
    stop_flag() = false;
    a.unlock();
    b.wait("the wait for the test's holder");  // free: taken at once
    EXPECT_FALSE(a.try_lock());
  }
  FileLock c(path, "fix");  // both destroyed: free again
  EXPECT_TRUE(c.try_lock());
  try {
    FileLock bad((dir / "no/such/folder/x.lock").string(), "give another --results folder");
    ADD_FAILURE() << "a lock file in a missing folder was made";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot create the lock file " + (dir / "no/such/folder/x.lock").string()), std::string::npos)
        << what;
    EXPECT_NE(what.find("; give another --results folder"), std::string::npos) << what;
  }
  remove_tree(dir);
}
