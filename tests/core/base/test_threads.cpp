// default_threads and OMP_NUM_THREADS (core/base/threads.hpp): a program
// without --threads uses what the scheduler gave the process.
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "core/base/errors.hpp"
#include "core/base/threads.hpp"

using namespace ldae;

namespace {
// Sets OMP_NUM_THREADS for one test and restores what was there.
struct OmpEnv {
  std::optional<std::string> before;
  explicit OmpEnv(const char* value) {
    if (const char* v = std::getenv("OMP_NUM_THREADS")) before = v;
    if (value)
      setenv("OMP_NUM_THREADS", value, 1);
    else
      unsetenv("OMP_NUM_THREADS");
  }
  ~OmpEnv() {
    if (before)
      setenv("OMP_NUM_THREADS", before->c_str(), 1);
    else
      unsetenv("OMP_NUM_THREADS");
  }
};
}  // namespace

TEST(Threads, OmpNumThreadsIsReadAsOpenMpWritesIt) {
  EXPECT_EQ(omp_num_threads_env(nullptr), std::nullopt);
  EXPECT_EQ(omp_num_threads_env(""), std::nullopt);
  EXPECT_EQ(omp_num_threads_env("4"), 4);
  EXPECT_EQ(omp_num_threads_env("8,2"), 8);  // one count per nesting level: the outer one
  EXPECT_EQ(omp_num_threads_env("4096"), 4096);
}

TEST(Threads, ABadOmpNumThreadsIsAnInputErrorNamingIt) {
  for (const char* bad : {"0", "abc", "-1", "2.5", "4097", "99999", " 4", ",4"}) {
    try {
      omp_num_threads_env(bad);
      ADD_FAILURE() << "accepted OMP_NUM_THREADS=" << bad;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("OMP_NUM_THREADS = \"" + std::string(bad) + "\""), std::string::npos) << what;
      EXPECT_NE(what.find("--threads"), std::string::npos) << what;
    }
  }
}

TEST(Threads, TheDefaultIsOmpNumThreadsElseTheCpusThisProcessMayUse) {
  {
    const OmpEnv env("3");
    EXPECT_EQ(default_threads(), 3);
  }
  {
    const OmpEnv env(nullptr);
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    EXPECT_EQ(default_threads(), CPU_COUNT(&set));
    EXPECT_LE(default_threads(), int(std::max(1u, std::thread::hardware_concurrency())));
  }
  {
    const OmpEnv env("many");
    EXPECT_THROW(default_threads(), InputError);
  }
}

TEST(Threads, TheDefaultFollowsTheAffinityMask) {
  // As `taskset -c 0` or a Slurm binding to one CPU leaves it.
  const OmpEnv env(nullptr);
  cpu_set_t before, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &before)) first = c;
  ASSERT_GE(first, 0);
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  const int got = default_threads();
  ASSERT_EQ(sched_setaffinity(0, sizeof(before), &before), 0);
  EXPECT_EQ(got, 1);
}
