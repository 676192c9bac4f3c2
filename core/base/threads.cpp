#include "core/base/threads.hpp"

#include <fmt/core.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "core/base/errors.hpp"

namespace ldae {

std::optional<int> omp_num_threads_env(const char* value) {
  if (!value || !*value) return std::nullopt;
  const std::string all(value);
  const std::string first = all.substr(0, all.find(','));
  const bool digits = !first.empty() && first.size() <= 4 &&
                      std::all_of(first.begin(), first.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int n = digits ? std::atoi(first.c_str()) : 0;
  if (n < 1 || n > 4096)
    throw InputError(fmt::format("environment variable OMP_NUM_THREADS = \"{}\": expected a whole number of "
                                 "threads from 1 to 4096 (e.g. OMP_NUM_THREADS=4); unset it to use the CPUs "
                                 "this process may run on, or pass --threads N",
                                 all));
  return n;
}

int default_threads() {
  if (auto n = omp_num_threads_env(std::getenv("OMP_NUM_THREADS"))) return *n;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace ldae
